"""Advantages and returns (notebook 02): how much better each token did than the value head expected."""
from __future__ import annotations

import torch

from .losses import masked_mean, masked_var


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Advantage Estimation (Schulman et al., 2016), vectorised over the batch.

    δ_t = r_t + γ·V_{t+1} − V_t;  A_t = δ_t + γλ·A_{t+1};  returns R_t = A_t + V_t.
    After the last valid token V and A are 0 (the episode ends); padded positions get 0.
    rewards, values, mask (B, T) → advantages, returns (B, T).
    """
    mask = mask.bool()
    values, rewards = torch.where(mask, values, 0.0), torch.where(mask, rewards, 0.0)  # (B, T)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # (B, T) V_{t+1}
    deltas = rewards + gamma * next_values - values                    # (B, T) δ_t
    advantages = torch.zeros_like(values)                              # (B, T)
    last = torch.zeros_like(values[:, 0])                              # (B,)  A_{t+1}
    for t in reversed(range(values.shape[1])):
        last = torch.where(mask[:, t], deltas[:, t] + gamma * lam * last, 0.0)  # A_t, cut at padding
        advantages[:, t] = last
    return advantages, advantages + values                             # padded: 0 + 0


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x − mean) / std over the valid tokens; with `shift_mean=False` the mean is kept.

    Padded positions come back as 0.
    """
    mean = masked_mean(x, mask)
    var = masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return torch.where(mask.bool(), out, 0.0)
