"""Typical slips in the implement-it functions: each is the right formula with exactly one mistake, as a learner
makes it (a mean over padding, min for max, a missing reference model, ...).

When a learner's function fails some checks, `checker` runs these slips on the same battery: the one that fails
the same checks with the same numbers is the learner's slip, and its hint is the one shown — not the hints of every
case the slip happens to trip. `SLIPS` names each slip's hint by a phrase of it: a case's hint in the batteries
(`losses`, `advantages`, `preference`, `verifiable`), or the checker's own message for a slip it names itself (no
gradient, a tensor in the stats, an input changed in place).
"""
from __future__ import annotations

import math

import torch


def _mean(x, mask):
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum()


def _stats(ratio, log_ratio, mask, clip_eps):
    with torch.no_grad():
        outside = (ratio - 1).abs() > clip_eps if clip_eps is not None else torch.zeros_like(mask)
        return {"clipfrac": _mean(outside.float(), mask).item(), "approx_kl": _mean(ratio - 1 - log_ratio, mask).item(),
                "ratio_mean": _mean(ratio, mask).item()}


def _policy(logprobs, old_logprobs, advantages, mask, clip_eps, *, pick=torch.max, clip_advantage=False,
            average=_mean, ratio_fn=None, stats=_stats):
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio) if ratio_fn is None else ratio_fn(logprobs, old_logprobs)
    if clip_eps is None:
        pg = -advantages * ratio
    elif clip_advantage:   # clips A instead of r
        pg = pick(-advantages * ratio, -torch.clamp(advantages, 1 - clip_eps, 1 + clip_eps) * ratio)
    else:
        pg = pick(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps))
    return average(pg, mask), stats(ratio, log_ratio, mask, clip_eps)


def policy_no_mask(*args):
    return _policy(*args, average=lambda x, mask: x.mean())                       # mean over padding too


def policy_min(*args):
    return _policy(*args, pick=torch.min)                                         # min of the negated terms


def policy_clips_advantage(*args):
    return _policy(*args, clip_advantage=True)


def policy_ratio_of_probabilities(*args):
    return _policy(*args, ratio_fn=lambda lp, old: torch.exp(lp) / torch.exp(old))  # 0/0 for tiny log-probs


def policy_detaches_new_logprobs(logprobs, *args):
    return _policy(logprobs.detach(), *args)                                      # detached the wrong side


def policy_tensor_stats(*args):
    def tensor_stats(ratio, log_ratio, mask, clip_eps):
        return {"clipfrac": _mean(((ratio - 1).abs() > clip_eps).float(), mask), "ratio_mean": _mean(ratio, mask),
                "approx_kl": _mean(ratio - 1 - log_ratio, mask)}                  # no .item(): graph kept alive
    return _policy(*args, stats=tensor_stats)


def _value(values, old_values, returns, mask, eps, *, average=_mean, pick=torch.max, centre=None, old_in_clip=None):
    error = (values - returns) ** 2
    if eps is None:
        return 0.5 * average(error, mask), {"vf_clipfrac": 0.0}
    if centre == "zero":
        v_clip = torch.clamp(values, -eps, eps)                                   # clips V, not V − V_old
    else:
        v_clip = old_values + torch.clamp(values - (old_values if old_in_clip is None else old_in_clip), -eps, eps)
    error_clip = (v_clip - returns) ** 2
    clipfrac = _mean((error_clip > error).float(), mask).item()
    return 0.5 * average(pick(error, error_clip), mask), {"vf_clipfrac": clipfrac}


def value_no_mask(*args):
    return _value(*args, average=lambda x, mask: x.mean())


def value_min(*args):
    return _value(*args, pick=torch.min)


def value_clip_around_zero(*args):
    return _value(*args, centre="zero")


def value_old_values_half_detached(values, old_values, *args):
    # V_old detached inside the clip but not outside it: gradient leaks into V_old where the two errors tie
    return _value(values, old_values, *args, old_in_clip=old_values.detach())


def entropy_from_probabilities(logits, mask):
    p = torch.softmax(logits, dim=-1)
    return _mean(-(p * torch.log(p)).sum(-1), mask)                              # 0·log 0 = NaN


def entropy_no_mask(logits, mask):
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1).mean()


def entropy_mean_over_vocabulary(logits, mask):
    logp = torch.log_softmax(logits, dim=-1)
    return _mean(-(logp.exp() * logp).mean(-1), mask)


def kl_wrong_direction(logprobs, ref_logprobs, estimator="k1"):
    log_r = logprobs - ref_logprobs                                               # log(π/π_ref): upside down
    return -log_r if estimator == "k1" else torch.expm1(log_r) - log_r


def kl_k3_is_k2(logprobs, ref_logprobs, estimator="k1"):
    log_r = ref_logprobs - logprobs
    return -log_r if estimator == "k1" else 0.5 * log_r ** 2                       # k2 instead of k3


def kl_from_probabilities(logprobs, ref_logprobs, estimator="k1"):
    r = torch.exp(ref_logprobs) / torch.exp(logprobs)                            # 0/0 for tiny log-probs
    return -torch.log(r) if estimator == "k1" else (r - 1) - torch.log(r)


def ppo_loss_value_as_number(pg_loss, vf_loss, entropy, vf_coef, ent_coef):
    return pg_loss + vf_coef * vf_loss.item() - ent_coef * entropy                # .item() cuts the gradient


def ppo_loss_entropy_sign(pg_loss, vf_loss, entropy, vf_coef, ent_coef):
    return pg_loss + vf_coef * vf_loss + ent_coef * entropy


def _gae(rewards, values, mask, gamma, lam, *, cut=True, in_place=False):
    T = rewards.shape[1]
    values = values * mask if cut else values
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)
    deltas = rewards + gamma * next_values - values
    advantages = rewards if in_place else torch.zeros_like(rewards)               # in place: writes into rewards
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        last = deltas[:, t] + gamma * lam * last
        if cut:
            last = last * mask[:, t]
        advantages[:, t] = last
    return advantages * mask, (advantages + values) * mask


def gae_no_cutoff(*args):
    return _gae(*args, cut=False)                                                 # bootstraps from padding


def gae_in_place(*args):
    return _gae(*args, in_place=True)


def _group(scores, group_size, scale=True, *, grouped=True, eps=1e-4, correction=1):
    groups = scores.view(-1, group_size) if grouped else scores.view(1, -1)   # not grouped: the whole batch
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        spread = groups.std(dim=1, keepdim=True, correction=correction)
        centred = centred / (spread + eps if eps else spread)
    return centred.flatten()


def group_whole_batch(*args):
    return _group(*args, grouped=False)


def group_divides_by_std(*args):
    return _group(*args, eps=0)                                                   # 0/0 = NaN on an all-equal group


def group_population_std(*args):
    return _group(*args, correction=0)                                            # torch.std(unbiased=False)


def group_in_place(scores, group_size, scale=True):
    groups = scores.view(-1, group_size)
    groups -= groups.mean(dim=1, keepdim=True)                                    # writes into the scores
    return (groups / (groups.std(dim=1, keepdim=True) + 1e-4) if scale else groups).flatten()


def rloo_mean_includes_self(scores, group_size):
    groups = scores.view(-1, group_size)
    return (groups - groups.mean(dim=1, keepdim=True)).flatten()                  # r_i is in its own baseline


def rloo_whole_batch(scores, group_size):
    return scores - (scores.sum() - scores) / (scores.numel() - 1)                # the others of the whole batch


def _dpo(chosen, rejected, stable=True):
    z = chosen - rejected
    loss = -torch.nn.functional.logsigmoid(z).mean() if stable else -torch.log(torch.sigmoid(z)).mean()
    return loss, {"rewards/chosen": chosen.mean().item(), "rewards/rejected": rejected.mean().item(),
                  "rewards/margins": z.mean().item(), "rewards/accuracies": (z > 0).float().mean().item()}


def dpo_no_reference(pc, pr, rc, rr, beta):
    return _dpo(beta * pc, beta * pr)                                             # log π alone: no π_ref


def dpo_sign_flipped(pc, pr, rc, rr, beta):
    return _dpo(beta * (pr - rr), beta * (pc - rc))                               # rejected minus chosen


def dpo_beta_one_side(pc, pr, rc, rr, beta):
    return _dpo(beta * (pc - rc), pr - rr)                                        # β on the chosen side only


def dpo_log_of_sigmoid(pc, pr, rc, rr, beta):
    return _dpo(beta * (pc - rc), beta * (pr - rr), stable=False)                 # log(σ(z)): −inf for z ≪ 0


def dpo_sum_over_pairs(pc, pr, rc, rr, beta):
    loss, stats = _dpo(beta * (pc - rc), beta * (pr - rr))
    return loss * len(pc), stats                                                  # Σ over pairs, not the mean


def sequence_mean_not_sum(token_logps, mask):
    mask = mask.bool()
    return torch.where(mask, token_logps, 0.0).sum(1) / mask.sum(1).clamp(min=1)  # the mean of the token log-probs


def sequence_padding_counted(token_logps, mask):
    return token_logps.sum(1)                                                     # padding summed too


def pass_with_replacement(n, c, k):
    return 1 - (1 - c / n) ** k


def pass_ignores_k(n, c, k):
    return c / n


def pass_in_floats(n, c, k):
    comb = lambda a, b: math.gamma(a + 1) / (math.gamma(b + 1) * math.gamma(a - b + 1)) if a >= b else 0.0
    return 1 - comb(n - c, k) / comb(n, k)


def pass_log_binomials(n, c, k):                     # logs of C(n − c, k): fails where n − c < k
    lc = lambda a, b: math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)
    return 1 - math.exp(lc(n - c, k) - lc(n, k))


SLIPS = {  # function: [(a slip, a phrase of the hint or of the message that names it)]
    "policy_loss": [
        (policy_no_mask, "Padded tokens (mask=False) must not count"),
        (policy_min, "take the max of the negated terms"),
        (policy_clips_advantage, "clip the ratio r, not the advantage A"),
        (policy_ratio_of_probabilities, "compute the ratio as exp(log π − log π_old)"),
        (policy_detaches_new_logprobs, "no gradient reaches `logprobs`"),
        (policy_tensor_stats, "use .item()"),
    ],
    "value_loss": [
        (value_no_mask, "Padded tokens (mask=False) must not count"),
        (value_min, "the LARGER (pessimistic)"),
        (value_clip_around_zero, "Clip the CHANGE V − V_old"),
        (value_old_values_half_detached, "gradient leaks into `old_values`"),
    ],
    "entropy": [
        (entropy_from_probabilities, "0·log 0 = 0, never NaN"),
        (entropy_no_mask, "Padded tokens (mask=False) must not count"),
        (entropy_mean_over_vocabulary, "SUM over the vocabulary"),
    ],
    "kl_per_token": [
        (kl_wrong_direction, "the policy's log-prob first"),
        (kl_k3_is_k2, "k3 = (r − 1) − log r"),
        (kl_from_probabilities, "work with differences of log-probs"),
    ],
    "ppo_loss": [
        (ppo_loss_value_as_number, "no gradient reaches `vf_loss`"),
        (ppo_loss_entropy_sign, "pg_loss + c1·vf_loss − c2·S"),
    ],
    "gae": [
        (gae_no_cutoff, "never bootstrap from padding"),
        (gae_in_place, "changed its input `rewards` in place"),
    ],
    "group_advantages": [
        (group_whole_batch, "never over the whole batch"),
        (group_divides_by_std, "instead of 0/0 = NaN"),
        (group_population_std, "not unbiased=False"),
        (group_in_place, "changed its input `scores` in place"),
    ],
    "rloo_advantages": [
        (rloo_mean_includes_self, "leave r_i out"),
        (rloo_whole_batch, "never over the whole batch"),
    ],
    "dpo_loss": [
        (dpo_no_reference, "MINUS the reference's"),
        (dpo_sign_flipped, "chosen minus rejected"),
        (dpo_beta_one_side, "β multiplies BOTH log-ratios"),
        (dpo_log_of_sigmoid, "logsigmoid(z)"),
        (dpo_sum_over_pairs, "MEAN over the pairs"),
    ],
    "sequence_logps": [
        (sequence_mean_not_sum, "SUM of its tokens' log-probs"),
        (sequence_padding_counted, "leave them out of the sum"),
    ],
    "pass_at_k": [
        (pass_with_replacement, "WITHOUT replacement"),
        (pass_ignores_k, "pass@k grows with k"),
        (pass_in_floats, "overflow"),
        (pass_log_binomials, "fewer than k answers are wrong"),
    ],
}


__all__ = ["SLIPS"]
