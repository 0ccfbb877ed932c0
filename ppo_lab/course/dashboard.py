"""The diagnostics dashboard: the eight numbers to glance at while PPO runs, each with its healthy range.

    fig = lab.dashboard(run)                      # one run
    fig = lab.dashboard(groups, title="ε sweep")  # {"clip_eps=0.2": [runs over seeds], ...}

A green band marks where a metric usually sits when training is healthy (rules of thumb from the
PPO literature and TRL's docs, not laws); outside it, look closer.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..rl.loop import Run
from .plots.style import METRICS, legend_below, seed_band, style_axes, wrapped

# metric → healthy (low, high), or None where no fixed range applies; names and units live in plots.style.METRICS
BANDS = {
    # up is good; its scale is the reward model's (standardised), so no fixed band: read the trend
    "env/reward_mean": None,
    # ≈ 2× the default kl_target of 8 nats per completion; the prototype's text had collapsed at ~29 nats
    "objective/kl": (0.0, 16.0),
    # fraction of tokens whose ratio left [1−ε, 1+ε]; 0.1–0.3 is usual for a few epochs per rollout, far above
    # 0.3 the steps are too large for the trust region
    "policy/clipfrac_avg": (0.0, 0.3),
    # k3 estimate (r − 1) − log r of KL(π_old ‖ π_θ); above ~0.05 nats per token an update moves too far
    "policy/approxkl_avg": (0.0, 0.05),
    # mean probability ratio π_θ/π_old in Phase II: near 1 inside a trust region of ε ≈ 0.1–0.2
    "val/ratio": (0.9, 1.1),
    # per-token entropy of the sampling policy: near 0 it has collapsed onto a few phrases; the top is
    # ≈ ln(vocabulary) = ln 4096 ≈ 8.3 nats (uniform noise) for the bundled model
    "policy/entropy_avg": (1.0, 8.0),
    # 1 − Var(R − V)/Var(R): a zero-initialised head starts at 0 and climbs slowly (notebooks 02–03), so in a short
    # run healthy is "not below 0"; clearly negative means the value head is worse than a constant
    "val/explained_variance": (-0.1, 1.0),
    # scale follows the rewards (units²); should fall, then settle — no fixed band
    "loss/value_avg": None,
}
# metric → (panel title, y label with unit, healthy range or None)
HEALTHY = {metric: (*METRICS[metric], band) for metric, band in BANDS.items()}
HEALTHY_COLOUR = "#c8e6c9"


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

    Runs of unequal length are averaged over the runs that reached each iteration (`plots.style.seed_band`).
    """
    title, ylabel, healthy = HEALTHY[metric]
    if healthy is not None:
        ax.axhspan(*healthy, color=HEALTHY_COLOUR, alpha=0.6, zorder=0)
    for name, runs in groups.items():
        seed_band(ax, runs, metric, name, single_run=single_run)
    style_axes(ax, title if healthy else f"{title} (read the trend)", "PPO iteration", wrapped(ylabel, 24),
               legend=False, fontsize=9)                                    # one legend, in the ninth cell
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def dashboard(run_or_runs, title: str | None = None):
    """A 3 × 3 grid of the eight PPO diagnostics, healthy ranges shaded green (see `HEALTHY`), the legend
    in the ninth cell. 9 inches wide: shown at a notebook's width (~900 px) no label is under 9 pt."""
    groups = as_groups(run_or_runs)
    fig, axes = plt.subplots(3, 3, figsize=(9, 8.4), layout="constrained")
    for ax, metric in zip(axes.flat, HEALTHY):
        panel(ax, groups, metric, single_run=isinstance(run_or_runs, Run))
    spare = axes.flat[-1]
    spare.set_axis_off()                  # the ninth cell holds the legend (a figure legend, placed on it)
    legend_below(fig, axes.flat[0], ncol=1, extra=[(Patch(color=HEALTHY_COLOUR), "healthy range")], anchor=spare.bbox,
                 width=34)
    iterations = max(len(run.history) for runs in groups.values() for run in runs)
    fig.suptitle(title or f"PPO diagnostics over {iterations} iterations")
    return fig


def outside_bands(runs: list[Run]) -> dict[str, list[tuple[int, float]]]:
    """Where the mean over seeds leaves its healthy band: metric → [(iteration, value)], empty when healthy."""
    found = {}
    for metric, (_, _, band) in HEALTHY.items():
        if band is None:
            continue
        series = [sum(v) / len(v) for v in zip(*(r.metric(metric) for r in runs))]   # per iteration, over seeds
        out = [(i, round(x, 4)) for i, x in enumerate(series) if not band[0] <= x <= band[1]]
        if out:
            found[metric] = out
    return found


__all__ = ["as_groups", "BANDS", "dashboard", "HEALTHY", "HEALTHY_COLOUR", "outside_bands", "panel"]
