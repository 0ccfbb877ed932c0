"""The full objective on one batch, term by term (notebook 06).

    L = L_clip − c1·L_VF + c2·S      (the engine minimises −L = pg_loss + c1·vf_loss − c2·S)

`objective_terms` splits one minibatch's loss into its three weighted terms and measures how hard
each one pulls on the policy's weights: the norm of its own gradient.
"""
from __future__ import annotations

import torch

from . import losses
from .config import PPOConfig
from .models import Models
from .rollout import Rollout, response_logits


def grad_norm(term: torch.Tensor, params: list[torch.Tensor]) -> float:
    """‖∂term/∂θ‖₂ over the given parameters (0 for a term that does not depend on them)."""
    grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None) or torch.zeros(())))


def objective_terms(models: Models, batch: Rollout, advantages, returns, config: PPOConfig) -> dict[str, dict]:
    """{term: {"value", "weighted", "grad_norm"}} for −L_clip, c1·L_VF and −c2·S on the whole batch.

    "value" is the unweighted term, "weighted" its share of the loss the optimiser sees, and
    "grad_norm" the norm of the weighted term's gradient with respect to the policy's weights.
    """
    params = [p for p in models.policy.parameters() if p.requires_grad]
    idx = torch.arange(len(batch.prompts))               # indexing, as in the engine's step: autograd-ready copies
    mask = batch.mask[idx]
    logits, values = response_logits(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                      config.response_length, config.temperature)          # (B, L, V), (B, L)
    logprobs = losses.logprobs_from_logits(logits, batch.response[idx])                     # (B, L)
    pg, _ = losses.policy_loss(logprobs, batch.logprobs[idx], advantages[idx], mask, config.clip_eps)
    vf, _ = losses.value_loss(values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    s = losses.entropy(logits, mask)
    weighted = {"policy  −L_clip": (pg, pg), "value  c1·L_VF": (vf, config.vf_coef * vf),
                "entropy  −c2·S": (s, -config.ent_coef * s)}
    return {name: {"value": raw.item(), "weighted": w.item(), "grad_norm": grad_norm(w, params)}
            for name, (raw, w) in weighted.items()}
