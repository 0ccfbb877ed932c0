"""The run loop PPO and DPO share (plumbing, not the algorithm): the `Run` a trainer returns, seeding, the
functions a run may swap (`overrides=`), the checks before the first iteration, the progress bar, the NaN and
Ctrl-C guard with the last good weights, and checkpoints to resume from.

    run = Run(config, models)
    return run_loop(run, progress_bar(config, "PPO", start, progress), one_iteration, start)

`one_iteration(it, keep)` does iteration `it` and calls `keep()` once its weights are good: a NaN/inf (a
`NonFiniteError`) or Ctrl-C then ends the run with those weights back in the policy and the history up to there.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import tqdm.auto

from ..config import FIELDS, ConfigError, PPOConfig
from ..world.models import Models
from . import checkpoint
from .checks import NonFiniteError, check_context, check_weights, check_world, nan_report, plural, prompt_pool
from .metrics import record_samples

INTERRUPTED = "interrupted: the run keeps its {} (history, samples and the weights after the last one)"


class RunStopped(Exception):
    """A run that cannot go on (e.g. no preference pair left to learn from): it stops, keeps its work, and its
    status gives this reason."""


@dataclass
class Run:
    """What a training run leaves: config, per-iteration history, samples, models, how it ended, and the way it
    trained (`method`: "ppo", whose config names the family member, or "dpo")."""
    config: PPOConfig
    models: Models
    history: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    status: str = "running"
    method: str = "ppo"

    def metric(self, name: str) -> list[float]:
        """One metric over the iterations, e.g. `run.metric("env/reward_mean")`."""
        return [h[name] for h in self.history]

    def evaluations(self, name: str) -> tuple[list[int], list[float]]:
        """A metric logged only at some iterations (e.g. "env/accuracy", every `eval_every`): (iterations, values)."""
        kept = [h for h in self.history if name in h]
        return [h["iteration"] for h in kept], [h[name] for h in kept]


# ====================================================================== before the first iteration
def functions(defaults: dict, overrides: dict | None, kind: str) -> dict:
    """The package's pure functions a run calls, with any of them swapped for this run (`overrides=`)."""
    unknown = set(overrides or {}) - set(defaults)
    if unknown:
        raise ConfigError(f"overrides: {sorted(unknown)} are not {kind} functions; valid: {sorted(defaults)}")
    return {**defaults, **(overrides or {})}


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
    check_world(models, config)
    return prompt_pool(models.tokenizer, config, prompts)


def draw_prompts(pool: list[str], config: PPOConfig, generator: torch.Generator) -> list[str]:
    """batch_size / G prompts (× dynamic_sampling) drawn from the pool with replacement; the rollout completes each
    G times."""
    n = config.batch_size // config.group_size * config.dynamic_sampling
    picks = torch.randint(len(pool), (n,), generator=generator)                        # (n,)
    return [pool[i] for i in picks.tolist()]


# ====================================================================== the loop and its guard
def progress_bar(config: PPOConfig, desc: str, start: int, progress: bool):
    """The outer bar over the iterations (starting at `start` when resuming)."""
    return tqdm.auto.tqdm(range(start, config.iterations), desc=desc, disable=not progress, initial=start,
                          total=config.iterations)


def phase_ticker(bar, desc: str, steps: int) -> Callable[[], None]:
    """`tick` for one iteration: the outer bar's label says where the iteration is — "PPO · Phase I", then
    "PPO · Phase II 3/8" (minibatch updates done) — so a run keeps ONE progress bar. (An inner bar per iteration,
    closed when the iteration ends, leaves a dead widget in a notebook's output for every iteration.)"""
    done = -1
    bar.set_description_str(f"{desc} · Phase I", refresh=False)

    def tick() -> None:
        nonlocal done
        done += 1
        bar.set_description_str(f"{desc} · Phase II {done}/{steps}" if done < steps else desc)
    return tick


def run_loop(run: Run, bar, one_iteration: Callable, start: int = 0, overrides: dict | None = None) -> Run:
    """Call `one_iteration(it, keep)` for every iteration of the bar. A NaN/inf or Ctrl-C ends the run with the
    weights of the last `keep()` back in the policy, and its status says why; otherwise the status is "finished"."""
    policy = run.models.policy
    good = {"state": copy.deepcopy(policy.state_dict())}     # the weights a NaN or Ctrl-C falls back to
    keep = lambda: good.update(state=copy.deepcopy(policy.state_dict()))
    it = start
    try:
        for it in bar:
            one_iteration(it, keep)
    except NonFiniteError as e:
        return stop(run, good["state"], nan_report(e, it, start, len(run.history), run.config, overrides))
    except KeyboardInterrupt:
        return stop(run, good["state"], INTERRUPTED.format(plural(len(run.history), "completed iteration")))
    except RunStopped as e:
        kept = plural(len(run.history), "completed iteration")
        return stop(run, good["state"], f"stopped at iteration {it}: {e}. The run keeps its {kept}")
    return finish(run, "finished", quiet=True)


def log_iteration(run: Run, batch, stats: dict, it: int, threshold: float, bar) -> None:
    """The iteration's metrics into the history, a few samples into the run, the headline numbers onto the bar."""
    run.history.append({**stats, "iteration": it})
    record_samples(run, batch, it, threshold)
    bar.set_postfix(reward=f"{stats['env/reward_mean']:+.2f}", pos=f"{stats['env/fraction_positive']:.2f}",
                    kl=f"{stats['objective/kl']:.1f}")


def stop(run: Run, good_state: dict, status: str) -> Run:
    """End the run early with the last good weights back in the policy."""
    run.models.policy.load_state_dict(good_state)
    return finish(run, status)


def finish(run: Run, status: str, quiet: bool = False) -> Run:
    run.status = status
    if not quiet:
        print(status)
    return run


# ====================================================================== checkpoints and resume
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
    done = state["iteration"] + 1
    if run.config.iterations < done:
        raise ConfigError(f"iterations={run.config.iterations}: the checkpoint in checkpoint_dir={str(folder)!r} "
                          f"already holds {done} iterations; valid: iterations ≥ {done} to continue it, or a new "
                          "checkpoint_dir")
    checkpoint.apply(folder, state, tensors, run.models.policy, optimizer, generator)
    run.history, run.samples = state["history"], state["samples"]
    return state["kl_coef"], state["iteration"] + 1


__all__ = ["draw_prompts", "finish", "functions", "INTERRUPTED", "log_iteration", "phase_ticker", "progress_bar",
           "ready_to_start", "restore", "resume_point", "Run", "run_loop", "save_state", "seed_everything", "stop"]
