"""The PPO cycle (notebook 00): Phase I rollouts, Phase II updates, repeat.

    for each iteration:
        rollout  → rewards (score + KL penalty) → advantages (GAE, whitened; or critic-free: notebook 09)
        → ppo_epochs × shuffled minibatches of  L = L_clip − c1·L_VF + c2·S  → log → adapt β

The algorithm lives in `rewards_and_advantages`, `critic_free_advantages`, `iteration` and the loop of
`train`, with one minibatch's step (`loss_terms`, `ppo_step`) in `phase2.py`; the plumbing (progress bars,
NaN guard, interrupts, checkpoints) is in the small helpers after `train`, the checks in `run_checks.py`
and the logged metrics in `metrics.py`.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field

import torch
import tqdm.auto

from . import advantages as adv_lib, checkpoint, kl_penalty, losses
from .config import FIELDS, ConfigError, PPOConfig
from .metrics import (
    gold_model_stats,
    held_out_stats,
    judge,
    record_samples,
    summarise,
    zero_std_groups,
)
from .models import Models, load_models
from .optim import adam
from .phase2 import loss_terms as loss_terms, ppo_step  # notebooks and tests call lab.trainer.loss_terms
from .rollout import Rollout, positive_threshold, rollout
from .run_checks import (
    NonFiniteError,
    check_arguments,
    check_context,
    check_finite,
    check_overrides,
    check_weights,
    nan_report,
    plural,
    prompt_pool,
)

# the pure functions the engine calls; `train(..., overrides=...)` may swap any of them for a run
ENGINE_FUNCTIONS = {
    "policy_loss": losses.policy_loss, "value_loss": losses.value_loss, "entropy": losses.entropy,
    "kl_per_token": losses.kl_per_token, "ppo_loss": losses.ppo_loss, "gae": adv_lib.gae,
    "group_advantages": adv_lib.group_advantages, "rloo_advantages": adv_lib.rloo_advantages,
}


@dataclass
class Run:
    """What a training run leaves: config, per-iteration history, samples, models, and how it ended."""
    config: PPOConfig
    models: Models
    history: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    status: str = "running"

    def metric(self, name: str) -> list[float]:
        """One metric over the iterations, e.g. `run.metric("env/reward_mean")`."""
        return [h[name] for h in self.history]

    def evaluations(self, name: str) -> tuple[list[int], list[float]]:
        """A metric logged only at some iterations (e.g. "env/accuracy", every `eval_every`): (iterations, values)."""
        kept = [h for h in self.history if name in h]
        return [h["iteration"] for h in kept], [h[name] for h in kept]


# ====================================================================== the algorithm
def rewards_and_advantages(batch: Rollout, config: PPOConfig, kl_coef: float, fns: dict):
    """r_t = −β·KL_t (+ score at the end), then the advantages: GAE and whitening (PPO), or one advantage per
    completion from its sequence reward (the critic-free family). Returns rewards, A, R, KL, each (B, L).

    With kl_in == "loss" the reward holds no KL (β·KL goes into the loss instead, `ppo_step`).
    """
    kl = fns["kl_per_token"](batch.logprobs, batch.ref_logprobs, config.kl_estimator)      # (B, L)
    beta = kl_coef if config.kl_in == "reward" else 0.0                                    # β of the reward
    r = kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, beta)                       # (B, L)
    if config.advantage_estimator == "gae":
        advantages, returns = fns["gae"](r, batch.values, batch.mask, config.gamma, config.lam)  # (B, L)
        if config.whiten_advantages:
            advantages = adv_lib.whiten(advantages, batch.mask)
    else:                                                                                  # no value head
        advantages, returns = critic_free_advantages(batch, kl, beta, config, fns)            # (B, L)
    return r, advantages, returns, kl


def critic_free_advantages(batch: Rollout, kl, kl_coef: float, config: PPOConfig, fns: dict = ENGINE_FUNCTIONS):
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
    signal = ~(groups == groups[:, :1]).all(dim=1)                                      # (groups,) bool
    order = torch.cat([torch.nonzero(signal).flatten(), torch.nonzero(~signal).flatten()])
    kept = order[:config.batch_size // G].sort().values                                 # (batch_size / G,)
    return batch.take((kept[:, None] * G + torch.arange(G)).flatten())                  # (batch_size,) rows


def train(config: PPOConfig | None = None, models: Models | None = None, *, prompts: list[str] | None = None,
          overrides: dict | None = None, progress: bool = True, checkpoint_dir: str | None = None,
          resume: bool = False) -> Run:
    """Align the policy with PPO for `config.iterations` cycles; returns the `Run`.

    `overrides` swaps engine functions for this run, e.g. `{"policy_loss": my_policy_loss}`. A NaN/inf stops
    the run at that iteration and restores the last good weights; stopping the cell (KeyboardInterrupt) returns
    the run up to the last completed iteration. With `checkpoint_dir` the whole state is saved after every
    iteration; `resume=True` continues from it and gives exactly the history an uninterrupted run would have.
    """
    config = PPOConfig() if config is None else config
    models, fns, generator, pool = prepare(config, models, prompts, overrides)
    optimizer = adam(models.policy.parameters(), config.learning_rate, eps=1e-5)
    run = Run(config, models)
    kl_coef, start = resume_point(run, checkpoint_dir, resume, optimizer, generator)   # (β, first iteration)
    threshold = positive_threshold(models.reward_model)
    good_state = copy.deepcopy(models.policy.state_dict())          # the weights a NaN or Ctrl-C falls back to
    bar = progress_bar(config, start, progress)
    try:
        for it in bar:
            batch, stats = guarded_iteration(models, optimizer, draw_prompts(pool, config, generator), config, kl_coef,
                                             generator, fns, threshold, progress)   # rollout … ppo_epochs
            stats |= held_out_stats(models, config, it)                              # a reward program's world
            good_state = copy.deepcopy(models.policy.state_dict())
            log_iteration(run, batch, stats, it, threshold, bar)                     # history, samples, bar
            if config.kl_target is not None:                                         # adaptive β
                kl_coef = kl_penalty.adaptive_kl_coef(kl_coef, stats["objective/kl"], config.kl_target,
                                                   config.kl_horizon, config.batch_size)
            save_state(checkpoint_dir, run, optimizer, generator, it, kl_coef)
    except NonFiniteError as e:
        return stop(run, good_state, nan_report(e, it, start, len(run.history), config))
    except KeyboardInterrupt:
        return stop(run, good_state, INTERRUPTED.format(plural(len(run.history), "completed iteration")))
    return finish(run, "finished", quiet=True)


def draw_prompts(pool: list[str], config: PPOConfig, generator: torch.Generator) -> list[str]:
    """batch_size / G prompts (× dynamic_sampling) drawn from the pool with replacement; the rollout completes each
    G times."""
    n = config.batch_size // config.group_size * config.dynamic_sampling
    picks = torch.randint(len(pool), (n,), generator=generator)                        # (n,)
    return [pool[i] for i in picks.tolist()]


# ====================================================================== plumbing
INTERRUPTED = "interrupted: the run keeps its {} (history, samples and the weights after the last one)"


def prepare(config: PPOConfig, models: Models | None, prompts: list[str] | None,
            overrides: dict | None) -> tuple[Models, dict, torch.Generator, list[str]]:
    """Before the first iteration, in this order: the arguments, the engine functions, the seeds, the models
    (loaded when not given) and the checked prompt pool. Returns (models, fns, generator, pool)."""
    check_arguments(config, models)
    fns = engine_functions(overrides)
    check_overrides(fns, config)
    generator = seed_everything(config.seed)
    models = models or load_models(config)
    return models, fns, generator, ready_to_start(models, config, prompts)


def engine_functions(overrides: dict | None) -> dict:
    """The package's pure functions, with any of them swapped for this run."""
    unknown = set(overrides or {}) - set(ENGINE_FUNCTIONS)
    if unknown:
        raise ConfigError(f"overrides: {sorted(unknown)} are not engine functions; valid: {sorted(ENGINE_FUNCTIONS)}")
    return {**ENGINE_FUNCTIONS, **(overrides or {})}


def seed_everything(seed: int) -> torch.Generator:
    """One seed for Python, torch (sampling) and the minibatch shuffles."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def ready_to_start(models: Models, config: PPOConfig, prompts: list[str] | None = None) -> list[str]:
    """Everything a run needs, checked before its first iteration; returns the prompt pool.

    (Sweeps call it for every group before training any, so a bad group never costs the others.)
    """
    check_context(models, config)
    check_weights(models.policy, "the starting policy")
    return prompt_pool(models.tokenizer, config, prompts)


def guarded_iteration(models: Models, optimizer, prompts, config, kl_coef, generator, fns, threshold, progress):
    """`iteration` with an inner progress bar (shown when an iteration takes over 2 s) and the NaN guard:
    any non-finite metric, or sampling from non-finite weights, becomes a NonFiniteError."""
    steps = config.ppo_epochs * (config.batch_size // config.minibatch_size)
    with tqdm.auto.tqdm(total=1 + steps, desc="Phase I, then Phase II minibatches", delay=2.0, leave=False,
                        disable=not progress) as inner:
        try:
            batch, stats = iteration(models, optimizer, prompts, config, kl_coef, generator, fns, threshold,
                                     tick=inner.update)
        except RuntimeError:            # e.g. torch.multinomial on NaN probabilities, whatever the device
            check_weights(models.policy, "the policy")   # NonFiniteError when the weights are the cause
            raise
    check_finite({k: v for k, v in stats.items() if k != "val/explained_variance"})
    return batch, stats


def progress_bar(config: PPOConfig, start: int, progress: bool):
    """The outer bar over the iterations (starting at `start` when resuming)."""
    return tqdm.auto.tqdm(range(start, config.iterations), desc="PPO", disable=not progress,
                          initial=start, total=config.iterations)


def log_iteration(run: Run, batch: Rollout, stats: dict, it: int, threshold: float, bar) -> None:
    """The iteration's metrics into the history, a few samples into the run, the headline numbers onto the bar."""
    run.history.append({**stats, "iteration": it})
    record_samples(run, batch, it, threshold)
    bar.set_postfix(reward=f"{stats['env/reward_mean']:+.2f}", pos=f"{stats['env/fraction_positive']:.2f}",
                    kl=f"{stats['objective/kl']:.1f}")


def save_state(folder: str | None, run: Run, optimizer, generator, it: int, kl_coef: float) -> None:
    """With a checkpoint folder, the whole state after iteration `it` (weights, Adam, RNG, β, history)."""
    if folder:
        checkpoint.save(folder, run.models.policy, optimizer, generator,
                        {"iteration": it, "kl_coef": kl_coef, "history": run.history,
                         "samples": run.samples, "config": run.config.to_dict()})


def resume_point(run: Run, folder: str | None, resume: bool, optimizer, generator) -> tuple[float, int]:
    """(β, first iteration to do): the config's start, or the checkpoint's state loaded into the run."""
    if checkpoint.resumable(folder, resume):  # also checks checkpoint_dir before any training
        return restore(run, folder, optimizer, generator)
    return run.config.kl_coef, 0


def restore(run: Run, folder: str, optimizer, generator) -> tuple[float, int]:
    """Load a checkpoint into the run; returns (β, first iteration still to do).

    The settings are compared before anything is loaded: a refused resume leaves the models as they were.
    """
    state, tensors = checkpoint.read(folder)
    older = {k: info.default for k, info in FIELDS.items()}   # a field newer than the checkpoint: its default
    saved = {k: v for k, v in {**older, **state["config"]}.items() if k != "iterations"}
    now = {k: v for k, v in run.config.to_dict().items() if k != "iterations"}
    if saved != now:
        changed = sorted(k for k in now if now[k] != saved.get(k))
        raise ConfigError(f"resume: checkpoint_dir={str(folder)!r} was made with other settings ({changed}); "
                          "valid: the same config (only `iterations` may change), or a new checkpoint_dir")
    checkpoint.apply(folder, state, tensors, run.models.policy, optimizer, generator)
    run.history, run.samples = state["history"], state["samples"]
    return state["kl_coef"], state["iteration"] + 1


def stop(run: Run, good_state: dict, status: str) -> Run:
    """End the run early with the last good weights back in the policy."""
    run.models.policy.load_state_dict(good_state)
    return finish(run, status)


def finish(run: Run, status: str, quiet: bool = False) -> Run:
    run.status = status
    if not quiet:
        print(status)
    return run
