"""Per-token rewards: the reward model's score at the end, a KL penalty on every token (notebook 06); and the
sequence reward of the critic-free family (notebook 09)."""
from __future__ import annotations

import torch


def per_token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """r_t = −β·KL_t on every valid token, plus the score at the last valid token (Ziegler et al., 2019).

    scores (B,), kl (B, T), mask (B, T) → rewards (B, T).
    """
    rewards = -kl_coef * kl * mask                                    # (B, T)
    last = mask.long().sum(1).clamp(min=1) - 1                        # (B,) index of the last valid token
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def sequence_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """One reward per completion for the critic-free family (notebook 09): R = score − β·Σ_t KL_t over its valid
    tokens (the sum of its per-token rewards). scores (B,), kl (B, T), mask (B, T) → R (B,).
    """
    return scores - kl_coef * torch.where(mask.bool(), kl, 0.0).sum(dim=1)  # (B,)


def adaptive_kl_coef(kl_coef: float, kl: float, kl_target: float, horizon: int, n: int) -> float:
    """Adaptive β (Ziegler et al., 2019): e = clip(KL/target − 1, −0.2, 0.2); β ← β·(1 + e·n/horizon).

    kl: mean KL per completion this rollout; n: completions in it.
    """
    error = min(max(kl / kl_target - 1.0, -0.2), 0.2)
    return kl_coef * (1.0 + error * n / horizon)


__all__ = ["adaptive_kl_coef", "per_token_rewards", "sequence_rewards"]
