"""Matplotlib figures of the course: every one titled, axes labelled with units, seeds as a band."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

LABELS = {  # metric → axis label with its unit
    "env/reward_mean": "reward-model score (std units)",
    "env/fraction_positive": "fraction positive (reward model)",
    "gold/vader_mean": "VADER compound score (−1…1)",
    "gold/fraction_positive": "fraction positive (VADER)",
    "objective/kl": "KL to the reference (nats per completion)",
    "objective/kl_coef": "β (KL coefficient)",
    "policy/clipfrac_avg": "fraction of tokens clipped",
    "val/explained_variance": "explained variance of V",
    "policy/entropy_avg": "entropy of π (nats per token)",
    "env/distinct_2": "distinct-2 of the completions (0…1)",
}


def wrapped(label: str, width: int = 48) -> str:
    """A long legend entry (a group's seed notes) over several lines, so it stays inside its panel."""
    return textwrap.fill(label, width, break_on_hyphens=False)


def style_axes(ax, title: str, xlabel: str, ylabel: str, legend: bool = True, grid: bool = True) -> None:
    """Every panel of the course: a title, both axes labelled (with units), a legend, a light grid."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, [wrapped(label) for label in labels], fontsize=8)
        else:
            ax.legend(fontsize=8)
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
        ax.fill_between(x, low, high, alpha=alpha, color=line.get_color())
    return line


def short_status(status: str) -> str:
    """"stopped at iteration 3: loss/total became …" → "stopped at iteration 3"."""
    return str(status).split(":")[0].strip() or "no status"


def seed_label(label: str, lengths: list[int], stopped_at: list[int] = (), skipped: list[str] = (),
               single_run: bool = False, unit: str = "iteration") -> str:
    """"β=0.1 (1 seed)", "… (mean of 2 seeds)", "… (mean of 2 seeds; 1 stopped at iteration 3)".

    `lengths`: each plotted run's number of iterations; `stopped_at`: those of the runs that ended early;
    `skipped`: the short status of each run with no history ("" for none); `single_run`: no "1 seed".
    """
    notes = []
    if lengths and not (single_run and len(lengths) == 1):
        notes.append("1 seed" if len(lengths) == 1 else f"mean of {len(lengths)} seeds")
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
    """One panel per metric; each group (a setting → its runs over seeds) is a line with a band.

    `single_run=True` labels one-run groups by their name alone (see `seed_band`).
    """
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, runs in groups.items():
            seed_band(ax, runs, metric, label, single_run=single_run)
        style_axes(ax, LABELS.get(metric, metric), "PPO iteration", LABELS.get(metric, metric))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def ppo_cycle_diagram():
    """The PPO cycle as boxes and arrows: Phase I (rollout, scoring) and Phase II (updates)."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    boxes = {
        "prompts": (0.02, 0.55, "completion prompts\n(prompt hoàn thành)"),
        "policy": (0.24, 0.55, "policy LLM\n+ value head\n(hàm giá trị)"),
        "reward": (0.48, 0.55, "reward model\n(mô hình phần thưởng)\n+ KL to reference"),
        "adv": (0.72, 0.55, "advantages, returns\n(GAE)"),
        "update": (0.48, 0.08, "Phase II: epochs × minibatches of\nL = L_clip − c1·L_VF + c2·S\n(lan truyền ngược)"),
    }
    for x, y, text in boxes.values():
        ax.text(x + 0.1, y + 0.15, text, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.5", fc="#e8f0fe", ec="#3367d6"))
    arrows = [((0.18, 0.70), (0.26, 0.70)), ((0.43, 0.70), (0.50, 0.70)), ((0.67, 0.70), (0.74, 0.70)),
              ((0.82, 0.55), (0.66, 0.30)), ((0.50, 0.30), (0.34, 0.52))]
    for start, end in arrows:
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", lw=1.5))
    ax.text(0.45, 0.97, "Phase I (giai đoạn I): rollouts and scoring", ha="center", fontsize=10, weight="bold")
    ax.text(0.16, 0.25, "updated policy\nreplaces the old one", ha="center", fontsize=9, style="italic")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.axis("off")
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
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
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
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def token_heatmap(tokens: list[list[str]], values, title: str, label: str, prompts: list[str] | None = None):
    """Each token of each completion on a coloured box: blue below 0, red above (diverging scale)."""
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    values = np.asarray(values, dtype=float)                            # (B, L)
    limit = max(1e-6, float(np.abs(values).max()))
    norm, cmap = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit), colormaps["coolwarm"]
    fig, ax = plt.subplots(figsize=(13, 0.55 * len(tokens) + 1.2))
    for row, toks in enumerate(tokens):
        x = 0.0
        if prompts:
            ax.text(x, -row, prompts[row], fontsize=8, va="center", ha="left", color="dimgrey", style="italic")
            x += 0.0075 * len(prompts[row]) + 0.01
        for col, tok in enumerate(toks):
            text = tok.replace("\n", "⏎") or "·"
            ax.text(x, -row, text, fontsize=8, va="center", ha="left", family="monospace",
                    bbox=dict(boxstyle="square,pad=0.15", fc=cmap(norm(values[row, col])), ec="none"))
            x += 0.0075 * max(len(text), 1) + 0.004
    ax.set_xlim(0, 1.05)
    ax.set_ylim(-len(tokens) + 0.5, 0.5)
    ax.axis("off")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.02, pad=0.01, label=label)
    ax.set_title(title)
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
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(t - 0.2, np.asarray(rewards), width=0.4, label="reward r_t", color="#9e9e9e")
    ax.plot(t, np.asarray(values), "o-", label="value V(s_t)", color="C0")
    ax.plot(t, delta[0].numpy(), "s--", label="TD error δ_t", color="C2", alpha=0.7)
    ax.bar(t + 0.2, advantages[0].numpy(), width=0.4, label="advantage A_t (GAE)", color="C3")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("response token t")
    ax.set_ylabel("reward units")
    ax.set_title(f"GAE with γ = {gamma:.2f}, λ = {lam:.2f}")
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def value_loss_figure(old_value: float, ret: float, clip_eps_value: float):
    """Plain ½(V − R)² and the clipped value loss against the new value V, with the clip range shaded."""
    v = np.linspace(ret - 3, ret + 3, 401)
    plain = 0.5 * (v - ret) ** 2
    v_clip = old_value + np.clip(v - old_value, -clip_eps_value, clip_eps_value)
    clipped = 0.5 * np.maximum((v - ret) ** 2, (v_clip - ret) ** 2)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.axvspan(old_value - clip_eps_value, old_value + clip_eps_value, color="#c8e6c9", alpha=0.6,
               label="V_old ± ε_v")
    ax.plot(v, plain, ls="--", label="½(V − R)²")
    ax.plot(v, clipped, lw=2, label="clipped: ½·max((V − R)², (V_clip − R)²)")
    ax.axvline(ret, color="C3", lw=1, label=f"return R = {ret:+.1f}")
    ax.axvline(old_value, color="grey", lw=1, ls=":", label=f"V_old = {old_value:+.1f}")
    style_axes(ax, f"Value loss vs the new value (ε_v = {clip_eps_value:.2f})", "new value prediction V",
          "value loss (reward units²)")
    fig.tight_layout()
    return fig


def values_vs_returns(before: dict, after: dict, row: int = 0):
    """One completion's per-token values before and after training, against the returns (notebook 02)."""
    t = np.arange(after["values"].shape[1])
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.plot(t, before["values"][row].numpy(), "o-", label="value before training", color="grey")
    ax.plot(t, after["values"][row].numpy(), "o-", label="value after training", color="C0")
    ax.plot(t, after["returns"][row].numpy(), "s--", label="return R_t (after)", color="C3")
    ax.set_xticks(t)
    ax.set_xticklabels(after["tokens"][row], rotation=70, fontsize=7, family="monospace")
    style_axes(ax, f"Per-token values of a completion of {after['batch'].prompts[row]!r}", "response token",
          "expected reward (std units)")
    fig.tight_layout()
    return fig


def accuracy_curves(groups: dict, title: str):
    """Held-out pairwise accuracy during reward-model training; each group's seeds as a band."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
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
    fig.tight_layout()
    return fig


def score_histogram(pos, neg, threshold: float, title: str):
    """The reward model's scores of human-labelled positive and negative texts."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.linspace(min(np.min(pos), np.min(neg)), max(np.max(pos), np.max(neg)), 40)
    ax.hist(neg, bins=bins, alpha=0.6, label="negative reviews (human label)", color="C0")
    ax.hist(pos, bins=bins, alpha=0.6, label="positive reviews (human label)", color="C3")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"positive threshold {threshold:+.2f}")
    style_axes(ax, title, "reward-model score (std units)", "number of texts", grid=False)
    fig.tight_layout()
    return fig


def next_token_figure(tokens: list[str], probs, temperature: float, entropy: float, prompt: str):
    """The k most likely next tokens and their probabilities at one temperature (notebook 05)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(tokens))
    ax.bar(x, probs, color="#3367d6", label=f"T = {temperature:.2f}")
    ax.set_xticks(x, [repr(t)[1:-1] for t in tokens], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("next token (the most likely ones)")
    ax.set_ylabel("probability π(token | prompt)")
    ax.set_title(f"Next token after {prompt!r}: entropy S = {entropy:.2f} nats")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def term_bars(terms: dict[str, dict], title: str):
    """Two bar charts: each objective term's weighted value, and the norm of its gradient."""
    names = list(terms)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
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
    fig.tight_layout()
    return fig


def heatmap(grid, xs, ys, title: str, xlabel: str, ylabel: str, value_label: str):
    """A value per (y, x) setting as coloured cells, each cell annotated with its number."""
    grid = np.asarray(grid, dtype=float)                               # (len(ys), len(xs))
    fig, ax = plt.subplots(figsize=(1.6 * len(xs) + 3, 1.0 * len(ys) + 2))
    image = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f"{v:+.2f}", ha="center", va="center", color="white" if v < grid.mean() else "black")
    style_axes(ax, title, xlabel, ylabel, legend=False, grid=False)
    fig.colorbar(image, ax=ax, label=value_label)
    fig.tight_layout()
    return fig


def reward_vs_kl(groups: dict, title: str):
    """Each setting's path through (KL to the reference, reward): mean over seeds, one dot per iteration."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, runs in groups.items():
        kept = [r for r in runs if r.history]
        kl = ragged([r.metric("objective/kl") for r in kept])[0]
        reward = ragged([r.metric("env/reward_mean") for r in kept])[0]
        line, = ax.plot(kl, reward, marker="o", ms=3, label=runs_label(label, runs))
        if len(kl):
            ax.plot(kl[-1], reward[-1], marker="*", ms=14, color=line.get_color())
    style_axes(ax, title, LABELS["objective/kl"], LABELS["env/reward_mean"])
    fig.tight_layout()
    return fig


def proxy_vs_gold(groups: dict, title: str, gold: str = "gold/vader_mean"):
    """Proxy reward (left axis, solid) and the gold oracle's score (right axis, dashed) on one plot."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    right = ax.twinx()
    for label, runs in groups.items():
        line = seed_band(ax, runs, "env/reward_mean", f"{label}: proxy reward")
        seed_band(right, runs, gold, f"{label}: gold ({gold})", color=line.get_color(), alpha=0.12, ls="--")
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel(LABELS["env/reward_mean"] + " — solid")
    right.set_ylabel(LABELS.get(gold, gold) + " — dashed")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [wrapped(h.get_label()) for h in handles], fontsize=8, loc="upper left")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def kl_estimators(k1, k3, title: str):
    """Histograms of the per-token KL estimates k1 and k3 on the same tokens, with their means."""
    k1, k3 = np.asarray(k1).ravel(), np.asarray(k3).ravel()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bins = np.linspace(min(k1.min(), k3.min()), max(k1.max(), k3.max()), 60)
    for values, name, color in ((k1, "k1 = log π − log π_ref", "#3367d6"), (k3, "k3 = (r − 1) − log r", "#e8710a")):
        ax.hist(values, bins=bins, alpha=0.55, color=color, label=f"{name}  (mean {values.mean():.3f})")
        ax.axvline(values.mean(), color=color, ls="--")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("per-token KL estimate (nats)")
    ax.set_ylabel("number of tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
