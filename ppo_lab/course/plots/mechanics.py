"""Figures of how PPO's pieces work: the PPO cycle (notebook 00), L_clip and its gradient (04), GAE on one
sequence (02), the clipped value loss (03), per-token values against returns (02) and the objective's terms (06).
The explorers in `widgets` redraw several of them.

The curves of L_clip, the value loss and GAE are the package's own functions (`losses.policy_loss`,
`losses.value_loss`, `advantages.gae`) evaluated on a grid, so the picture is the code the trainer runs.
Built on the shared figure machinery in `plots.style`; `plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...maths.advantages import gae
from ...maths.losses import policy_loss, value_loss
from .style import legend_below, style_axes

F64 = torch.float64
TINY = float(np.finfo(float).tiny)    # the smallest normal float: stands in for r = 0, where log r = −∞ has no slope


def ppo_cycle_diagram():
    """The PPO cycle as boxes and arrows: Phase I (rollout, scoring) and Phase II (updates)."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")                                        # a diagram: no axes to label, only the title
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


def per_token(loss_fn, tensors, clip_eps) -> torch.Tensor:
    """A package loss (`policy_loss` or `value_loss`: three (B, T) tensors, the mask, ε) at each grid point on
    its own: point i is a batch of one token, so the loss's mean over valid tokens is that token's loss."""
    one = torch.ones(1, 1, dtype=torch.bool)                                        # (1, 1) the token is valid
    columns = torch.broadcast_tensors(*tensors)                                     # 3 × (N,)
    return torch.stack([loss_fn(*(c[i].view(1, 1) for c in columns), one, clip_eps)[0] for i in range(len(columns[0]))])


def clip_objective(ratio, advantage: float, clip_eps):
    """Per-token L_clip = min(r·A, clip(r, 1−ε, 1+ε)·A) and its derivative d L_clip / d r, from `policy_loss`.

    One token per ratio r: log π_old = 0 and log π = log r; `policy_loss` returns −L_clip, so it is negated.
    The derivative is autograd's, the very gradient the trainer follows.
    """
    shape = np.shape(ratio)
    r = torch.tensor(np.maximum(np.ravel(ratio), TINY), dtype=F64, requires_grad=True)  # (N,) r, 0 → TINY
    logprobs = torch.log(r)                                                         # (N,) log π, with log π_old = 0
    old_logprobs, advantages = torch.zeros((), dtype=F64), torch.tensor(float(advantage), dtype=F64)  # every token
    objective = -per_token(policy_loss, (logprobs, old_logprobs, advantages), clip_eps)          # (N,) L_clip
    grad, = torch.autograd.grad(objective.sum(), r)                  # token i's objective depends on r_i alone
    return objective.detach().numpy().reshape(shape), grad.numpy().reshape(shape)


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
    ax1.plot(r, r * advantage, ls="--", color="grey", label="unclipped r·A")
    ax1.plot(r, obj, lw=2, label="L_clip = min(r·A, clip(r)·A)")
    ax2.plot(r, grad, lw=2, color="C3", label="∂L_clip/∂r")
    style_axes(ax1, f"L_clip for A = {advantage:+.0f}, ε = {clip_eps:.2f}", "probability ratio r = π_θ / π_old",
               "per-token objective (advantage units)", legend=False)
    style_axes(ax2, "Where PPO still pushes: the gradient", "probability ratio r = π_θ / π_old",
               "gradient w.r.t. the ratio", legend=False)
    legend_below(fig, [ax1, ax2], ncol=4)
    return fig


def gae_lines(rewards, values, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """TD errors δ_t and GAE advantages A_t of one sequence, both from `advantages.gae`: at λ = 0,
    A_t = δ_t + γ·0·A_{t+1} is the TD error itself."""
    r, v = torch.tensor([rewards], dtype=F64), torch.tensor([values], dtype=F64)   # (1, T)
    mask = torch.ones_like(r, dtype=torch.bool)                                     # (1, T)
    delta, _ = gae(r, v, mask, gamma, 0.0)                                          # (1, T) δ_t
    advantages, _ = gae(r, v, mask, gamma, lam)                                     # (1, T); returns not drawn
    return delta[0].numpy(), advantages[0].numpy()


def gae_figure(rewards, values, gamma: float, lam: float):
    """Rewards, values, TD errors δ_t and GAE advantages A_t for one fixed sequence of tokens."""
    delta, advantages = gae_lines(rewards, values, gamma, lam)
    t = np.arange(len(rewards))
    fig, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
    ax.bar(t - 0.2, np.asarray(rewards), width=0.4, label="reward r_t", color="#9e9e9e")
    ax.plot(t, np.asarray(values), "o-", label="value V(s_t)", color="C0")
    ax.plot(t, delta, "s--", label="TD error δ_t", color="C2", alpha=0.7)
    ax.bar(t + 0.2, advantages, width=0.4, label="advantage A_t (GAE)", color="C3")
    ax.axhline(0, color="black", lw=0.6)
    style_axes(ax, f"GAE with γ = {gamma:.2f}, λ = {lam:.2f}", "response token t", "reward units", ncol=4)
    return fig


def value_loss_curves(v, old_value: float, ret: float, clip_eps_value: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-token ½(V − R)² and ½·max((V − R)², (v_clip − R)²) at each new value V, from `losses.value_loss`
    (without and with its clip)."""
    tensors = (torch.tensor(np.ravel(v), dtype=F64), torch.tensor(float(old_value), dtype=F64),
               torch.tensor(float(ret), dtype=F64))                                 # V (N,), V_old, R
    with torch.no_grad():
        plain, clipped = per_token(value_loss, tensors, None), per_token(value_loss, tensors, clip_eps_value)
    return plain.numpy().reshape(np.shape(v)), clipped.numpy().reshape(np.shape(v))


def value_loss_figure(old_value: float, ret: float, clip_eps_value: float):
    """Plain ½(V − R)² and the clipped value loss against the new value V, with the clip range shaded."""
    v = np.linspace(ret - 3, ret + 3, 401)
    plain, clipped = value_loss_curves(v, old_value, ret, clip_eps_value)
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
        ax.axhline(0, color="black", lw=0.8)
        style_axes(ax, label, "term of −L = −L_clip + c1·L_VF − c2·S", label, legend=False, grid="y")
    fig.suptitle(title)
    return fig


__all__ = ["CLIP_CASES", "clip_explorer_figure", "clip_objective", "F64", "gae_figure", "gae_lines", "per_token",
           "ppo_cycle_diagram", "term_bars", "TINY", "value_loss_curves", "value_loss_figure", "values_vs_returns"]
