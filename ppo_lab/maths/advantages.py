"""Advantages and returns (notebook 02): how much better each token did than the value head expected.

The critic-free family (notebook 09) needs no value head: each completion is scored against the other completions
of its prompt (GRPO, Dr. GRPO, RLOO), and that one number goes on every token of it (`broadcast_to_tokens`).
"""
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


# ====================================================================== the critic-free family (notebook 09)
def _groups(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """scores (N,) as (N/G, G): one row per prompt, its G consecutive completions; ValueError unless G ≥ 2 divides N."""
    if scores.dim() != 1:
        raise ValueError(f"scores must be one score per completion, shape (N,); got shape {tuple(scores.shape)}")
    n = scores.shape[0]
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2 or n % group_size:
        valid = [g for g in range(2, n + 1) if n % g == 0]
        raise ValueError(f"group_size={group_size!r} must be an integer G ≥ 2 that divides the number of scores "
                         f"N = {n} (consecutive groups of G completions of one prompt); valid here: {valid or 'none'}")
    return scores.reshape(-1, group_size)                                    # (N/G, G)


def same_scores(groups: torch.Tensor) -> torch.Tensor:
    """Which groups got the same score for all their G completions: no signal, their advantages are all 0.
    groups (N/G, G) → (N/G,) bool."""
    return (groups == groups[:, :1]).all(dim=1)                              # (N/G,)


def group_advantages(scores: torch.Tensor, group_size: int, scale: bool = True) -> torch.Tensor:
    """GRPO's group-relative advantage (Shao et al., 2024, DeepSeekMath): A_i = (r_i − mean_g) / (std_g + 1e-4).

    std_g is the sample standard deviation of the group (Bessel's correction, as torch.std). `scale=False` gives
    Dr. GRPO's A_i = r_i − mean_g (Liu et al., 2025, "Understanding R1-Zero-Like Training").
    A group whose scores are all equal gets exactly 0. scores (N,), G = group_size → advantages (N,).
    """
    groups = _groups(scores, group_size)                                     # (N/G, G)
    advantages = groups - groups.mean(dim=1, keepdim=True)                   # (N/G, G)  r_i − mean_g
    if scale:
        advantages = advantages / (groups.std(dim=1, keepdim=True) + 1e-4)   # (N/G, G)  ÷ (std_g + 1e-4)
    same = same_scores(groups)[:, None]                                      # (N/G, 1)  all equal: no signal,
    return torch.where(same, 0.0, advantages).reshape(-1)                    # (N,)  0 exactly, not ±ulp/1e-4


def rloo_advantages(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """REINFORCE leave-one-out (Kool et al., 2019; Ahmadian et al., 2024): A_i = r_i − mean_{j≠i} r_j.

    The baseline is the mean of the OTHER G − 1 scores of the group, (Σ_g r − r_i)/(G − 1); so A_i = G/(G−1)·(r_i −
    mean_g). A group whose scores are all equal gets exactly 0. scores (N,), G = group_size → advantages (N,).
    """
    groups = _groups(scores, group_size)                                     # (N/G, G)
    baseline = (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)  # (N/G, G)  mean_{j≠i} r_j
    same = same_scores(groups)[:, None]                                      # (N/G, 1)  all equal: no signal
    return torch.where(same, 0.0, groups - baseline).reshape(-1)             # (N,)


def broadcast_to_tokens(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A sequence-level advantage on every token of its completion: A_{i,t} = A_i where mask, 0 on padding.

    advantages (N,), mask (N, T) → (N, T).
    """
    if advantages.dim() != 1 or advantages.shape[0] != mask.shape[0]:
        raise ValueError(f"advantages must be one per completion, shape ({mask.shape[0]},) for a mask of shape "
                         f"{tuple(mask.shape)}; got shape {tuple(advantages.shape)}")
    return torch.where(mask.bool(), advantages[:, None], 0.0)                # (N, T)


__all__ = ["broadcast_to_tokens", "gae", "group_advantages", "rloo_advantages", "same_scores", "whiten"]
