"""The PPO cycle (notebook 00): Phase I rollouts, Phase II updates, repeat.

    for each iteration:
        rollout  → rewards (score + KL penalty) → advantages (GAE, whitened; or critic-free: notebook 09)
        → ppo_epochs × shuffled minibatches of  L = L_clip − c1·L_VF + c2·S  → log → adapt β

The algorithm lives in `rewards_and_advantages`, `critic_free_advantages`, `iteration` and the loop of
`train`, with one minibatch's step (`loss_terms`, `ppo_step`) in `update.py`; the plumbing PPO shares with DPO
(the run, seeds, progress, the NaN and Ctrl-C guard, checkpoints) is in `loop.py`, the checks in `checks.py` and
the logged metrics in `metrics.py`.
"""
from __future__ import annotations

import sys
import time

import torch

from ..config import PPOConfig, inert_settings
from ..maths import advantages as adv_lib, kl_penalty
from ..world.models import Models, load_models
from .checks import check_arguments, check_finite, check_overrides, check_weights
from .loop import (
    Run,
    draw_prompts,
    functions,
    log_iteration,
    phase_ticker,
    progress_bar,
    ready_to_start,
    resume_point,
    run_loop,
    save_state,
    seed_everything,
)
from .metrics import gold_model_stats, held_out_stats, judge, summarise, zero_std_groups
from .optim import adam
from .rollout import Rollout, positive_threshold, rollout
from .update import PPO_FUNCTIONS, ppo_step


# ====================================================================== the algorithm
def rewards_and_advantages(batch: Rollout, config: PPOConfig, kl_coef: float, fns: dict):
    """r_t = −β·KL_t (+ score at the end), then the advantages: GAE and whitening (PPO), or one advantage per
    completion from its sequence reward (the critic-free family). Returns rewards, A, R, KL, each (B, L).

    With kl_in == "loss" the reward holds no KL (β·KL goes into the loss instead, `ppo_step`).
    """
    kl = fns["kl_per_token"](batch.logprobs, batch.ref_logprobs, config.kl_estimator)      # (B, L)
    beta = kl_coef if config.kl_in == "reward" else 0.0                                    # β of the reward
    r = kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, beta)                       # (B, L)
    if config.has_critic:
        advantages, returns = fns["gae"](r, batch.values, batch.mask, config.gamma, config.lam)  # (B, L)
        if config.whiten_advantages:
            advantages = adv_lib.whiten(advantages, batch.mask)
    else:                                                                                  # no value head
        advantages, returns = critic_free_advantages(batch, kl, beta, config, fns)            # (B, L)
    return r, advantages, returns, kl


def critic_free_advantages(batch: Rollout, kl, kl_coef: float, config: PPOConfig, fns: dict = PPO_FUNCTIONS):
    """The critic-free family (notebook 09): R_i = score_i − β·Σ_t KL_t per completion, then A_i = R_i (reinforce),
    GRPO's (R_i − mean_g) / std_g (grpo; Dr. GRPO without ÷ std_g) or RLOO's R_i − mean_{j≠i} R_j (rloo) within
    the G completions of a prompt; A_i and R_i on every valid token. Returns A, R (B, L): no value head, so the
    return is R itself.
    """
    R = kl_penalty.sequence_rewards(batch.scores, kl, batch.mask, kl_coef)                 # (B,)
    G = config.group_size
    if config.advantage_estimator == "grpo":
        A = fns["group_advantages"](R, G, config.scale_rewards)                           # (B,)
    elif config.advantage_estimator == "rloo":
        A = fns["rloo_advantages"](R, G)                                                  # (B,)
    else:                                                                                 # reinforce: no baseline
        A = R
    return adv_lib.broadcast_to_tokens(A, batch.mask), adv_lib.broadcast_to_tokens(R, batch.mask)  # (B, L)


def iteration(models: Models, optimizer, prompts: list[str], config: PPOConfig, kl_coef: float,
              generator: torch.Generator, fns: dict, threshold: float = 0.0,
              tick=lambda: None) -> tuple[Rollout, dict]:
    """One PPO cycle: Phase I (rollout, rewards, advantages) then Phase II (ppo_epochs of minibatches).

    `prompts`: batch_size / G of them; the rollout completes each G times (`config.group_size`).
    `tick()` is called after Phase I and after every minibatch (the progress bar's inner steps).
    """
    t0 = time.perf_counter()
    batch = rollout(models, prompts, config)                                             # Phase I
    sampled = {}
    if config.dynamic_sampling > 1:                                                      # DAPO: drop no-signal groups
        sampled = {"env/zero_std_groups_sampled": zero_std_groups(batch.scores, config.group_size)}
        batch = informative_groups(batch, config)
    r, advantages, returns, kl = rewards_and_advantages(batch, config, kl_coef, fns)
    check_finite({"env/reward": r, "advantages": advantages, "returns": returns})
    t1 = time.perf_counter()
    tick()
    steps = []
    for _ in range(config.ppo_epochs):                                                   # Phase II
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            steps.append(ppo_step(models, optimizer, batch, idx, advantages, returns, config, fns, kl_coef))
            tick()
    t2 = time.perf_counter()
    batch.gold = judge(batch)                                   # the gold judge reads the completions once
    stats = summarise(batch, r, returns, kl, steps, config, kl_coef, threshold) | gold_model_stats(models, batch)
    stats.update({"time/rollout": t1 - t0, "time/update": t2 - t1, "time/iteration": t2 - t0, **sampled})
    return batch, stats


def informative_groups(batch: Rollout, config: PPOConfig) -> Rollout:
    """DAPO's dynamic sampling (Yu et al., 2025): of the dynamic_sampling × batch_size / G groups sampled, keep
    batch_size / G — those whose G scores differ first (their advantages are not all 0), then, if too few
    differ, no-signal groups to fill the batch. Kept groups stay in sampling order."""
    G = config.group_size
    groups = batch.scores.reshape(-1, G)                                                # (groups, G)
    signal = ~adv_lib.same_scores(groups)                                               # (groups,) bool
    order = torch.cat([torch.nonzero(signal).flatten(), torch.nonzero(~signal).flatten()])
    kept = order[:config.batch_size // G].sort().values                                 # (batch_size / G,)
    return batch.take((kept[:, None] * G + torch.arange(G)).flatten())                  # (batch_size,) rows


def train(config: PPOConfig | None = None, models: Models | None = None, *, prompts: list[str] | None = None,
          overrides: dict | None = None, progress: bool = True, checkpoint_dir: str | None = None,
          resume: bool = False) -> Run:
    """Align the policy with PPO for `config.iterations` cycles; returns the `Run`.

    `overrides` swaps the functions a PPO run calls (`PPO_FUNCTIONS`) for this run, e.g.
    `{"policy_loss": my_policy_loss}`. A NaN/inf stops the run at that iteration and restores the last good weights;
    stopping the cell (KeyboardInterrupt) returns the run up to the last completed iteration. With `checkpoint_dir`
    the whole state is saved after every iteration; `resume=True` continues from it and gives exactly the history
    an uninterrupted run would have.
    """
    config = PPOConfig() if config is None else config
    models, fns, generator, pool = prepare(config, models, prompts, overrides)
    optimizer = adam(models.policy.parameters(), config.learning_rate, eps=1e-5)
    run = Run(config, models)
    kl_coef, start = resume_point(run, checkpoint_dir, resume, optimizer, generator)   # (β, first iteration)
    beta, threshold = {"now": kl_coef}, positive_threshold(models.reward_model)
    bar = progress_bar(config, "PPO", start, progress)

    def one_iteration(it: int, keep) -> None:
        batch, stats = guarded_iteration(models, optimizer, draw_prompts(pool, config, generator), config,
                                         beta["now"], generator, fns, threshold, bar)  # rollout … ppo_epochs
        stats |= held_out_stats(models, config, it)                              # a reward program's world
        keep()
        log_iteration(run, batch, stats, it, threshold, bar)                     # history, samples, bar
        if config.kl_target is not None:                                         # adaptive β
            beta["now"] = kl_penalty.adaptive_kl_coef(beta["now"], stats["objective/kl"], config.kl_target,
                                                      config.kl_horizon, config.batch_size)
        save_state(checkpoint_dir, run, optimizer, generator, it, beta["now"])

    return run_loop(run, bar, one_iteration, start, overrides)


# ====================================================================== plumbing
def prepare(config: PPOConfig, models: Models | None, prompts: list[str] | None,
            overrides: dict | None) -> tuple[Models, dict, torch.Generator, list[str]]:
    """Before the first iteration, in this order: the arguments, the engine functions, the seeds, the models
    (loaded when not given) and the checked prompt pool. Returns (models, fns, generator, pool)."""
    check_arguments(config, models)
    for line in inert_settings(config):                 # valid, but a setting the learner expects to matter
        print(f"warning: {line}", file=sys.stderr)
    fns = functions(PPO_FUNCTIONS, overrides, "PPO")
    check_overrides(fns, config)
    generator = seed_everything(config.seed)
    models = models or load_models(config)
    return models, fns, generator, ready_to_start(models, config, prompts)


def guarded_iteration(models: Models, optimizer, prompts, config, kl_coef, generator, fns, threshold, bar):
    """`iteration`, its phase on the run's progress bar (`phase_ticker`), and the NaN guard: any non-finite
    metric, or sampling from non-finite weights, becomes a NonFiniteError."""
    tick = phase_ticker(bar, "PPO", config.ppo_epochs * (config.batch_size // config.minibatch_size))
    try:
        batch, stats = iteration(models, optimizer, prompts, config, kl_coef, generator, fns, threshold, tick=tick)
    except RuntimeError:            # e.g. torch.multinomial on NaN probabilities, whatever the device
        check_weights(models.policy, "the policy")   # NonFiniteError when the weights are the cause
        raise
    check_finite({k: v for k, v in stats.items() if k != "val/explained_variance"})
    return batch, stats


__all__ = ["critic_free_advantages", "guarded_iteration", "informative_groups", "iteration", "prepare",
           "rewards_and_advantages", "train"]
