"""Losses on preference pairs, as pure functions of tensors: a chosen and a rejected answer to the same prompt.

Bradley–Terry for the reward model (notebook 01), and DPO for the policy (notebook 10): notebook 06's
KL-regularised optimum solved in closed form, so the policy's own log-ratio is the reward (Rafailov et al., 2023).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """loss = −mean log σ(r_chosen − r_rejected): the chosen text should outscore the rejected one."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def kl_regularised_optimum(ref_probs: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """The policy that maximises E_π[r] − β·KL(π ‖ π_ref) over a finite set of completions (notebooks 06 and 10):

        π*(y) = π_ref(y)·exp(r(y)/β) / Z,   Z = Σ_y π_ref(y)·exp(r(y)/β),

    so β·log(π*(y)/π_ref(y)) = r(y) − β·log Z: the reward, up to a constant (DPO's implicit reward). ref_probs,
    rewards (K,) → π* (K,), as a softmax of log π_ref + r/β (no overflow for a small β).
    """
    if not beta > 0:
        raise ValueError(f"beta={beta!r} must be > 0 (the KL penalty's weight)")
    return torch.softmax(torch.log(ref_probs) + rewards / beta, dim=-1)


def sequence_logps(token_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(y | x) of whole completions (DPO, notebook 10): Σ_t log π(y_t | x, y_<t) over each row's valid tokens.

    token_logps, mask (N, T) → (N,). The sum, not the mean: DPO's implicit reward is the log-ratio of the whole
    completion's probability, and a mean would change with its length.
    """
    return torch.where(mask.bool(), token_logps, 0.0).sum(dim=1)


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
             ref_rejected_logps: torch.Tensor, beta: float) -> tuple[torch.Tensor, dict]:
    """Direct Preference Optimization (Rafailov et al., 2023) on sequence log-probs (sums over each completion's
    valid tokens), all (B,): the implicit reward of a completion is β·(log π(y) − log π_ref(y)), and

        z = β·[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))],   loss = mean(−log σ(z)),

    computed with `logsigmoid` (finite for any margin). `stats` (Python floats, TRL's names): `rewards/chosen`,
    `rewards/rejected` (mean implicit rewards), `rewards/margins` (mean z), `rewards/accuracies` (fraction z > 0).
    """
    if not 0 < beta < math.inf:
        raise ValueError(f"beta={beta!r} must be a finite number > 0 (DPO's β, the strength of the pull to the "
                         "reference)")
    chosen = beta * (policy_chosen_logps - ref_chosen_logps)                          # (B,)
    rejected = beta * (policy_rejected_logps - ref_rejected_logps)                    # (B,)
    z = chosen - rejected                                                              # (B,)
    loss = -torch.nn.functional.logsigmoid(z).mean()
    stats = {"rewards/chosen": chosen.mean().item(), "rewards/rejected": rejected.mean().item(),
             "rewards/margins": z.mean().item(), "rewards/accuracies": (z > 0).float().mean().item()}
    return loss, stats


__all__ = ["bradley_terry_loss", "dpo_loss", "kl_regularised_optimum", "sequence_logps"]
