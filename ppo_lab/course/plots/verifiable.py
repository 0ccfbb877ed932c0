"""Figures of the arithmetic world (notebook 11): held-out accuracy against updates and seconds, and pass@k curves.
Each method keeps one colour in every figure (`style.method_colour`). `plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...rl.experiments import eval_points
from .style import draw_band, legend_below, method_colour, metric_title, metric_unit, runs_label, seeds_note, style_axes


def eval_curves(groups: dict, title: str, start: float | None = None, metric: str = "env/accuracy"):
    """Two panels: a metric logged at evaluations (held-out accuracy) against updates and against seconds of
    training (evaluation time left out); each group's seeds as a band (seconds: their mean), in its method's colour."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for label, runs in groups.items():
        done = [eval_points(r, metric, start) for r in runs if r.history]
        n = min(len(d[0]) for d in done)
        values = [d[2][:n] for d in done]
        line = draw_band(axes[0], done[0][0][:n], values, runs_label(label, runs), color=method_colour(label))
        seconds = np.mean([d[1][:n] for d in done], axis=0)                              # (n,)
        draw_band(axes[1], seconds, values, runs_label(label, runs), color=line.get_color())
    for ax, xlabel, per in zip(axes, ("updates (iterations done)", "seconds of training (mean over seeds)"),
                               ("update", "second")):
        if start is not None:
            ax.axhline(start, color=method_colour("starting model"), ls=":", lw=1, label="the starting model")
        style_axes(ax, f"{metric_title(metric)}, per {per}", xlabel, metric_unit(metric), legend=False)
    legend_below(fig, axes[0])
    fig.suptitle(title)
    return fig


def pass_at_k_curves(curves: dict, title: str):
    """pass@k against k (log scale), one line per policy in its method's colour: {label: {k: mean pass@k}}
    (`Answers.pass_at_k_curve`), or {label: [one such curve per seed]}: their mean line and min–max band."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for label, curve in curves.items():
        seeds = curve if isinstance(curve, list) else [curve]
        ks = sorted(seeds[0])
        name = f"{label} ({seeds_note(len(seeds))})" if isinstance(curve, list) else label
        draw_band(ax, ks, [[c[k] for k in ks] for c in seeds], name, color=method_colour(label), marker="o")
    ax.set_xscale("log", base=2)
    ks = sorted({k for curve in curves.values() for c in (curve if isinstance(curve, list) else [curve]) for k in c})
    ax.set_xticks(ks, [str(k) for k in ks])
    style_axes(ax, title, "k (answers sampled per sum)", "pass@k: a right one among k (held-out sums)", legend=False)
    legend_below(fig, ax)
    return fig


__all__ = ["eval_curves", "pass_at_k_curves"]
