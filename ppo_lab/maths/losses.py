"""The PPO losses, the KL penalty and the weighted objective, as pure functions of tensors.

Conventions: token-level tensors are `(B, T)` over response tokens with a boolean `mask` of valid
tokens; means run over all valid tokens of the batch. A *loss* is something to minimise, so
`policy_loss` is `−L_clip` and `ppo_loss` is `−(L_clip − c1·L_VF + c2·S)`. `stats` are Python floats.
Sources: Schulman et al. (2017) "Proximal Policy Optimization Algorithms"; the k1/k3 KL
estimators from J. Schulman, "Approximating KL divergence" (2020).
"""
from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ x·mask / Σ mask (0 when nothing is valid); padded values never leak in, not even NaN."""
    mask = mask.bool()
    return torch.where(mask, x, 0.0).sum() / mask.sum().clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Var(x) over the valid tokens: masked_mean((x − x̄)²) with x̄ = masked_mean(x) (no Bessel correction)."""
    return masked_mean((x - masked_mean(x, mask)) ** 2, mask)


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_eps: float | None, *, aggregation: str = "token_mean") -> tuple[torch.Tensor, dict]:
    """Clipped surrogate (tổn thất chính sách, notebook 04), negated to be minimised.

    ratio = exp(log π − log π_old);  loss = mean(max(−A·ratio, −A·clip(ratio, 1−ε, 1+ε))) = −L_clip.
    `clip_eps=None` drops the clip (the plain policy-gradient surrogate, for ablations); `aggregation` is the
    mean's kind (`aggregate`, notebook 09). logprobs, old_logprobs, advantages, mask (B, T) → loss () and stats
    (clipfrac, approx_kl, ratio_mean: always token means).
    """
    log_ratio = (logprobs - old_logprobs).masked_fill(~mask, 0.0)   # (B, T)
    ratio = torch.exp(log_ratio)                                      # (B, T)
    pg_loss1 = -advantages * ratio                                    # (B, T)
    if clip_eps is None:
        pg_loss = pg_loss1
    else:
        pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)  # (B, T)
        pg_loss = torch.max(pg_loss1, pg_loss2)
    loss = aggregate(pg_loss, mask, aggregation)                      # token_mean: masked_mean
    with torch.no_grad():  # diagnostics, as in CleanRL
        clipped = (ratio - 1.0).abs() > clip_eps if clip_eps is not None else torch.zeros_like(mask)
        stats = {"clipfrac": masked_mean(clipped.float(), mask).item(),
                 "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask).item(),  # k3
                 "ratio_mean": masked_mean(ratio, mask).item()}
    return loss, stats


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_eps_value: float | None) -> tuple[torch.Tensor, dict]:
    """Value loss (tổn thất giá trị, notebook 03): clipped squared error of V against the returns R.

    v_clip = V_old + clip(V − V_old, −ε_v, ε_v);  loss = ½·mean(max((V − R)², (v_clip − R)²)).
    `clip_eps_value=None` gives the plain ½·mean((V − R)²).
    values, old_values, returns, mask (B, T) → loss () and stats (vf_clipfrac).
    """
    vf_loss1 = (values - returns) ** 2                                # (B, T)
    if clip_eps_value is None:
        vf_loss, clipped = vf_loss1, torch.zeros_like(mask)
    else:
        v_clipped = old_values + torch.clamp(values - old_values, -clip_eps_value, clip_eps_value)
        vf_loss2 = (v_clipped - returns) ** 2                         # (B, T)
        vf_loss, clipped = torch.max(vf_loss1, vf_loss2), vf_loss2 > vf_loss1
    loss = 0.5 * masked_mean(vf_loss, mask)
    return loss, {"vf_clipfrac": masked_mean(clipped.float(), mask).item()}


def entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the next-token distributions (tổn thất entropy, notebook 05).

    S = −Σ_v p_v log p_v, from logits via log-softmax (stable for any logit size).
    """
    logits = logits if logits.dtype == torch.float64 else logits.float()
    logp = torch.log_softmax(logits, dim=-1)                  # (B, T, V)
    p_logp = logp.exp() * torch.where(logp > -torch.inf, logp, 0.0)  # 0·log 0 = 0, and a finite gradient
    per_token = -p_logp.sum(-1)                               # (B, T)
    return masked_mean(per_token, mask)


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from the sampled token's log-probs (notebook 06).

    k1 = log π − log π_ref;  k3 = (r − 1) − log r with r = π_ref/π (unbiased, always ≥ 0).
    """
    log_r = ref_logprobs - logprobs                           # (B, T)  log(π_ref/π)
    if estimator == "k1":
        return -log_r
    if estimator == "k3":
        return torch.expm1(log_r) - log_r
    raise ValueError(f"kl_estimator={estimator!r} is not an estimator; choose 'k1' or 'k3'")


def ppo_loss(pg_loss: torch.Tensor, vf_loss: torch.Tensor, entropy: torch.Tensor, vf_coef: float,
             ent_coef: float) -> torch.Tensor:
    """The PPO objective to minimise (notebook 06): −(L_clip − c1·L_VF + c2·S).

    = pg_loss + c1·vf_loss − c2·S, with pg_loss = −L_clip and vf_loss = L_VF.
    """
    return pg_loss + vf_coef * vf_loss - ent_coef * entropy


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log π(token) from logits `(B, T, V)` and tokens `(B, T)`: logit − logsumexp, no (B, T, V) copy."""
    logits = logits if logits.dtype == torch.float64 else logits.float()
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)     # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)                  # (B, T)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """One number from a per-token loss (N, T), as `loss_aggregation` says (only valid tokens ever count).

    token_mean: Σ_valid x / #valid in the batch (= masked_mean; a long completion weighs more).
    sequence_mean: each completion's mean over its valid tokens, then the mean over completions (GRPO); a completion
    with no valid token is left out, and all empty gives 0. constant: Σ_valid x / (N·T), T = per_token.shape[1]
    (Dr. GRPO, Liu et al. 2025: no length bias).
    """
    if mode not in ("token_mean", "sequence_mean", "constant"):
        raise ValueError(f"loss_aggregation={mode!r} is not a way to aggregate the loss; choose 'token_mean', "
                         "'sequence_mean' or 'constant'")
    if mode == "token_mean":
        return masked_mean(per_token, mask)
    mask = mask.bool()
    row_sums = torch.where(mask, per_token, 0.0).sum(dim=1)                 # (N,)  Σ_t over valid tokens
    if mode == "constant":
        return row_sums.sum() / max(per_token.shape[0] * per_token.shape[1], 1)
    lengths = mask.sum(dim=1)                                               # (N,)  valid tokens per completion
    row_means = row_sums / lengths.clamp(min=1)                             # (N,)  0 for an empty completion
    return row_means.sum() / (lengths > 0).sum().clamp(min=1)               # mean over non-empty completions


__all__ = ["aggregate", "entropy", "kl_per_token", "logprobs_from_logits", "masked_mean", "masked_var", "policy_loss",
           "ppo_loss", "value_loss"]
