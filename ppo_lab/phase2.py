"""Phase II (giai đoạn II, notebooks 00 and 06) on one minibatch: the terms of L from one forward pass of the
policy, the weighted loss, backpropagation (lan truyền ngược) and one Adam step.

    L = L_clip − c1·L_VF + c2·S   (− β·KL with kl_in == "loss": GRPO)    the engine minimises −L

`trainer.iteration` calls `ppo_step` for every minibatch; `objective.objective_terms` and the token inspector
call the same functions, so what they show is what the engine does.
"""
from __future__ import annotations

import torch

from . import losses
from .config import PPOConfig
from .models import Models
from .rollout import Rollout, response_logprobs
from .run_checks import check_finite


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
    if config.advantage_estimator == "gae":
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
