"""What every figure of the course shares: metric names and units, the axis style, the legend, seed bands.

Seeds: a group of runs is drawn as its mean line and a min–max band, labelled "(mean of 2 seeds)"; a group
of one seed is its line alone, labelled "(1 seed)" (no band: there is no spread to show). Legends sit below
the figure (`legend_below`), never over the data. Figures are at most 10 inches wide, so the notebook shows
them at about their own size and no label falls under 9 pt.

The figures themselves live by topic in `plots.mechanics`, `plots.tokens` and `plots.results` (and
`dashboard`); `plots` re-exports them all, with this machinery, as `lab.plots.<name>`.
"""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.patches import Patch
from matplotlib.transforms import IdentityTransform

METRICS = {  # the one home of a logged metric's human name: metric → (title, unit: the y-axis label)
    "env/reward_mean": ("reward", "reward-model score (std units)"),
    "env/reward_std": ("spread of the reward", "std of the score (std units)"),
    "env/fraction_positive": ("fraction positive (reward model)", "fraction of completions"),
    "gold/vader_mean": ("VADER sentiment, the gold judge", "compound score (−1…1)"),
    "gold/rm_mean": ("gold reward model", "gold-model score (std units)"),
    "gold/fraction_positive": ("fraction positive (VADER)", "fraction of completions"),
    "env/distinct_2": ("distinct-2 of the completions", "distinct bigrams ÷ all (0…1)"),
    "env/zero_std_groups": ("groups with no signal", "fraction of groups whose scores are all equal"),
    "env/response_length": ("completion length", "tokens up to end-of-text"),
    # verifiable rewards (notebook 11): a program checks the answer
    "env/accuracy": ("held-out accuracy (sampled)", "fraction of held-out sums exactly right"),
    "env/accuracy_greedy": ("held-out accuracy (greedy)", "fraction of held-out sums exactly right"),
    "gold/exact_match": ("exact match, the gold judge", "fraction of completions exactly right"),
    "env/zero_std_groups_sampled": ("sampled groups with no signal", "fraction of sampled groups, all scores equal"),
    "objective/kl": ("KL to the reference", "nats per completion"),
    "objective/kl_coef": ("β, the KL coefficient", "β (reward units per nat)"),
    "objective/entropy": ("sampled −log π", "nats per completion"),
    "objective/non_score_reward": ("KL penalty −β·KL", "reward units per completion"),
    "objective/rlhf_reward": ("score − β·KL", "reward units per completion"),
    "policy/clipfrac_avg": ("clip fraction", "fraction of tokens clipped"),
    "policy/approxkl_avg": ("approx-KL (π_old → π_θ)", "nats per token"),
    "policy/entropy_avg": ("entropy of π", "nats per token"),
    "policy/entropy_bonus": ("entropy bonus c2·S", "loss units"),
    "loss/policy_avg": ("policy loss L_clip", "loss units (advantage units)"),
    "loss/value_avg": ("value loss ½(V − R)²", "squared error (reward units²)"),
    "loss/total_avg": ("total loss", "loss units"),
    "loss/kl_avg": ("KL term of the loss β·KL", "loss units"),
    "val/ratio": ("probability ratio", "mean π_θ / π_old"),
    "val/first_ratio": ("ratio of the first minibatch", "mean π_θ / π_old"),
    "val/clipfrac_avg": ("value clip fraction", "fraction of tokens clipped"),
    "val/explained_variance": ("explained variance of V", "1 − Var(R − V) / Var(R)"),
    "val/grad_norm": ("gradient norm", "‖∇L‖ before clipping"),
    # DPO (notebook 10), TRL's names: on the pairs of each step
    "rewards/chosen": ("implicit reward of the chosen", "β·(log π − log π_ref)(y_w)"),
    "rewards/rejected": ("implicit reward of the rejected", "β·(log π − log π_ref)(y_l)"),
    "rewards/margins": ("implicit reward margin z", "β·(log-ratio of y_w − of y_l)"),
    "rewards/accuracies": ("pairs ranked right", "fraction of pairs with z > 0"),
    "logps/chosen": ("log π of the chosen completions", "nats per completion"),
    "logps/rejected": ("log π of the rejected completions", "nats per completion"),
    "loss/dpo_avg": ("DPO loss −log σ(z)", "loss units"),
}


def metric_title(metric: str) -> str:
    """A logged metric's human name ("loss/value_avg" → "value loss ½(V − R)²"); unknown: the key itself."""
    return METRICS.get(metric, (metric, metric))[0]


def metric_unit(metric: str) -> str:
    """The y-axis label of a logged metric, with its unit ("squared error (reward units²)")."""
    return METRICS.get(metric, (metric, metric))[1]


def metric_label(metric: str) -> str:
    """Name and unit in one axis label: "KL to the reference: nats per completion"."""
    title, unit = METRICS.get(metric, (metric, ""))
    return f"{title}: {unit}" if unit else title


def wrapped(label: str, width: int = 48) -> str:
    """A long label (a group's seed notes, a unit) over several lines, so it stays inside its figure."""
    return textwrap.fill(label, width, break_on_hyphens=False)


# ====================================================================== axes and legend
BAND = "band: min–max over seeds"


def legend_below(fig, axes, ncol: int | None = None, extra: list = (), anchor=None, width: int = 48) -> None:
    """The figure's one legend, under it, outside every panel, so it never covers a line or an axis label.

    Entries are gathered from `axes` (one label once), then `extra` (handle, label) pairs; a "band: min–max
    over seeds" entry is added when a band is drawn. The figure must use `layout="constrained"` (every
    figure here does). `anchor`: a bounding box (an empty panel's `ax.bbox`) to centre the legend in instead;
    `width`: characters per line of an entry before it wraps. Call it again after adding a labelled line to
    a panel (e.g. a target): it replaces the figure's legend.
    """
    handles, labels = [], []
    for ax in np.atleast_1d(axes).flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if any(c.get_gid() == BAND for ax in np.atleast_1d(axes).flat for c in ax.collections):
        handles.append(Patch(color="grey", alpha=0.3))
        labels.append(BAND)
    handles, labels = handles + [h for h, _ in extra], labels + [label for _, label in extra]
    for old in list(fig.legends):
        old.remove()
    if handles:
        where = ({"loc": "outside lower center"} if anchor is None else  # anchor: in pixels
                 {"loc": "center", "bbox_to_anchor": anchor, "bbox_transform": IdentityTransform()})
        fig.legend(handles, [wrapped(label, width) for label in labels], ncol=ncol or min(len(handles), 3), fontsize=9,
                   frameon=False, **where)


def style_axes(ax, title: str, xlabel: str, ylabel: str, legend: bool = True, grid: str | None = "both",
               ncol: int | None = None, fontsize: float | None = None) -> None:
    """Every panel of the course: a title, both axes labelled (with units), a light grid, and a legend
    below the figure (`legend_below`).

    `legend=False`: the caller gathers one legend for several panels; `grid`: "both", "y" (bar charts) or
    None; `ncol`: columns of the legend; `fontsize`: of the axis labels and ticks, the title 1 pt larger.
    """
    size = {} if fontsize is None else {"fontsize": fontsize}              # None: matplotlib's own sizes
    ax.set_title(title, **({} if fontsize is None else {"fontsize": fontsize + 1}))
    ax.set_xlabel(xlabel, **size)
    ax.set_ylabel(ylabel, **size)
    if fontsize is not None:
        ax.tick_params(labelsize=fontsize)
    if legend:
        legend_below(ax.figure, ax, ncol=ncol)
    if grid:
        ax.grid(alpha=0.3, axis=grid)


# ====================================================================== seeds as a band
def ragged(series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max at each index over the sequences that reached it (they may differ in length).

    A NaN inside a sequence stays NaN (it is a real value); a sequence that ended early just stops counting.
    """
    series = [np.asarray(s, dtype=float) for s in series]
    length = max((len(s) for s in series), default=0)
    stats = np.full((3, length), np.nan)
    for i in range(length):
        reached = np.array([s[i] for s in series if len(s) > i])
        stats[:, i] = reached.mean(), reached.min(), reached.max()
    return stats[0], stats[1], stats[2]


def draw_band(ax, x, series, label: str, color=None, alpha: float = 0.25, **line_kw):
    """The one band helper: mean line over `series` (ragged-safe), min–max band when there are ≥ 2."""
    mean, low, high = ragged(series)
    x = np.asarray(x, dtype=float)[:len(mean)]
    if len(mean) == 1:
        line_kw.setdefault("marker", "o")                 # one point is no line: show it as a dot
    line, = ax.plot(x, mean, label=label, color=color, **line_kw)
    if len(series) > 1:
        ax.fill_between(x, low, high, alpha=alpha, color=line.get_color(), gid=BAND)
    return line


def moving_mean(values, window: int) -> list[float]:
    """Each value averaged with the window − 1 before it (fewer at the start): [1, 3, 5], 2 → [1, 2, 4]."""
    cumulative = np.cumsum(np.asarray(values, dtype=float))
    ends = np.arange(len(values))
    starts = np.maximum(ends - window, -1)
    return ((cumulative - np.where(starts >= 0, cumulative[np.maximum(starts, 0)], 0.0)) / (ends - starts)).tolist()


def short_status(status: str) -> str:
    """"stopped at iteration 3: loss/total became …" → "stopped at iteration 3"."""
    return str(status).split(":")[0].strip() or "no status"


def seeds_note(n: int) -> str:
    """How a figure names its seeds: "1 seed" (its line alone, no band), "mean of 2 seeds" (line and band)."""
    return "1 seed" if n == 1 else f"mean of {n} seeds"


def seed_label(label: str, lengths: list[int], stopped_at: list[int] = (), skipped: list[str] = (),
               single_run: bool = False, unit: str = "iteration") -> str:
    """"β=0.1 (1 seed)", "… (mean of 2 seeds)", "… (mean of 2 seeds; 1 stopped at iteration 3)".

    `lengths`: each plotted run's number of iterations; `stopped_at`: those of the runs that ended early;
    `skipped`: the short status of each run with no history ("" for none); `single_run`: no "1 seed".
    """
    notes = []
    if lengths and not (single_run and len(lengths) == 1):
        notes.append(seeds_note(len(lengths)))
    if stopped_at:
        where = ", ".join(str(n) for n in sorted(stopped_at))
        notes.append(f"{len(stopped_at)} stopped at {unit}{'s' if len(stopped_at) > 1 else ''} {where}")
    if skipped:
        statuses = ", ".join(s for s in skipped if s)
        notes.append(f"{len(skipped)} skipped, no {unit}s" + (f": {statuses}" if statuses else ""))
    return f"{label} ({'; '.join(notes)})" if notes else label


def group_label(label: str, histories: list, statuses: list | None = None, single_run: bool = False,
                unit: str = "iteration") -> str:
    """The legend of a group of seeds from their histories: how many, which stopped early (shorter than the
    longest, or interrupted / NaN-stopped by their status), which were skipped for having no history.

    `statuses`: each seed's status (a `Run`'s); None where there is none (a reward model's evaluations).
    """
    statuses = [None] * len(histories) if statuses is None else statuses
    kept = [(h, s) for h, s in zip(histories, statuses) if h]
    longest = max((len(h) for h, _ in kept), default=0)
    stopped_at = [len(h) for h, s in kept if len(h) < longest or str(s).startswith(("interrupted", "stopped"))]
    skipped = ["" if s is None else short_status(s) for h, s in zip(histories, statuses) if not h]
    return seed_label(label, [len(h) for h, _ in kept], stopped_at, skipped, single_run, unit)


def runs_label(label: str, runs, single_run: bool = False) -> str:
    """The legend of a group of training runs (`group_label` of their histories and statuses)."""
    return group_label(label, [r.history for r in runs], [r.status for r in runs], single_run)


def seed_band(ax, runs, metric: str, label: str, color=None, single_run: bool = False, smooth: int = 1,
              **line_kw):
    """Mean over seeds as a line, min–max over seeds as a band; x = PPO iteration.

    Runs of unequal length (interrupted, NaN-stopped) are averaged over the runs that reached each
    iteration, and the legend says so; a run with no history is skipped, its status in the legend; one
    seed draws no band. `single_run` labels a lone run without "(1 seed)". `smooth` > 1: each run's values
    averaged over the last `smooth` iterations (fewer at the start) before the seeds are.
    """
    series = [r.metric(metric) if smooth == 1 else moving_mean(r.metric(metric), smooth) for r in runs if r.history]
    x = np.arange(max((len(s) for s in series), default=0))
    return draw_band(ax, x, series, runs_label(label, runs, single_run), color, **line_kw)


__all__ = ["BAND", "draw_band", "group_label", "legend_below", "metric_label", "metric_title", "metric_unit",
           "METRICS", "moving_mean", "ragged", "runs_label", "seed_band", "seed_label", "seeds_note", "short_status",
           "style_axes", "wrapped"]


# ====================================================================== one colour per method
METHOD_COLOURS = (  # (what a label names, its colour): the first one a label contains wins, so the longer names first
    ("dynamic sampling", "C3"), ("starting model", "grey"), ("GRPO", "C0"), ("RLOO", "C1"), ("PPO", "C2"))


def method_colour(label: str) -> str | None:
    """The colour of the method a figure's label names, the same in every figure of a notebook: "after GRPO (seed
    0)" → GRPO's "C0", "GRPO + dynamic sampling" → "C3" (METHOD_COLOURS); None (matplotlib's next colour) for a
    label that names none of them."""
    return next((colour for name, colour in METHOD_COLOURS if name in label), None)


__all__ += ["METHOD_COLOURS", "method_colour"]
