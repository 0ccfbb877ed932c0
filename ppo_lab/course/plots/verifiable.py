"""Figures of the arithmetic world (notebook 11): held-out accuracy against updates and seconds, and pass@k curves.
`plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .style import draw_band, legend_below, metric_title, metric_unit, runs_label, style_axes


def eval_points(run, metric: str = "env/accuracy", start: float | None = None) -> tuple[list, list, list]:
    """(updates done, seconds of training, values) at each evaluation of a run; with `start`, a first point at
    0 updates and 0 s (the starting model's value). `env/accuracy` at iteration t is measured after t's update."""
    iterations, values = run.evaluations(metric)
    seconds = np.cumsum(run.metric("time/iteration"))                                  # (iterations,)
    updates, times = [i + 1 for i in iterations], [float(seconds[i]) for i in iterations]
    if start is not None:
        updates, times, values = [0] + updates, [0.0] + times, [start] + list(values)
    return updates, times, list(values)


def eval_curves(groups: dict, title: str, start: float | None = None, metric: str = "env/accuracy"):
    """Two panels: a metric logged at evaluations (held-out accuracy) against updates and against seconds of
    training (evaluation time left out); each group's seeds as a band (seconds: their mean)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for label, runs in groups.items():
        done = [eval_points(r, metric, start) for r in runs if r.history]
        n = min(len(d[0]) for d in done)
        values = [d[2][:n] for d in done]
        line = draw_band(axes[0], done[0][0][:n], values, runs_label(label, runs))
        seconds = np.mean([d[1][:n] for d in done], axis=0)                              # (n,)
        draw_band(axes[1], seconds, values, runs_label(label, runs), color=line.get_color())
    for ax, xlabel, per in zip(axes, ("updates (iterations done)", "seconds of training (mean over seeds)"),
                               ("update", "second")):
        if start is not None:
            ax.axhline(start, color="grey", ls=":", lw=1, label="the starting model")
        style_axes(ax, f"{metric_title(metric)}, per {per}", xlabel, metric_unit(metric), legend=False)
    legend_below(fig, axes[0])
    fig.suptitle(title)
    return fig


def pass_at_k_curves(curves: dict, title: str):
    """pass@k against k (log scale), one line per policy: {label: {k: mean pass@k}} (`verifiable.pass_at_k_curve`)."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for label, curve in curves.items():
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ks = sorted({k for curve in curves.values() for k in curve})
    ax.set_xticks(ks, [str(k) for k in ks])
    style_axes(ax, title, "k (answers sampled per sum)", "pass@k: a right one among k (held-out sums)", legend=False)
    legend_below(fig, ax)
    return fig


__all__ = ["eval_curves", "eval_points", "pass_at_k_curves"]
