"""Matplotlib figures of the course: every one titled, axes labelled with units, seeds as a band.

Seeds: a group of runs is drawn as its mean line and a min–max band, labelled "(mean of 2 seeds)"; a group
of one seed is its line alone, labelled "(1 seed)" (no band: there is no spread to show). Legends sit below
the figure (`legend_below`), never over the data. Figures are at most 10 inches wide, so the notebook shows
them at about their own size and no label falls under 9 pt.
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

METRICS = {  # the one home of a logged metric's human name: metric → (title, unit: the y-axis label)
    "env/reward_mean": ("reward", "reward-model score (std units)"),
    "env/reward_std": ("spread of the reward", "std of the score (std units)"),
    "env/fraction_positive": ("fraction positive (reward model)", "fraction of completions"),
    "gold/vader_mean": ("VADER sentiment, the gold judge", "compound score (−1…1)"),
    "gold/rm_mean": ("gold reward model", "gold-model score (std units)"),
    "gold/fraction_positive": ("fraction positive (VADER)", "fraction of completions"),
    "env/distinct_2": ("distinct-2 of the completions", "distinct bigrams ÷ all (0…1)"),
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
    "val/ratio": ("probability ratio", "mean π_θ / π_old"),
    "val/first_ratio": ("ratio of the first minibatch", "mean π_θ / π_old"),
    "val/clipfrac_avg": ("value clip fraction", "fraction of tokens clipped"),
    "val/explained_variance": ("explained variance of V", "1 − Var(R − V) / Var(R)"),
    "val/grad_norm": ("gradient norm", "‖∇L‖ before clipping"),
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


BAND = "band: min–max over seeds"


def legend_below(fig, axes, ncol: int | None = None, extra: list = (), anchor=None, width: int = 48) -> None:
    """The figure's one legend, under it, outside every panel, so it never covers a line or an axis label.

    Entries are gathered from `axes` (one label once), then `extra` (handle, label) pairs; a "band: min–max
    over seeds" entry is added when a band is drawn. The figure must use `layout="constrained"` (every
    figure here does). `anchor`: a bounding box (an empty panel's `ax.bbox`) to centre the legend in instead;
    `width`: characters per line of an entry before it wraps. Call it again after adding a labelled line to
    a panel (e.g. a target): it replaces the figure's legend.
    """
    from matplotlib.patches import Patch

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
        from matplotlib.transforms import IdentityTransform

        where = ({"loc": "outside lower center"} if anchor is None else  # anchor: in pixels
                 {"loc": "center", "bbox_to_anchor": anchor, "bbox_transform": IdentityTransform()})
        fig.legend(handles, [wrapped(label, width) for label in labels], ncol=ncol or min(len(handles), 3), fontsize=9,
                   frameon=False, **where)


def style_axes(ax, title: str, xlabel: str, ylabel: str, legend: bool = True, grid: bool = True) -> None:
    """Every panel of the course: a title, both axes labelled (with units), a light grid, and a legend
    below the figure (`legend_below`)."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        legend_below(ax.figure, ax)
    if grid:
        ax.grid(alpha=0.3)


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


def runs_label(label: str, runs, single_run: bool = False) -> str:
    """The legend of a group of runs: how many seeds, which stopped early (shorter than the longest, or
    interrupted / NaN-stopped by their status), which were skipped for having no history."""
    kept = [r for r in runs if r.history]
    longest = max((len(r.history) for r in kept), default=0)
    stopped_at = [len(r.history) for r in kept
                  if len(r.history) < longest or str(r.status).startswith(("interrupted", "stopped"))]
    skipped = [short_status(r.status) for r in runs if not r.history]
    return seed_label(label, [len(r.history) for r in kept], stopped_at, skipped, single_run)


def seed_band(ax, runs, metric: str, label: str, color=None, single_run: bool = False, **line_kw):
    """Mean over seeds as a line, min–max over seeds as a band; x = PPO iteration.

    Runs of unequal length (interrupted, NaN-stopped) are averaged over the runs that reached each
    iteration, and the legend says so; a run with no history is skipped, its status in the legend; one
    seed draws no band. `single_run` labels a lone run without "(1 seed)".
    """
    series = [r.metric(metric) for r in runs if r.history]
    x = np.arange(max((len(s) for s in series), default=0))
    return draw_band(ax, x, series, runs_label(label, runs, single_run), color, **line_kw)


def curves(groups: dict, metrics: list[str], title: str, single_run: bool = False):
    """One panel per metric (titled by `METRICS`); each group (a setting → its runs over seeds) is a line
    with a band, one legend below all panels.

    `single_run=True` labels one-run groups by their name alone (see `seed_band`).
    """
    width = min(10.0, 2.2 + 3.4 * len(metrics))
    fig, axes = plt.subplots(1, len(metrics), figsize=(width, 4.2), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics):
        for label, runs in groups.items():
            seed_band(ax, runs, metric, label, single_run=single_run)
        style_axes(ax, wrapped(metric_title(metric), 30), "PPO iteration", wrapped(metric_unit(metric), 32),
                   legend=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))          # iterations are whole numbers
    legend_below(fig, axes)
    fig.suptitle(title)
    return fig


def ppo_cycle_diagram():
    """The PPO cycle as boxes and arrows: Phase I (rollout, scoring) and Phase II (updates)."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    style = {"ha": "center", "va": "center", "fontsize": 10,
             "bbox": {"boxstyle": "round,pad=0.5", "fc": "#e8f0fe", "ec": "#3367d6"}}
    row = 0.66
    boxes = {
        "prompts": ax.text(0.10, row, "completion prompts\n(prompt hoàn thành)", **style),
        "policy": ax.text(0.335, row, "policy LLM\n+ value head\n(hàm giá trị)", **style),
        "reward": ax.text(0.60, row, "reward model\n(mô hình phần thưởng)\n+ KL to reference", **style),
        "adv": ax.text(0.87, row, "advantages,\nreturns (GAE)", **style),
        "update": ax.text(0.60, 0.14, "Phase II: epochs × minibatches of\nL = L_clip − c1·L_VF + c2·S\n"
                                      "(lan truyền ngược)", **style),
    }
    for a, b, bend in (("prompts", "policy", 0), ("policy", "reward", 0), ("reward", "adv", 0),
                       ("adv", "update", -0.35), ("update", "policy", -0.35)):
        ax.annotate("", xy=(0.5, 0.5), xycoords=boxes[b], xytext=(0.5, 0.5), textcoords=boxes[a],
                    arrowprops={"arrowstyle": "-|>", "lw": 1.5, "color": "#333333", "shrinkA": 2, "shrinkB": 2,
                                "patchA": boxes[a].get_bbox_patch(), "patchB": boxes[b].get_bbox_patch(),
                                "connectionstyle": f"arc3,rad={bend}"})
    ax.text(0.47, 0.97, "Phase I (giai đoạn I): rollouts and scoring", ha="center", va="top", fontsize=11,
            weight="bold")
    ax.text(0.385, 0.29, "the updated policy\nreplaces the old one", ha="right", va="center", fontsize=10,
            style="italic")
    ax.set_title("One PPO cycle (chu kỳ PPO)")
    return fig


def clip_objective(ratio, advantage: float, clip_eps):
    """Per-token L_clip = min(r·A, clip(r, 1−ε, 1+ε)·A) and its derivative d L_clip / d r."""
    ratio = np.asarray(ratio, dtype=float)
    clipped = ratio if clip_eps is None else np.clip(ratio, 1 - clip_eps, 1 + clip_eps)
    unclipped_obj, clipped_obj = ratio * advantage, clipped * advantage
    objective = np.minimum(unclipped_obj, clipped_obj)
    grad = np.where(unclipped_obj <= clipped_obj, advantage, 0.0)      # the min picks the unclipped term
    return objective, grad


CLIP_CASES = {  # (where the ratio is, sign of A) → what PPO does there
    ("below", +1): "r < 1−ε, A > 0: the good action became less likely — full gradient pushes it back up",
    ("inside", +1): "1−ε ≤ r ≤ 1+ε, A > 0: inside the trust region — ordinary policy gradient",
    ("above", +1): "r > 1+ε, A > 0: already much more likely — clipped, zero gradient (stop here)",
    ("below", -1): "r < 1−ε, A < 0: already much less likely — clipped, zero gradient (stop here)",
    ("inside", -1): "1−ε ≤ r ≤ 1+ε, A < 0: inside the trust region — ordinary policy gradient",
    ("above", -1): "r > 1+ε, A < 0: the bad action became more likely — full gradient pushes it back down",
}


def clip_explorer_figure(clip_eps: float, advantage: float):
    """L_clip and its gradient against the ratio, the trust region shaded, for one ε and sign of A."""
    r = np.linspace(0.0, 2.0, 401)
    obj, grad = clip_objective(r, advantage, clip_eps)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for ax in (ax1, ax2):
        ax.axvspan(1 - clip_eps, 1 + clip_eps, color="#c8e6c9", alpha=0.6, label="trust region (vùng tin cậy)")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("probability ratio r = π_θ / π_old")
        ax.grid(alpha=0.3)
    ax1.plot(r, r * advantage, ls="--", color="grey", label="unclipped r·A")
    ax1.plot(r, obj, lw=2, label="L_clip = min(r·A, clip(r)·A)")
    ax1.set_ylabel("per-token objective (advantage units)")
    ax1.set_title(f"L_clip for A = {advantage:+.0f}, ε = {clip_eps:.2f}")
    ax2.plot(r, grad, lw=2, color="C3", label="∂L_clip/∂r")
    ax2.set_ylabel("gradient w.r.t. the ratio")
    ax2.set_title("Where PPO still pushes: the gradient")
    legend_below(fig, [ax1, ax2], ncol=4)
    return fig


TOKEN_FONT = 9        # pt: the token inspector's text


def mono_char_inches(fig, size: float) -> float:
    """The width of one monospace character at `size` pt as this figure renders it (hinting included)."""
    probe = fig.text(0, 0, "m" * 40, family="monospace", fontsize=size)
    width = probe.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi / 40
    probe.remove()
    return 1.03 * width                                   # a little slack for other renderers' rounding


def robust_limit(values, percentile: float = 95) -> tuple[float, bool]:
    """Half-width of a diverging colour scale: the 95th percentile of |value| (the maximum where that is 0),
    so one extreme token cannot turn every other one grey; and whether any value lies beyond it."""
    magnitude = np.abs(np.asarray(values, dtype=float))
    magnitude = magnitude[np.isfinite(magnitude)]
    if magnitude.size == 0:
        return 1e-6, False
    limit = float(np.percentile(magnitude, percentile, method="lower")) or float(magnitude.max())
    return max(limit, 1e-6), bool(magnitude.max() > limit)


def token_lines(tokens: list[list[str]], prompts: list[str] | None, width: int) -> tuple[list[tuple], float]:
    """Where each prompt and token goes: (line, column in characters, text, (row, col), or None for a
    prompt), and the number of lines. A completion wider than `width` characters wraps, indented."""
    placed, line = [], 0.0
    for row, toks in enumerate(tokens):
        x = 0.0
        if prompts:
            placed.append((line, x, prompts[row], None))
            x = len(prompts[row]) + 1.0
        for col, tok in enumerate(toks):
            text = tok.replace("\n", "⏎") or "·"
            if x + len(text) > width and x > 6:
                line, x = line + 1, 6.0
            placed.append((line, x, text, (row, col)))
            x += len(text) + 0.7
        line += 1.4                                       # a gap between completions
    return placed, line


def token_heatmap(tokens: list[list[str]], values, title: str, label: str, prompts: list[str] | None = None):
    """Each token of each completion on a coloured box: blue below 0, red above (diverging scale).

    The scale is clipped at the 95th percentile of |value| (`robust_limit`) and the colour bar says so;
    tokens beyond it take the end colour and a black outline. End-of-text shows as ∎ (`rollout.END_MARK`).
    """
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    values = np.asarray(values, dtype=float)                            # (B, L)
    limit, clipped = robust_limit(values)
    norm, cmap = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit), colormaps["coolwarm"]
    fig = plt.figure(figsize=(10.0, 1.0))
    char_in = mono_char_inches(fig, TOKEN_FONT)                         # one character, in inches
    placed, lines = token_lines(tokens, prompts, int(9.6 / char_in) - 2)
    line_in, top_in, bottom_in = 2.0 * TOKEN_FONT / 72, 0.45, 1.25
    fig.set_figheight(lines * line_in + top_in + bottom_in)
    height, fig_w = fig.get_figheight(), fig.get_figwidth()
    ax = fig.add_axes((0.2 / fig_w, bottom_in / height, 9.6 / fig_w, lines * line_in / height))
    for line, x, text, where in placed:
        value = np.nan if where is None else values[where]
        box = None if where is None else {"boxstyle": "square,pad=0.15", "fc": cmap(norm(value)), "lw": 1,
                                          "ec": "black" if abs(value) > limit else "none"}
        ax.text(x, -line, text, fontsize=TOKEN_FONT, va="center", ha="left", family="monospace", bbox=box,
                color="dimgrey" if box is None else "black", style="italic" if box is None else "normal")
    ax.set_xlim(0, 9.6 / char_in)
    ax.set_ylim(-lines + 0.7, 0.7)
    ax.axis("off")
    ax.set_title(title)
    note = f"; colour clipped at ±{limit:.3g} (95th percentile of |value|), outlined tokens lie beyond" if clipped else ""
    cax = fig.add_axes((0.2, 0.75 / height, 0.6, 0.14 / height))
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal",
                 extend="both" if clipped else "neither", label=wrapped(label + note, 110))
    return fig


def gae_figure(rewards, values, gamma: float, lam: float):
    """Rewards, values, TD errors δ_t and GAE advantages A_t for one fixed sequence of tokens."""
    import torch

    from .advantages import gae

    r = torch.tensor([rewards], dtype=torch.float64)
    v = torch.tensor([values], dtype=torch.float64)
    mask = torch.ones_like(r, dtype=torch.bool)
    advantages, returns = gae(r, v, mask, gamma, lam)
    next_v = torch.cat([v[:, 1:], torch.zeros(1, 1, dtype=v.dtype)], 1)
    delta = r + gamma * next_v - v
    t = np.arange(len(rewards))
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    ax.bar(t - 0.2, np.asarray(rewards), width=0.4, label="reward r_t", color="#9e9e9e")
    ax.plot(t, np.asarray(values), "o-", label="value V(s_t)", color="C0")
    ax.plot(t, delta[0].numpy(), "s--", label="TD error δ_t", color="C2", alpha=0.7)
    ax.bar(t + 0.2, advantages[0].numpy(), width=0.4, label="advantage A_t (GAE)", color="C3")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("response token t")
    ax.set_ylabel("reward units")
    ax.set_title(f"GAE with γ = {gamma:.2f}, λ = {lam:.2f}")
    legend_below(fig, ax, ncol=4)
    ax.grid(alpha=0.3)
    return fig


def value_loss_figure(old_value: float, ret: float, clip_eps_value: float):
    """Plain ½(V − R)² and the clipped value loss against the new value V, with the clip range shaded."""
    v = np.linspace(ret - 3, ret + 3, 401)
    plain = 0.5 * (v - ret) ** 2
    v_clip = old_value + np.clip(v - old_value, -clip_eps_value, clip_eps_value)
    clipped = 0.5 * np.maximum((v - ret) ** 2, (v_clip - ret) ** 2)
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    ax.axvspan(old_value - clip_eps_value, old_value + clip_eps_value, color="#c8e6c9", alpha=0.6,
               label="V_old ± ε_v")
    ax.plot(v, plain, ls="--", label="½(V − R)²")
    ax.plot(v, clipped, lw=2, label="clipped: ½·max((V − R)², (V_clip − R)²)")
    ax.axvline(ret, color="C3", lw=1, label=f"return R = {ret:+.1f}")
    ax.axvline(old_value, color="grey", lw=1, ls=":", label=f"V_old = {old_value:+.1f}")
    style_axes(ax, f"Value loss vs the new value (ε_v = {clip_eps_value:.2f})", "new value prediction V",
          "value loss (reward units²)")
    return fig


def values_vs_returns(before: dict, after: dict, row: int = 0):
    """One completion's per-token values before and after training, against the returns (notebook 02)."""
    t = np.arange(after["values"].shape[1])
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    ax.plot(t, before["values"][row].numpy(), "o-", label="value before training", color="grey")
    ax.plot(t, after["values"][row].numpy(), "o-", label="value after training", color="C0")
    ax.plot(t, after["returns"][row].numpy(), "s--", label="return R_t (after)", color="C3")
    ax.set_xticks(t)
    ax.set_xticklabels(after["tokens"][row], rotation=70, fontsize=9, family="monospace")
    style_axes(ax, f"Per-token values of a completion of {after['batch'].prompts[row]!r}", "response token",
          "expected reward (std units)")
    return fig


def accuracy_curves(groups: dict, title: str):
    """Held-out pairwise accuracy during reward-model training; each group's seeds as a band."""
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    for label, models in groups.items():
        histories = [m.history for m in models]
        steps = [s for s, _ in max(histories, key=len, default=[])]
        series = [[a for _, a in h] for h in histories if h]
        lengths = [len(s) for s in series]
        short, empty = [n for n in lengths if n < max(lengths, default=0)], [""] * (len(histories) - len(series))
        text = seed_label(label, lengths, short, empty, unit="evaluation")
        draw_band(ax, steps, series, text, marker="o")
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    style_axes(ax, title, "training step (batches of preference pairs)", "held-out pairwise accuracy")
    return fig


def score_histogram(pos, neg, threshold: float, title: str):
    """The reward model's scores of human-labelled positive and negative texts."""
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    bins = np.linspace(min(np.min(pos), np.min(neg)), max(np.max(pos), np.max(neg)), 40)
    ax.hist(neg, bins=bins, alpha=0.6, label="negative reviews (human label)", color="C0")
    ax.hist(pos, bins=bins, alpha=0.6, label="positive reviews (human label)", color="C3")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"positive threshold {threshold:+.2f}")
    style_axes(ax, title, "reward-model score (std units)", "number of texts", grid=False)
    return fig


def next_token_figure(tokens: list[str], probs, temperature: float, entropy: float, prompt: str):
    """The k most likely next tokens and their probabilities at one temperature (notebook 05)."""
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    x, probs = np.arange(len(tokens)), np.asarray(probs, dtype=float)
    ax.bar(x, probs, color="#3367d6", label=f"T = {temperature:.2f}: these {len(tokens)} tokens hold "
                                            f"{probs.sum():.0%} of the probability")
    ax.set_xticks(x, [repr(t)[1:-1] for t in tokens], rotation=60, ha="right", fontsize=9)
    ax.set_ylim(0, 1.15 * max(float(probs.max(initial=0.0)), 1e-3))   # autoscaled: at T = 3 the bars are tiny
    ax.set_xlabel("next token (the most likely ones)")
    ax.set_ylabel("probability π(token | prompt)\n(scale follows T)")
    ax.set_title(f"Next token after {prompt!r}: entropy S = {entropy:.2f} nats")
    legend_below(fig, ax)
    ax.grid(alpha=0.3, axis="y")
    return fig


def term_bars(terms: dict[str, dict], title: str):
    """Two bar charts: each objective term's weighted value, and the norm of its gradient."""
    names = list(terms)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    colors = ["#3367d6", "#e8710a", "#188038"][:len(names)]
    for ax, key, label in ((axes[0], "weighted", "weighted value in the loss"),
                           (axes[1], "grad_norm", "‖gradient‖ w.r.t. the policy's weights")):
        ax.bar(names, [terms[n][key] for n in names], color=colors)
        ax.set_title(label)
        ax.set_xlabel("term of −L = −L_clip + c1·L_VF − c2·S")
        ax.set_ylabel(label)
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
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
    style_axes(ax, title, xlabel, ylabel, legend=False, grid=False)
    fig.colorbar(image, ax=ax, label=value_label)
    return fig


def reward_vs_kl(groups: dict, title: str):
    """Each setting's path through (KL to the reference, reward): mean over seeds, one dot per iteration."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for label, runs in groups.items():
        kept = [r for r in runs if r.history]
        kl = ragged([r.metric("objective/kl") for r in kept])[0]
        reward = ragged([r.metric("env/reward_mean") for r in kept])[0]
        line, = ax.plot(kl, reward, marker="o", ms=3, label=runs_label(label, runs))
        if len(kl):
            ax.plot(kl[-1], reward[-1], marker="*", ms=14, color=line.get_color())
    from matplotlib.lines import Line2D

    style_axes(ax, title, metric_label("objective/kl"), metric_label("env/reward_mean"), legend=False)
    legend_below(fig, ax, extra=[(Line2D([], [], ls="", marker="*", ms=12, color="grey"), "last iteration")])
    return fig


def proxy_vs_gold(groups: dict, title: str, gold: str = "gold/vader_mean"):
    """Proxy reward (left axis, solid) and the gold oracle's score (right axis, dashed) on one plot."""
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    right = ax.twinx()
    for label, runs in groups.items():
        line = seed_band(ax, runs, "env/reward_mean", f"{label}: proxy reward")
        seed_band(right, runs, gold, f"{label}: {metric_title(gold)}", color=line.get_color(), alpha=0.12, ls="--")
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel(wrapped(metric_label("env/reward_mean") + " — solid", 40))
    right.set_ylabel(wrapped(metric_label(gold) + " — dashed", 40))
    legend_below(fig, [ax, right], ncol=2)
    ax.set_title(title)
    ax.grid(alpha=0.3)
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
    ax.set_xlabel("per-token KL estimate (nats)")
    ax.set_ylabel("number of tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    legend_below(fig, ax)
    return fig


def text_table(rows, columns: list[str] | None = None):
    """A table of completions to read in a notebook: text left-aligned and never cut short (a plain
    DataFrame cuts a cell at 50 characters and right-aligns it), numbers right-aligned to 2 decimals.

    `rows`: a DataFrame, a list of dicts or a dict of columns; returns a pandas `Styler` (it displays itself).
    """
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    frame = frame if columns is None else frame[list(columns)]
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return (frame.style.hide(axis="index").format(precision=2)
            .set_properties(subset=text, **{"text-align": "left", "white-space": "normal"})
            .set_table_styles([{"selector": "th", "props": "text-align: left"}]))
