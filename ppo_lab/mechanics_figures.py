"""Figures of how PPO's pieces work, drawn from formulas rather than training runs: the PPO cycle (notebook 00),
L_clip and its gradient (04), GAE on one sequence (02), the clipped value loss (03), per-token values against
returns (02) and the objective's terms (06). The explorers in `widgets` redraw several of them.

Built on the shared figure machinery in `plots`, which re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .advantages import gae
from .plots import legend_below, style_axes


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


def gae_figure(rewards, values, gamma: float, lam: float):
    """Rewards, values, TD errors δ_t and GAE advantages A_t for one fixed sequence of tokens."""
    r = torch.tensor([rewards], dtype=torch.float64)
    v = torch.tensor([values], dtype=torch.float64)
    mask = torch.ones_like(r, dtype=torch.bool)
    advantages, _ = gae(r, v, mask, gamma, lam)                     # (1, T); the returns are not drawn
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
