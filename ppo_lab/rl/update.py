"""Phase II (giai đoạn II, notebooks 00 and 06) on one minibatch: the terms of L from one forward pass of the
policy, the weighted loss, backpropagation (lan truyền ngược) and one Adam step.

    L = L_clip − c1·L_VF + c2·S   (− β·KL with kl_in == "loss": GRPO)    the engine minimises −L

`ppo.iteration` calls `ppo_step` for every minibatch; `objective_terms` (notebook 06: each weighted term and how
hard it pulls on the weights) and the token inspector call the same functions, so what they show is what training
does.
"""
from __future__ import annotations

import torch

from ..config import PPOConfig
from ..maths import advantages as adv_lib, losses
from ..world.models import Models
from .checks import check_finite, check_overrides
from .loop import functions
from .rollout import Rollout, response_logprobs

# the pure functions a PPO run calls; `train(..., overrides=...)` may swap any of them for a run
PPO_FUNCTIONS = {
    "policy_loss": losses.policy_loss, "value_loss": losses.value_loss, "entropy": losses.entropy,
    "kl_per_token": losses.kl_per_token, "ppo_loss": losses.ppo_loss, "gae": adv_lib.gae,
    "group_advantages": adv_lib.group_advantages, "rloo_advantages": adv_lib.rloo_advantages,
}


def minibatch_terms(models: Models, batch: Rollout, idx, advantages, returns, config: PPOConfig, fns: dict,
                    with_entropy: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """Every term of L on the minibatch `idx`, from one forward pass of the policy, and their stats:
    {"policy": −L_clip, "value": L_VF, "entropy": S} and, with kl_in == "loss", "kl": KL(π_θ ‖ π_ref).

    S is computed only `with_entropy` (else 0). The critic-free family has no value loss: c1·L_VF is not in its
    objective, so "value" is 0. Policy loss and KL are aggregated as `config.loss_aggregation` says.
    Each term is a 0-d tensor.
    """
    logits, logprobs, values = response_logprobs(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                                 batch.response[idx], config)    # (b, L, V), (b, L), (b, L)
    mask, how = batch.mask[idx], config.loss_aggregation                           # (b, L)
    # a learner's 5-argument policy_loss works at the default; any other aggregation is passed by name
    kwargs = {} if how == "token_mean" else {"aggregation": how}
    pg_loss, pg_stats = fns["policy_loss"](logprobs, batch.logprobs[idx], advantages[idx], mask, config.clip_eps,
                                           **kwargs)
    if config.has_critic:
        vf_loss, vf_stats = fns["value_loss"](values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    else:
        vf_loss, vf_stats = torch.zeros(()), {"vf_clipfrac": 0.0}
    terms = {"policy": pg_loss, "value": vf_loss,
             "entropy": fns["entropy"](logits, mask) if with_entropy else torch.zeros(())}
    if config.kl_in == "loss":                                                     # GRPO: the KL in the loss
        kl = fns["kl_per_token"](logprobs, batch.ref_logprobs[idx], config.kl_estimator)          # (b, L)
        terms["kl"] = losses.aggregate(kl, mask, how)
    return terms, {**pg_stats, **vf_stats}


def loss_terms(models: Models, batch: Rollout, idx, advantages, returns, config: PPOConfig, fns: dict,
               with_entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """The three PPO terms of L on the minibatch `idx` (notebook 06): pg_loss = −L_clip, vf_loss = L_VF and S,
    with their stats; `minibatch_terms` without the KL of kl_in == "loss"."""
    terms, stats = minibatch_terms(models, batch, idx, advantages, returns, config, fns, with_entropy)
    return terms["policy"], terms["value"], terms["entropy"], stats


def ppo_step(models: Models, optimizer, batch: Rollout, idx, advantages, returns, config, fns,
             kl_coef: float | None = None) -> dict:
    """One minibatch of Phase II: the terms, the weighted loss, backprop, Adam.

    loss = pg_loss + c1·vf_loss − c2·S, + β·KL when kl_in == "loss" (β = `kl_coef`, default `config.kl_coef`).
    """
    # S: only computed when it is in the objective (the rollout logs π_old's entropy either way)
    terms, stats = minibatch_terms(models, batch, idx, advantages, returns, config, fns,
                                   with_entropy=config.ent_coef > 0)
    pg_loss, vf_loss, entropy = terms["policy"], terms["value"], terms["entropy"]
    loss = fns["ppo_loss"](pg_loss, vf_loss, entropy, config.vf_coef, config.ent_coef)
    if "kl" in terms:                                                              # + β·KL(π_θ ‖ π_ref)
        loss = loss + (config.kl_coef if kl_coef is None else kl_coef) * terms["kl"]
        stats["loss/kl"] = terms["kl"].item()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(models.policy.parameters(), config.max_grad_norm)
    check_finite({"loss/total": loss, "grad_norm": grad_norm})
    optimizer.step()
    return {"loss/policy": pg_loss.item(), "loss/value": vf_loss.item(), "loss/total": loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), **stats}


# ====================================================================== the objective, term by term (notebook 06)
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
    The terms are training's own (`minibatch_terms`): `overrides` swaps the functions as in
    `train(..., overrides=...)`, so the chart shows a learner's functions.
    """
    fns = functions(PPO_FUNCTIONS, overrides, "PPO")
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


__all__ = ["grad_norm", "loss_terms", "minibatch_terms", "objective_terms", "PPO_FUNCTIONS", "ppo_step"]
