"""The diagnostics dashboard: the eight numbers to glance at while PPO runs, each with its healthy range.

    fig = lab.dashboard(run)                      # one run
    fig = lab.dashboard(groups, title="ε sweep")  # {"clip_eps=0.2": [runs over seeds], ...}

A green band marks where a metric usually sits when training is healthy (rules of thumb from the
PPO literature and TRL's docs, not laws); outside it, look closer.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from .plots import seed_band
from .trainer import Run

# metric → (panel title, y label with unit, healthy (low, high) or None where no fixed range applies)
HEALTHY = {
    # up is good; its scale is the reward model's (standardised), so no fixed band: read the trend
    "env/reward_mean": ("reward", "reward-model score (std units)", None),
    # ≈ 2× the default kl_target of 8 nats per completion; the prototype's text had collapsed at ~29 nats
    "objective/kl": ("KL to the reference", "nats per completion", (0.0, 16.0)),
    # fraction of tokens whose ratio left [1−ε, 1+ε]; above ~0.2 the steps are too large for the trust region
    "policy/clipfrac_avg": ("clip fraction", "fraction of tokens clipped", (0.0, 0.2)),
    # k3 estimate (r − 1) − log r of KL(π_old ‖ π_θ); above ~0.05 nats per token an update moves too far
    "policy/approxkl_avg": ("approx-KL (π_old → π_θ)", "nats per token", (0.0, 0.05)),
    # mean probability ratio π_θ/π_old in Phase II: near 1 inside a trust region of ε ≈ 0.1–0.2
    "val/ratio": ("probability ratio", "mean π_θ / π_old", (0.9, 1.1)),
    # per-token entropy of the sampling policy: near 0 it has collapsed onto a few phrases; the top is
    # ≈ ln(vocabulary) = ln 4096 ≈ 8.3 nats (uniform noise) for the bundled model
    "policy/entropy_avg": ("entropy", "nats per token", (1.0, 8.0)),
    # 1 − Var(R − V)/Var(R): below ~0.2 the value head barely predicts returns (fine in the first iterations)
    "val/explained_variance": ("explained variance of V", "1 − Var(R − V) / Var(R)", (0.2, 1.0)),
    # scale follows the rewards (units²); should fall, then settle — no fixed band
    "loss/value_avg": ("value loss", "½(V − R)² (reward units²)", None),
}


def as_groups(run_or_runs) -> dict[str, list[Run]]:
    """One `Run` → {"run": [run]}; a dict name → list of runs (seeds) is kept as it is."""
    if isinstance(run_or_runs, Run):
        return {"run": [run_or_runs]}
    if isinstance(run_or_runs, dict) and run_or_runs and all(
            isinstance(runs, (list, tuple)) and runs and all(isinstance(r, Run) for r in runs)
            for runs in run_or_runs.values()):
        return {name: list(runs) for name, runs in run_or_runs.items()}
    raise TypeError(f"dashboard: expected a Run or a dict name → non-empty list of Runs, got "
                    f"{type(run_or_runs).__name__}")


def panel(ax, groups: dict[str, list[Run]], metric: str, single_run: bool = False) -> None:
    """One metric: its healthy band in green, then each group's mean line (min–max band over seeds).

    Runs of unequal length are averaged over the runs that reached each iteration (`plots.seed_band`).
    """
    title, ylabel, healthy = HEALTHY[metric]
    if healthy is not None:
        ax.axhspan(*healthy, color="#c8e6c9", alpha=0.6, zorder=0)
    for name, runs in groups.items():
        seed_band(ax, runs, metric, name, single_run=single_run)
    ax.set_title(title if healthy else f"{title} (read the trend)", fontsize=10)
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3)


def dashboard(run_or_runs, title: str | None = None):
    """A 2 × 4 grid of the PPO diagnostics, healthy ranges shaded green (see `HEALTHY`)."""
    groups = as_groups(run_or_runs)
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.2))
    for ax, metric in zip(axes.flat, HEALTHY):
        panel(ax, groups, metric, single_run=isinstance(run_or_runs, Run))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(Patch(color="#c8e6c9", label="healthy range"))
    fig.legend(handles, labels + ["healthy range"], loc="lower center", ncol=min(len(handles), 6), fontsize=9)
    iterations = max(len(run.history) for runs in groups.values() for run in runs)
    fig.suptitle(title or f"PPO diagnostics over {iterations} iterations")
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    return fig
