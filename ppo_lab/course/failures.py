"""Broken on purpose (notebook 07): one recipe per classic PPO bug, and the signature it leaves.

    runs = lab.course.failures.broken_runs("lr_too_high", config, seeds=(0, 1))
    lab.dashboard({"healthy": healthy_runs, "lr_too_high": runs})

A recipe changes config fields, swaps engine functions (`train(..., overrides=...)`) or tweaks the
starting models; everything else is the healthy run. `signature` reads the one number that gives
each bug away, so the notebook, its exercises and the tests check the same thing.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..config import FAMILY, ConfigError, PPOConfig
from ..maths import advantages as adv_lib
from ..rl.experiments import over_seeds
from ..rl.loop import Run
from ..world.models import Models, load_models


# ------------------------------------------------------------------ the broken pieces
def flipped_gae(rewards, values, mask, gamma: float, lam: float):
    """The sign bug: GAE as usual, then −A. The returns (and so the value head) stay right."""
    advantages, returns = adv_lib.gae(rewards, values, mask, gamma, lam)   # (B, L), (B, L)
    return -advantages, returns


def flipped_group_advantages(scores, group_size: int, scale: bool = True):
    """The family's sign bug: GRPO's group advantages as usual, then −A."""
    return -adv_lib.group_advantages(scores, group_size, scale)                   # (N,)


def dropout_on(models: Models, p: float = 0.1) -> None:
    """The train-mode bug: dropout p in every `nn.Dropout` of the policy, and the policy in train mode.

    Phase I then samples and scores with one dropout mask and Phase II recomputes with another,
    so π_θ ≠ π_old before any update: the ratio at the first minibatch is no longer exactly 1.
    """
    for module in models.policy.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    models.policy.train()


@dataclass(frozen=True)
class Failure:
    """One bug: what is broken, how to reproduce it, and the number on the dashboard that shows it."""
    what: str                                   # the broken setting, in words
    changes: dict = field(default_factory=dict)  # config fields changed from the healthy run
    overrides: dict = field(default_factory=dict)  # functions swapped (rl.update.PPO_FUNCTIONS)
    tweak: Callable[[Models], None] | None = None  # applied to a copy of the starting models
    metric: str = ""                            # the history metric that shows the bug
    reduce: str = "mean"                        # "first", "last", "mean" (over iterations) or "delta" (last − first)
    direction: str = "above"                    # the broken run sits "above" or "below" the healthy one
    margin: float = 0.0                         # ... by more than this (the metric's units)
    symptom: str = ""                           # what a learner sees
    world: dict = field(default_factory=dict)   # the family member it lives in: its healthy run has these too


FAILURES: dict[str, Failure] = {
    "lr_too_high": Failure(
        "learning rate 3e-3: 30× the gallery's 1e-4", {"learning_rate": 3e-3},
        metric="policy/approxkl_avg", direction="above", margin=0.1,
        symptom="approx-KL and clip fraction far above their bands, KL to the reference explodes, entropy swings"),
    "no_whitening": Failure(
        "advantages not whitened (whiten_advantages=False)", {"whiten_advantages": False},
        metric="val/grad_norm", direction="below", margin=0.3,
        symptom="small raw advantages: a smaller gradient norm, which Adam mostly rescales away — a quiet bug"),
    "sign_flipped": Failure(
        "the advantage's sign flipped (a wrapped gae returns −A)", overrides={"gae": flipped_gae},
        metric="env/reward_mean", reduce="delta", direction="below", margin=0.2,
        symptom="the reward goes down: PPO makes the worst tokens more likely, the value head still learns"),
    "dropout_on": Failure(
        "dropout left on (p = 0.1, policy in train mode)", tweak=dropout_on,
        metric="val/first_ratio_error", reduce="mean", direction="above", margin=0.05,
        symptom="ratio ≠ 1, clip fraction and approx-KL > 0 already at the first minibatch, before any update"),
    "value_unclipped_big_c1": Failure(
        "no value clipping and a large c1 (clip_eps_value=None, vf_coef=5)", {"clip_eps_value": None, "vf_coef": 5.0},
        metric="val/grad_norm", direction="above", margin=2.0,
        symptom="the value loss dominates the shared trunk: the gradient norm is several times the healthy one"),
    "no_kl_penalty": Failure(
        "β = 0: no KL penalty to the reference (kl_coef=0, kl_target=None)", {"kl_coef": 0.0, "kl_target": None},
        metric="objective/non_score_reward", direction="above", margin=0.03,
        symptom="the KL penalty's share of the reward (−β·KL) is exactly 0; the KL to the reference has no brake"),
    # the critic-free family (notebook 09): the healthy run is the same member, `world`
    "grpo_tiny_groups": Failure(
        "GRPO with groups of 2 on a pass/fail reward (group_size=2; healthy: 8)", {"group_size": 2},
        world={**FAMILY["GRPO"], "binary_reward": True, "group_size": 8},
        metric="env/zero_std_groups", direction="above", margin=0.2,
        symptom="a large share of groups all pass or all fail: their advantages are 0, that part of the rollout "
                "teaches nothing"),
    "group_sign_flipped": Failure(
        "GRPO's group advantage with its sign flipped (a wrapped group_advantages returns −A)",
        overrides={"group_advantages": flipped_group_advantages}, world=FAMILY["GRPO"],
        metric="env/reward_mean", reduce="delta", direction="below", margin=0.2,
        symptom="the reward goes down: each group's worst completions are made more likely"),
}


# ------------------------------------------------------------------ running them
def recipe(name: str) -> Failure:
    """The recipe called `name`, or a clear error listing the valid names."""
    if name not in FAILURES:
        raise ConfigError(f"failure={name!r} is not a failure recipe; valid: {sorted(FAILURES)}")
    return FAILURES[name]


def healthy_config(name: str, config: PPOConfig) -> PPOConfig:
    """The healthy run a recipe is compared with: `config`, as the family member the bug lives in (`world`)."""
    return config.replace(**recipe(name).world)


def broken_config(name: str, config: PPOConfig) -> PPOConfig:
    """The healthy config with the recipe's fields changed."""
    bug = recipe(name)
    return config.replace(**{**bug.world, **bug.changes})


def broken_runs(name: str, config: PPOConfig, seeds=(0, 1), models: Models | None = None,
                use_cache: bool = True, changes: dict | None = None, **train_kwargs) -> list[Run]:
    """`config` broken as the recipe says (then `changes` on top), trained once per seed from (a copy of) `models`.

    Runs with a model tweak are never cached: the cache keys weights, and dropout is no weight.
    """
    bug = recipe(name)
    base = models or load_models(config)
    if bug.tweak is not None:
        base = copy.deepcopy(base)
        bug.tweak(base)
    broken = broken_config(name, config).replace(**(changes or {}))
    return over_seeds(broken, seeds, base, use_cache and bug.tweak is None, overrides=bug.overrides or None,
                      **train_kwargs)


def read_metric(runs: list[Run], metric: str, reduce: str) -> float:
    """One number per group of runs: the metric reduced over iterations, averaged over seeds.

    `val/first_ratio_error` is |ratio − 1| at the first minibatch of each iteration (0 when healthy).
    """
    def series(run):
        if metric == "val/first_ratio_error":
            return [abs(v - 1.0) for v in run.metric("val/first_ratio")]
        return run.metric(metric)

    reducers = {"first": lambda s: s[0], "last": lambda s: s[-1], "mean": lambda s: sum(s) / len(s),
                "delta": lambda s: s[-1] - s[0]}
    if reduce not in reducers:
        raise ConfigError(f"reduce={reduce!r} is not valid; choose one of {sorted(reducers)}")
    return sum(reducers[reduce](series(r)) for r in runs) / len(runs)


def signature(name: str, broken: list[Run], healthy: list[Run]) -> dict:
    """The recipe's tell-tale number in the broken and the healthy runs, and whether it shows.

    Returns {"metric", "reduce", "broken", "healthy", "direction", "margin", "shows"}.
    """
    bug = recipe(name)
    b, h = read_metric(broken, bug.metric, bug.reduce), read_metric(healthy, bug.metric, bug.reduce)
    shows = b > h + bug.margin if bug.direction == "above" else b < h - bug.margin
    return {"metric": bug.metric, "reduce": bug.reduce, "broken": b, "healthy": h, "direction": bug.direction,
            "margin": bug.margin, "shows": shows}


# ------------------------------------------------------------------ "find the bug" (exercises 07.bug_*)
MYSTERIES = {"07.bug_1": "sign_flipped", "07.bug_2": "dropout_on", "07.bug_3": "lr_too_high"}
# Each mystery is its recipe in disguise: seeds the gallery never used and, where the bug allows, a different
# strength, so its dashboard is new — diagnosed from the signature, not matched against the gallery's pictures.
DISGUISES = {"07.bug_1": ((11, 12), {}), "07.bug_2": ((13, 14), {}), "07.bug_3": ((15, 16), {"learning_rate": 2e-3})}


def mystery_runs(exercise: str, config: PPOConfig, models: Models | None = None, healthy: list[Run] | None = None,
                 **train_kwargs) -> dict[str, list[Run]]:
    """The runs of the exercise's secret recipe in disguise (`DISGUISES`), unnamed, ready for `lab.dashboard`.

    Given the `healthy` runs, it checks that the mystery carries its recipe's signature against them (without
    naming it): a RuntimeError if it does not, as the puzzle would then have no answer to find."""
    if exercise not in MYSTERIES:
        raise ConfigError(f"exercise={exercise!r} has no mystery runs; valid: {sorted(MYSTERIES)}")
    seeds, changes = DISGUISES[exercise]
    runs = {"mystery run": broken_runs(MYSTERIES[exercise], config, seeds, models, changes=changes, **train_kwargs)}
    if healthy is not None and not mystery_shows(exercise, runs, healthy):
        raise RuntimeError(f"the runs of {exercise} do not carry their bug's signature against these healthy runs "
                           "(other settings than the notebook's?): this mystery cannot be solved from them")
    return runs


def mystery_shows(exercise: str, runs: dict[str, list[Run]], healthy: list[Run]) -> bool:
    """Whether the mystery runs carry their secret recipe's signature against `healthy` (without naming it)."""
    (group,) = runs.values()
    return signature(MYSTERIES[exercise], group, healthy)["shows"]


__all__ = ["broken_config", "broken_runs", "DISGUISES", "dropout_on", "Failure", "FAILURES", "flipped_gae",
           "flipped_group_advantages", "healthy_config", "MYSTERIES", "mystery_runs", "mystery_shows",
           "read_metric", "recipe", "signature"]
