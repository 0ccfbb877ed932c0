"""DPO (tối ưu hóa sở thích trực tiếp, notebook 10): notebook 06's KL-regularised objective solved in closed form
and fitted to preference pairs (Rafailov et al., 2023). No reward model in the loss, no value head, no RL.

    for each iteration:
        sample batch_size completions of the prompt pool and log them as a PPO run logs its rollout
        (online DPO: batch_size / 2 prompts × 2 completions, the reward model picks each pair's chosen one)
        → ppo_epochs × shuffled minibatches of  loss = −log σ(β·[(log π − log π_ref)(y_w) − (log π − log π_ref)(y_l)])
          on batch_size / 2 pairs, minibatch_size / 2 pairs a step

So an iteration takes as many optimiser steps, each on as many sequences, as a PPO iteration, and its history
has the same names (plus TRL's `rewards/*` and `logps/*`): `lab.plots.curves` overlays DPO and PPO runs.
Log-probs of a completion are sums over its valid tokens at temperature 1, as TRL's DPOTrainer computes them.
"""
from __future__ import annotations

import time

import torch

from ..config import ConfigError, PPOConfig
from ..maths import losses, preference
from ..world.models import Models, load_models
from .checks import check_arguments, check_finite
from .loop import (
    Run,
    RunStopped,
    draw_prompts,
    functions,
    log_iteration,
    progress_bar,
    ready_to_start,
    run_loop,
    seed_everything,
)
from .metrics import judge, rollout_stats
from .optim import adam
from .preference_pairs import (
    Pairs,
    PairStream,
    checked_rows,
    encode_pairs,
    eval_config,
    human_pairs,
    pair_config,
    pairs_from_rollout,
    policy_pairs,
)
from .rollout import Rollout, position_ids, positive_threshold, reward_scores, rollout

# the pure functions DPO calls; `train_dpo(..., overrides=...)` may swap them (a learner's own, notebook 10)
DPO_FUNCTIONS = {"dpo_loss": preference.dpo_loss, "sequence_logps": preference.sequence_logps}


# ====================================================================== the loss on a minibatch
def pair_logps(lm, pairs: Pairs, fns: dict = DPO_FUNCTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y_w | x) and log π(y_l | x) (N,) each: chosen and rejected in one forward pass (2N rows)."""
    prompt_ids, prompt_mask = pairs.prompt_ids.repeat(2, 1), pairs.prompt_mask.repeat(2, 1)     # (2N, P)
    response = torch.cat([pairs.chosen, pairs.rejected]).to(prompt_ids.device)                  # (2N, L)
    mask = torch.cat([pairs.chosen_mask, pairs.rejected_mask]).to(prompt_ids.device)            # (2N, L)
    ids = torch.cat([prompt_ids, response], dim=1)                                              # (2N, P + L)
    attention = torch.cat([prompt_mask, mask.to(prompt_mask.dtype)], dim=1)                     # (2N, P + L)
    T, L = ids.shape[1], response.shape[1]
    logits = lm(input_ids=ids, attention_mask=attention, position_ids=position_ids(attention),   # the L positions
                logits_to_keep=torch.arange(T - L - 1, T - 1), use_cache=False).logits          # (2N, L, V)
    logps = fns["sequence_logps"](losses.logprobs_from_logits(logits, response), mask)          # (2N,)
    return logps[:len(pairs)], logps[len(pairs):]


@torch.inference_mode()
def reference_logps(models: Models, pairs: Pairs, fns: dict = DPO_FUNCTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """log π_ref(y_w | x), log π_ref(y_l | x) (N,): the frozen reference, once per pair set."""
    return pair_logps(models.ref, pairs, fns)


def dpo_step(models: Models, optimizer, pairs: Pairs, ref: tuple, idx, config: PPOConfig, fns: dict) -> dict:
    """One minibatch: the DPO loss on the pairs `idx`, backprop, gradient clipping, Adam."""
    chosen, rejected = pair_logps(models.policy.lm, pairs.take(idx), fns)                      # (n,), (n,)
    loss, stats = fns["dpo_loss"](chosen, rejected, ref[0][idx], ref[1][idx], config.dpo_beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(models.policy.lm.parameters(), config.max_grad_norm)
    check_finite({"loss/dpo": loss, "grad_norm": grad_norm})
    optimizer.step()
    return {**stats, "loss/dpo": loss.item(), "grad_norm": grad_norm.item(),
            "logps/chosen": chosen.mean().item(), "logps/rejected": rejected.mean().item()}


# ====================================================================== the loop
def dpo_iteration(models: Models, optimizer, pool: list[str], source, config: PPOConfig, generator, fns: dict,
                  it: int, threshold: float, tick=lambda: None) -> tuple[Rollout, dict, Pairs]:
    """Sample and log (online: make the pairs), then ppo_epochs × minibatches of the DPO loss.

    `source`: a `PairStream` (offline pairs) or the last online `Pairs` (None before the first).
    Returns the rollout, the iteration's metrics and the pairs it trained on. `time/iteration` counts what
    training needs: online, the sampling and the pairs' reference pass and steps; offline, only the latter (the
    rollout is there for the logs). Judging for the logs (the reward model is judge either way, VADER) is left out
    of both, as PPO's `time/iteration` leaves out VADER.
    """
    t0 = time.perf_counter()
    online = not isinstance(source, PairStream)
    settings = pair_config(config) if online else eval_config(config)
    batch = rollout(models, draw_prompts(pool, settings, generator), settings)                  # as PPO's Phase I
    t_sampled = time.perf_counter()
    batch.gold = judge(batch)
    logging = time.perf_counter() - (t_sampled if online else t0)   # VADER's judging, and offline the rollout
    if online:
        pairs = pairs_from_rollout(batch) if it % config.dpo_online_every == 0 or source is None else source
        if len(pairs) == 0:
            raise RunStopped(all_tied(len(batch.prompts) // 2, config))
    else:
        pairs = source.next(config.batch_size // 2)
    ref = reference_logps(models, pairs, fns)
    t1 = time.perf_counter()
    tick()
    steps, mb = [], config.minibatch_size // 2
    for _ in range(config.ppo_epochs):
        order = torch.randperm(len(pairs), generator=generator)
        steps += [dpo_step(models, optimizer, pairs, ref, order[s:s + mb], config, fns)
                  for s in range(0, len(pairs), mb)]
        tick()
    kl = losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator)          # (B, L)
    t2 = time.perf_counter()
    stats = rollout_stats(batch, kl, threshold) | step_means(steps) | {
        "time/rollout": t1 - t0, "time/update": t2 - t1, "time/iteration": t2 - t0 - logging}
    return batch, stats, pairs


def step_means(steps: list[dict]) -> dict:
    """The minibatches' DPO stats, averaged (TRL's names; `loss/dpo_avg` and `val/grad_norm` as PPO logs them)."""
    if not steps:                      # every online pair was a tie: nothing to learn from this iteration
        return {}
    mean = lambda key: sum(s[key] for s in steps) / len(steps)
    names = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
             "logps/rejected")
    return {**{k: mean(k) for k in names}, "loss/dpo_avg": mean("loss/dpo"), "val/grad_norm": mean("grad_norm")}


def train_dpo(config: PPOConfig | None = None, pairs=None, models: Models | None = None, *,
              prompts: list[str] | None = None, overrides: dict | None = None, progress: bool = True) -> Run:
    """Align the policy with DPO for `config.iterations` iterations; returns the `Run` (history names as PPO's).

    `pairs`: None (the source `config.dpo_pairs` names), a source name ("human", "policy", "online"), or your own
    pairs in TRL's formats (rows {"prompt", "chosen", "rejected"}, triples, or a dict of those three columns).
    `overrides` swaps `dpo_loss` or `sequence_logps` for this run. A NaN/inf stops the run and restores the last
    good weights; Ctrl-C returns the run up to the last completed iteration.
    """
    config, rows = resolve_pairs(PPOConfig() if config is None else config, pairs)
    models, fns, generator, pool = prepare_dpo(config, models, prompts, overrides)
    optimizer = adam(models.policy.lm.parameters(), config.learning_rate, eps=1e-5)
    run, threshold = Run(config, models, method="dpo"), positive_threshold(models.reward_model)
    bar = progress_bar(config, "DPO", 0, progress)
    state = {}                                      # the pair source: offline pairs, or the last online pairs

    def one_iteration(it: int, keep) -> None:
        preparing = 0.0                             # making the offline pairs: counted in iteration 0
        if it == 0:
            t0 = time.perf_counter()
            state["source"] = pair_source(config, rows, models, pool, generator, progress)
            preparing = time.perf_counter() - t0
        batch, stats, pairs_used = dpo_iteration(models, optimizer, pool, state["source"], config, generator, fns,
                                                 it, threshold)
        stats["time/iteration"] += preparing
        check_finite(stats)
        state["source"] = state["source"] if isinstance(state["source"], PairStream) else pairs_used
        keep()
        log_iteration(run, batch, stats, it, threshold, bar)

    return run_loop(run, bar, one_iteration, overrides=overrides)


def all_tied(n: int, config: PPOConfig) -> str:
    """Why a pair source gave no pair: every pair's two completions got the same score."""
    return (f"all {n} pairs of the policy's completions tie under reward_model={config.reward_model!r} (both "
            "completions of each got the same score), so none prefers one side and DPO has nothing to learn from; "
            "valid: a reward model that ranks completions (e.g. reward_model='tiny-reward'), or dpo_pairs='human'")


def resolve_pairs(config: PPOConfig, pairs) -> tuple[PPOConfig, list | None]:
    """(config with `dpo_pairs` set to the source used, your checked pairs or None); ConfigError on a bad source,
    an odd batch or minibatch size (a pair is two completions)."""
    check_arguments(config, None)
    if config.dynamic_sampling > 1:     # DPO's rollouts are pairs (G = 2) or single completions (G = 1), not groups
        raise ConfigError(f"dynamic_sampling={config.dynamic_sampling}: DPO makes its own rollouts (pairs of two "
                          "completions, and one completion a prompt for its logs: it sets group_size to 2 and 1), so "
                          "there are no groups to filter; valid: dynamic_sampling=1 with DPO")
    for name in ("batch_size", "minibatch_size"):
        value = getattr(config, name)
        if value % 2:
            raise ConfigError(f"{name}={value} is odd: DPO trains on {name} / 2 pairs (two completions each); "
                              f"valid: an even {name}, e.g. {value + 1}")
    if pairs is None or isinstance(pairs, str):
        return (config if pairs is None else config.replace(dpo_pairs=pairs)), None
    if config.dpo_pairs == "online":
        raise ConfigError("pairs: your own pairs are offline data, but dpo_pairs='online' makes new pairs from the "
                          "policy; valid: dpo_pairs='human' (or 'policy') with your pairs, or pairs=None")
    return config, checked_rows(pairs)


def prepare_dpo(config: PPOConfig, models: Models | None, prompts, overrides: dict | None):
    """Before the first iteration: the functions (yours where you swapped them), the seeds, the models and the
    prompt pool."""
    if models is not None:
        check_arguments(config, models)
    fns = functions(DPO_FUNCTIONS, overrides, "DPO")
    generator = seed_everything(config.seed)
    models = models or load_models(config)
    return models, fns, generator, ready_to_start(models, config, prompts)


def pair_source(config: PPOConfig, rows, models: Models, pool, generator, progress: bool):
    """A `PairStream` over the offline pairs (yours, the human ones or the starting policy's), or None (online)."""
    if rows is not None:
        return PairStream(encode_pairs(models.tokenizer, rows, config), generator)
    if config.dpo_pairs == "human":
        return PairStream(human_pairs(models.tokenizer, config), generator)
    if config.dpo_pairs == "policy":
        n = config.iterations * config.batch_size // 2               # as many pairs as the run trains on
        pairs = policy_pairs(models, pool, config, generator, n, progress)
        if len(pairs) == 0:
            raise RunStopped(all_tied(n, config))
        return PairStream(pairs, generator)
    return None


def pair_rows(models: Models, config: PPOConfig, prompts: list[str], seed: int = 0) -> list[dict]:
    """Policy pairs to read: each prompt completed twice by the policy, the reward model's higher score chosen
    (as `pairs_from_rollout` makes them; end-of-text shown as ∎). Rows of prompt, chosen, rejected, scores."""
    seed_everything(seed)
    settings = pair_config(config).replace(batch_size=2 * len(prompts), minibatch_size=2)
    batch = rollout(models, list(prompts), settings)
    rows = []
    for i in range(0, len(batch.prompts), 2):
        win, lose = (i, i + 1) if batch.scores[i] >= batch.scores[i + 1] else (i + 1, i)
        rows.append({"prompt": batch.prompts[i], "chosen": batch.readable_completions[win],
                     "chosen score": batch.scores[win].item(), "rejected": batch.readable_completions[lose],
                     "rejected score": batch.scores[lose].item()})
    return rows


# ====================================================================== the implicit reward model
@torch.inference_mode()
def batched_logps(lm, pairs: Pairs, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """`pair_logps` of a large pair set, `batch` pairs at a time: log π(y_w | x), log π(y_l | x) (N,) each."""
    starts = range(0, len(pairs), batch)
    parts = [pair_logps(lm, pairs.take(torch.arange(s, min(s + batch, len(pairs))))) for s in starts]
    return torch.cat([c for c, _ in parts]), torch.cat([r for _, r in parts])


def implicit_rewards(models: Models, pairs: Pairs, beta: float, reference: tuple | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO's implicit reward β·(log π(y|x) − log π_ref(y|x)) of every chosen and rejected completion (N,) each.
    `reference`: the reference's `batched_logps(models.ref, pairs)`, when several policies share it."""
    chosen, rejected = batched_logps(models.policy.lm, pairs)
    ref_chosen, ref_rejected = reference if reference is not None else batched_logps(models.ref, pairs)
    return beta * (chosen - ref_chosen), beta * (rejected - ref_rejected)


def implicit_rewards_of_runs(groups: dict[str, list], models: Models, pairs: Pairs, beta: float = 1.0
                             ) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """`implicit_rewards` of every trained run's policy on the same pairs, the reference's log-probs computed
    once: {group: [(chosen, rejected) per run]}, (N,) each. β = 1 gives log π − log π_ref itself."""
    reference = batched_logps(models.ref, pairs)
    return {name: [implicit_rewards(run.models, pairs, beta, reference) for run in runs]
            for name, runs in groups.items()}


def implicit_reward_accuracy(models: Models, pairs: Pairs, beta: float) -> float:
    """The fraction of pairs whose chosen completion gets the higher implicit reward (ties count as wrong); β
    scales the implicit reward and never changes which completion it prefers."""
    chosen, rejected = implicit_rewards(models, pairs, beta)
    return (chosen > rejected).float().mean().item()


@torch.inference_mode()
def reward_model_accuracy(models: Models, pairs: Pairs, batch: int = 64) -> float:
    """The same fraction for the trained reward model: its score of prompt + chosen above prompt + rejected."""
    right = []
    for start in range(0, len(pairs), batch):
        part = pairs.take(torch.arange(start, min(start + batch, len(pairs))))
        scores = [score_completions(models, part.prompt_ids, part.prompt_mask, c, m)
                  for c, m in ((part.chosen, part.chosen_mask), (part.rejected, part.rejected_mask))]
        right.append(scores[0] > scores[1])
    return torch.cat(right).float().mean().item()


def score_completions(models: Models, prompt_ids, prompt_mask, completion, mask) -> torch.Tensor:
    """The reward model's score of each prompt + completion (N,)."""
    ids = torch.cat([prompt_ids, completion], dim=1)
    attention = torch.cat([prompt_mask, mask.to(prompt_mask.dtype)], dim=1)
    texts = models.tokenizer.batch_decode(torch.where(attention.bool(), ids, models.tokenizer.pad_token_id),
                                          skip_special_tokens=True)
    return reward_scores(models.reward_model, models.reward_tokenizer, models.tokenizer, ids, attention, texts)


__all__ = ["batched_logps", "DPO_FUNCTIONS", "dpo_iteration", "dpo_step", "implicit_reward_accuracy",
           "implicit_rewards", "implicit_rewards_of_runs", "pair_logps", "pair_rows", "pair_source", "prepare_dpo",
           "reference_logps", "resolve_pairs", "reward_model_accuracy", "score_completions", "step_means", "train_dpo"]
