"""Runs over seeds and settings (the notebooks' live ablations), and before/after comparisons."""
from __future__ import annotations

import torch

from . import cache
from .config import PPOConfig
from .models import Models, load_models
from .rollout import encode_prompts, positive_threshold, reward_scores, sample
from .rollout import rollout as rollout_batch
from .trainer import Run


def over_seeds(config: PPOConfig, seeds=(0, 1), models: Models | None = None, use_cache: bool = True,
               **train_kwargs) -> list[Run]:
    """The same config trained once per seed, each from a fresh copy of the starting models.

    Finished runs come from the run cache when an identical one was trained before (`ppo_lab.cache`;
    `use_cache=False` or `PPO_LAB_CACHE=off` always trains).
    """
    base = models or load_models(config)
    start = cache.weights_checksum(base) if use_cache and cache.cache_dir() else None
    return [cache.cached_train(config.replace(seed=s), base, use_cache=use_cache, starting_weights=start,
                               **train_kwargs) for s in seeds]


def ablation(config: PPOConfig, field: str, values, seeds=(0, 1), use_cache: bool = True,
             **train_kwargs) -> dict[str, list[Run]]:
    """One group of runs per value of a config field: {"field=value": [runs over seeds]}."""
    base = load_models(config)
    return {f"{field}={v}": over_seeds(config.replace(**{field: v}), seeds, base, use_cache, **train_kwargs)
            for v in values}


@torch.inference_mode()
def before_after(run: Run, prompts: list[str], seed: int = 0) -> list[dict]:
    """The same prompts completed by the starting model (the frozen reference) and by the aligned policy."""
    m, cfg = run.models, run.config
    rows = [{"prompt": p} for p in prompts]
    for name, lm in (("before", m.ref), ("after", m.policy.lm)):
        torch.manual_seed(seed)
        texts, _ = sample(lm, m.tokenizer, prompts, cfg.response_length, cfg.temperature)
        full = [p + t for p, t in zip(prompts, texts)]
        ids, mask = encode_prompts(m.tokenizer, full, lm.device)
        scores = reward_scores(m.reward_model, m.reward_tokenizer, m.tokenizer, ids, mask, full)
        for row, text, score in zip(rows, texts, scores.tolist()):
            row[name], row[f"{name}_score"] = text, round(score, 2)
    threshold = positive_threshold(m.reward_model)
    for row in rows:
        row["flipped"] = row["before_score"] <= threshold < row["after_score"]
    return rows


def inspect_rollout(models: Models, config: PPOConfig, prompts: list[str], seed: int = 0) -> dict:
    """One Phase I batch with its per-token rewards, values, advantages and returns, for plots.

    Tokens come back as strings, one list per completion; tensors are (B, L).
    """
    from . import trainer

    torch.manual_seed(seed)
    batch = rollout_batch(models, prompts, config)
    r, advantages, returns, kl = trainer.rewards_and_advantages(batch, config, config.kl_coef, trainer.ENGINE_FUNCTIONS)
    tokens = [[models.tokenizer.decode([t]) for t in row] for row in batch.response.tolist()]
    return {"batch": batch, "tokens": tokens, "rewards": r, "values": batch.values, "advantages": advantages,
            "returns": returns, "kl": kl}
