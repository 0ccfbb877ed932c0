"""Figures of DPO's pieces (notebook 10): the KL-regularised optimum for several β, and the loss with its
gradient's weight. Both draw the package's own functions (`preference.kl_regularised_optimum`, `preference.dpo_loss`);
`plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...maths.preference import dpo_loss, kl_regularised_optimum
from .style import legend_below, style_axes


def optimum_bars(ref_probs, rewards, betas, title: str):
    """π_ref and π* = π_ref·exp(r/β)/Z for each β, as bars over the completions (labelled by their reward)."""
    ref, r = torch.as_tensor(ref_probs, dtype=torch.float64), torch.as_tensor(rewards, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    width, x = 0.8 / (len(betas) + 1), np.arange(len(ref))
    ax.bar(x - 0.4 + width / 2, ref.numpy(), width, color="grey", label="π_ref (the starting model)")
    for k, beta in enumerate(betas, start=1):
        ax.bar(x - 0.4 + width * (k + 0.5), kl_regularised_optimum(ref, r, beta).numpy(), width,
               label=f"π* for β = {beta:g}")
    ax.set_xticks(x, [f"y{i + 1}\nr = {v:+.1f}" for i, v in enumerate(r.tolist())])
    style_axes(ax, title, "completion (its reward r)", "probability", legend=False, grid="y")
    legend_below(fig, ax)
    return fig


def loss_and_weight(title: str, z_range: float = 6.0):
    """−log σ(z) (the DPO loss of one pair) and σ(−z) (the weight of its gradient) against the margin z."""
    z = torch.linspace(-z_range, z_range, 241, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros_like(z)
    per_pair = [dpo_loss(z[i:i + 1], zero[:1], zero[:1], zero[:1], 1.0)[0] for i in range(len(z))]
    loss = torch.stack(per_pair)                                                      # (241,)
    weight = -torch.autograd.grad(loss.sum(), z)[0]                                   # ∂(−loss)/∂z = σ(−z)
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    ax.plot(z.detach(), loss.detach(), label="loss −log σ(z)")
    ax.plot(z.detach(), weight, label="gradient weight σ(−z) = −∂loss/∂z")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.annotate("π = π_ref: z = 0, loss log 2", (0, float(np.log(2))), (1.2, 2.2), arrowprops={"arrowstyle": "->"})
    style_axes(ax, title, "margin z = β·[(log π − log π_ref)(y_w) − (log π − log π_ref)(y_l)]", "loss, weight",
               legend=False)
    legend_below(fig, ax)
    return fig


__all__ = ["loss_and_weight", "optimum_bars"]
