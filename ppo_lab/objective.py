"""The full objective on one batch, term by term (notebook 06).

    L = L_clip − c1·L_VF + c2·S      (the engine minimises −L = pg_loss + c1·vf_loss − c2·S)
                                     (+ β·KL with kl_in == "loss"; the critic-free family has no L_VF)

`objective_terms` splits one minibatch's loss into its three weighted terms and measures how hard
each one pulls on the policy's weights: the norm of its own gradient.
"""
from __future__ import annotations

import torch

from .config import PPOConfig
from .models import Models
from .phase2 import minibatch_terms
from .rollout import Rollout
from .run_checks import check_overrides
from .trainer import engine_functions


def grad_norm(term: torch.Tensor, params: list[torch.Tensor]) -> float:
    """‖∂term/∂θ‖₂ over the given parameters (0 for a term that does not depend on them)."""
    if not term.requires_grad:                           # e.g. the critic-free family's absent value loss
        return 0.0
    grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None) or torch.zeros(())))


def objective_terms(models: Models, batch: Rollout, advantages, returns, config: PPOConfig,
                    overrides: dict | None = None) -> dict[str, dict]:
    """{term: {"value", "weighted", "grad_norm"}} for −L_clip, c1·L_VF and −c2·S on the whole batch, and β·KL
    (β = config.kl_coef) when kl_in == "loss".

    "value" is the unweighted term, "weighted" its share of the loss the optimiser sees, and
    "grad_norm" the norm of the weighted term's gradient with respect to the policy's weights.
    The terms are the engine's own (`phase2.minibatch_terms`): `overrides` swaps engine functions as in
    `train(..., overrides=...)`, so the chart shows a learner's functions.
    """
    fns = engine_functions(overrides)
    check_overrides(fns, config)
    params = [p for p in models.policy.parameters() if p.requires_grad]
    idx = torch.arange(len(batch.prompts))               # indexing, as in the engine's step: autograd-ready copies
    terms, _ = minibatch_terms(models, batch, idx, advantages, returns, config, fns, with_entropy=True)  # S at c2=0 too
    pg, vf, s = terms["policy"], terms["value"], terms["entropy"]
    weighted = {"policy  −L_clip": (pg, pg), "value  c1·L_VF": (vf, config.vf_coef * vf),
                "entropy  −c2·S": (s, -config.ent_coef * s)}
    if "kl" in terms:
        weighted["KL  β·KL"] = (terms["kl"], config.kl_coef * terms["kl"])
    return {name: {"value": raw.item(), "weighted": w.item(), "grad_norm": grad_norm(w, params)}
            for name, (raw, w) in weighted.items()}
