"""Figures and tables of what training produced: logged metrics over iterations (every notebook), the reward
model's accuracy and score histogram (notebook 01), a sweep's grid of final values, each setting's path through
(KL, reward), proxy reward against the gold judge, the k1/k3 KL estimates (06), a metric against seconds of
training (09), and a table of completions to read (00).

Built on the shared figure machinery in `plots.style`; `plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .style import (
    draw_band,
    group_label,
    legend_below,
    metric_label,
    metric_title,
    metric_unit,
    ragged,
    runs_label,
    seed_band,
    style_axes,
    wrapped,
)


def curves(groups: dict, metrics: list[str], title: str, single_run: bool = False, xlabel: str | None = None,
           smooth: int = 1, x: str = "iteration"):
    """One panel per metric (titled by `METRICS`); each group (a setting → its runs over seeds) is a line
    with a band, one legend below all panels.

    `x` is what the panels run along: "iteration" (the default), "seconds" (cumulative training time, mean over
    the seeds: what each group buys per second rather than per iteration), or another metric's name (each
    group's path through (that metric, this one), mean over seeds, a dot per iteration and a star at the last,
    e.g. x="objective/kl": the price in nats of each step of reward). `single_run=True` labels one-run groups by
    their name alone (see `seed_band`); `xlabel` renames the x axis (DPO's iterations are not PPO cycles,
    notebook 10); `smooth` > 1 averages each run over that many iterations (the panel titles say so).
    """
    width = min(10.0, 2.2 + 3.4 * len(metrics)) if x == "iteration" or len(metrics) > 1 else 7.0
    fig, axes = plt.subplots(1, len(metrics), figsize=(width, 4.2), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for label, runs in groups.items():
            _line(ax, runs, metric, label, x, single_run, smooth)
        name = metric_title(metric) + (f" (mean of the last {smooth} iterations)" if smooth > 1 else "")
        style_axes(ax, wrapped(name, 30), xlabel or _X_LABELS.get(x) or metric_label(x),
                   wrapped(metric_unit(metric), 32), legend=False)
        if x == "iteration":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))      # iterations are whole numbers
    star = [(Line2D([], [], ls="", marker="*", ms=12, color="grey"), "last iteration")] if x not in _X_LABELS else []
    legend_below(fig, axes, extra=star)
    fig.suptitle(title)
    return fig


_X_LABELS = {"iteration": "PPO iteration", "seconds": "seconds of training (mean over seeds)"}


def _line(ax, runs, metric: str, label: str, x: str, single_run: bool, smooth: int) -> None:
    """One group's line on one panel of `curves`, along `x` (see there)."""
    if x == "iteration":
        seed_band(ax, runs, metric, label, single_run=single_run, smooth=smooth)
        return
    done = [r for r in runs if r.history]
    if not done:
        return
    n = min(len(r.history) for r in done)
    values = [r.metric(metric)[:n] for r in done]
    if x == "seconds":
        seconds = np.mean([np.cumsum(r.metric("time/iteration")[:n]) for r in done], axis=0)   # (n,)
        draw_band(ax, seconds, values, runs_label(label, runs, single_run))
        return
    xs, ys = ragged([r.metric(x)[:n] for r in done])[0], ragged(values)[0]
    line, = ax.plot(xs, ys, marker="o", ms=3, label=runs_label(label, runs, single_run))
    ax.plot(xs[-1], ys[-1], marker="*", ms=14, color=line.get_color())


def pairwise_accuracy_curves(groups: dict, title: str):
    """Held-out pairwise accuracy during reward-model training; each group's seeds as a band."""
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    for label, models in groups.items():
        histories = [m.history for m in models]
        steps = [s for s, _ in max(histories, key=len, default=[])]
        series = [[a for _, a in h] for h in histories if h]
        draw_band(ax, steps, series, group_label(label, histories, unit="evaluation"), marker="o")
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    style_axes(ax, title, "training step (batches of preference pairs)", "held-out pairwise accuracy")
    return fig


def score_histogram(pos, neg, threshold: float, title: str):
    """The reward model's scores of human-labelled positive and negative texts (arrays or tensors)."""
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    bins = np.linspace(min(np.min(pos), np.min(neg)), max(np.max(pos), np.max(neg)), 40)
    ax.hist(neg, bins=bins, alpha=0.6, label="negative reviews (human label)", color="C0")
    ax.hist(pos, bins=bins, alpha=0.6, label="positive reviews (human label)", color="C3")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"positive threshold {threshold:+.2f}")
    style_axes(ax, title, "reward-model score (std units)", "number of texts", grid=None)
    return fig


def heatmap(grid, xs, ys, title: str, xlabel: str, ylabel: str, value_label: str):
    """A value per (y, x) setting as coloured cells, each cell annotated with its number."""
    grid = np.asarray(grid, dtype=float)                               # (len(ys), len(xs))
    fig, ax = plt.subplots(figsize=(min(10.0, 1.6 * len(xs) + 3), 1.0 * len(ys) + 2), layout="constrained")
    image = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f"{v:+.2f}", ha="center", va="center", color="white" if v < grid.mean() else "black")
    style_axes(ax, title, xlabel, ylabel, legend=False, grid=None)
    fig.colorbar(image, ax=ax, label=value_label)
    return fig


def kl_estimators(k1, k3, title: str):
    """Histograms of the per-token KL estimates k1 and k3 on the same tokens, with their means."""
    k1, k3 = np.asarray(k1).ravel(), np.asarray(k3).ravel()
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    bins = np.linspace(min(k1.min(), k3.min()), max(k1.max(), k3.max()), 60)
    for values, name, color in ((k1, "k1 = log π − log π_ref", "#3367d6"), (k3, "k3 = (r − 1) − log r", "#e8710a")):
        ax.hist(values, bins=bins, alpha=0.55, color=color, label=f"{name}  (mean {values.mean():.3f})")
        ax.axvline(values.mean(), color=color, ls="--")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yscale("log")
    style_axes(ax, title, "per-token KL estimate (nats)", "number of tokens", grid=None)
    return fig


def text_table(rows, columns: list[str] | None = None):
    """A table of completions to read in a notebook: text left-aligned and never cut short (a plain
    DataFrame cuts a cell at 50 characters and right-aligns it), numbers right-aligned to 2 decimals.

    `rows`: a DataFrame, a list of dicts or a dict of columns; returns a pandas `Styler` (it displays itself).
    """
    import pandas as pd  # here, not at the top: pandas is not a dependency of `import ppo_lab`

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    frame = frame if columns is None else frame[list(columns)]
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return (frame.style.hide(axis="index").format(precision=2)
            .set_properties(subset=text, **{"text-align": "left", "white-space": "normal"})
            .set_table_styles([{"selector": "th", "props": "text-align: left"}]))


__all__ = ["curves", "heatmap", "kl_estimators", "pairwise_accuracy_curves", "score_histogram", "text_table"]
