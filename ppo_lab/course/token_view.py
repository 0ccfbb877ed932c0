"""The token-level inspector (notebook 07): real completions, each token coloured by one quantity.

    lab.show_tokens(run, by="ratio")        # π_θ/π_old after an update, token by token
    lab.show_tokens(run, by="advantage")    # also "kl" (to the reference) and "value"

Where the dashboard averages a whole batch into one number, this shows which tokens carry it.
"""
from __future__ import annotations

import copy
import dataclasses

import torch

from ..config import ConfigError, PPOConfig
from ..rl.checks import plural, prompt_pool
from ..rl.experiments import inspect_rollout
from ..rl.loop import Run
from ..rl.rollout import response_logprobs, token_texts
from ..rl.update import PPO_FUNCTIONS, ppo_step
from ..world.models import Models
from .plots import token_heatmap

BY = {  # by → (key in the inspected batch, colour-bar label)
    "ratio": ("ratio_minus_1", "ratio − 1 = π_θ / π_old − 1"),
    "advantage": ("advantages", "advantage A_t (as Phase II uses it)"),
    "kl": ("kl", "KL to the reference per token (nats, k1)"),
    "value": ("values", "value V(s_t) (reward units)"),
}


def ratio_after_update(models: Models, config: PPOConfig, inspected: dict, updates: int) -> torch.Tensor:
    """r_t = exp(log π_θ − log π_old) on the inspected tokens after `updates` Adam steps of the engine.

    π_old sampled the batch; π_θ is a copy of the policy after `updates` calls of `update.ppo_step`
    on the whole batch (one minibatch, a fresh Adam). A fresh Adam's first steps move every weight by about
    the learning rate, so these ratios move further than training's (whose Adam state carries over): read
    their direction. `updates=0` recomputes π_old on the same tokens: exactly 1 everywhere, unless
    something random (dropout) is switched on.
    """
    batch = inspected["batch"]
    policy_models = dataclasses.replace(models, policy=copy.deepcopy(models.policy))  # the caller's stays
    optimizer = torch.optim.Adam(policy_models.policy.parameters(), lr=config.learning_rate, eps=1e-5)
    everything = torch.arange(len(batch.prompts))                                       # (B,)
    for _ in range(updates):
        ppo_step(policy_models, optimizer, batch, everything, inspected["advantages"], inspected["returns"],
                 config, PPO_FUNCTIONS)
    with torch.no_grad():
        _, logprobs, _ = response_logprobs(policy_models.policy, batch.ids, batch.attention_mask, batch.response,
                                           config)                                      # (B, L)
    return torch.exp(logprobs - batch.logprobs)                                         # (B, L)


def token_stats(models: Models, config: PPOConfig, prompts: list[str] | None = None, n: int = 6, seed: int = 0,
                updates: int | None = None) -> dict:
    """`experiments.inspect_rollout` of `n` prompts, plus each token's ratio after an update.

    Adds "ratio" and "ratio_minus_1" (B, L) to the inspected batch; `updates` defaults to `config.ppo_epochs`.
    Its "tokens" show end-of-text as ∎ (`rollout.END_MARK`).
    """
    prompts = list(prompts) if prompts is not None else prompt_pool(models.tokenizer, config)[:n]
    inspected = inspect_rollout(models, config, prompts, seed)
    updates = config.ppo_epochs if updates is None else updates
    if not isinstance(updates, int) or updates < 0:
        raise ConfigError(f"updates={updates!r} must be a whole number ≥ 0 (0: π_old against itself)")
    ratio = ratio_after_update(models, config, inspected, updates)
    tokens = token_texts(inspected["batch"].response, models.tokenizer)
    return {**inspected, "tokens": tokens, "ratio": ratio, "ratio_minus_1": ratio - 1.0, "updates": updates}


def show_tokens(run_or_batch, by: str = "ratio", prompts: list[str] | None = None, n: int = 6, seed: int = 0,
                updates: int | None = None, config: PPOConfig | None = None, title: str | None = None):
    """Colour every token of real completions by its ratio, advantage, KL or value; returns the figure.

    `run_or_batch`: a finished `Run` (its models and config), `Models` (with `config`, default
    `PPOConfig()`), or a dict from `token_stats` to draw again without recomputing.
    """
    if by not in BY:
        raise ConfigError(f"by={by!r} is not a token quantity; valid: {sorted(BY)}")
    if isinstance(run_or_batch, dict) and "batch" in run_or_batch:
        stats = run_or_batch
    elif isinstance(run_or_batch, Run):
        stats = token_stats(run_or_batch.models, config or run_or_batch.config, prompts, n, seed, updates)
    elif isinstance(run_or_batch, Models):
        stats = token_stats(run_or_batch, config or PPOConfig(), prompts, n, seed, updates)
    else:
        raise TypeError(f"show_tokens: expected a Run, Models or a dict from token_stats, got "
                        f"{type(run_or_batch).__name__}")
    key, label = BY[by]
    if key not in stats:
        raise ConfigError(f"by={by!r}: this batch has no {key!r}; make it with lab.course.token_view.token_stats")
    if title is None:
        after = f" after {plural(stats['updates'], 'update')}" if by == "ratio" else ""
        title = f"{label.split(' =')[0].split(' (')[0]} of every response token{after}"
    return token_heatmap(stats["tokens"], stats[key].detach().float().numpy(), title, label, stats["batch"].prompts,
                         floor=-1.0 if by == "ratio" else None)                # a ratio is ≥ 0: ratio − 1 ≥ −1


__all__ = ["BY", "ratio_after_update", "show_tokens", "token_stats"]
