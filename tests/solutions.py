"""Engine functions written the way a learner writes them from the docstring formulas (tests only).

Independent of `ppo_lab.maths.losses` / `ppo_lab.maths.advantages`: plain `(x·mask).sum() / mask.sum()` means,
a Python loop for GAE, a loop over the groups for GRPO and RLOO. `check_impl` must accept every one, and
training with any engine function of them in place of the package's must give the same run.
"""
import math

import torch


def policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps):
    mask = mask.float()
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    if clip_eps is None:
        objective = unclipped
    else:
        objective = torch.min(unclipped, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * advantages)
    loss = -(objective * mask).sum() / mask.sum()
    with torch.no_grad():
        n = mask.sum()
        outside = (ratio > 1 + clip_eps) | (ratio < 1 - clip_eps) if clip_eps is not None else torch.zeros_like(mask)
        stats = {"clipfrac": ((outside.float() * mask).sum() / n).item(),
                 "approx_kl": ((((ratio - 1) - log_ratio) * mask).sum() / n).item(),
                 "ratio_mean": ((ratio * mask).sum() / n).item()}
    return loss, stats


def value_loss(values, old_values, returns, mask, clip_eps_value):
    mask = mask.float()
    error = (values - returns) ** 2
    if clip_eps_value is None:
        worst, clipped = error, torch.zeros_like(error)
    else:
        v_clip = old_values + torch.clamp(values - old_values, -clip_eps_value, clip_eps_value)
        error_clip = (v_clip - returns) ** 2
        clipped = (error_clip > error).float()
        worst = torch.where(error_clip > error, error_clip, error)
    loss = 0.5 * (worst * mask).sum() / mask.sum()
    return loss, {"vf_clipfrac": ((clipped * mask).sum() / mask.sum()).item()}


def entropy(logits, mask):
    logp = torch.log_softmax(logits, dim=-1)
    p = torch.exp(logp)
    p_logp = torch.where(p > 0, p * logp, torch.zeros_like(p))  # 0·log 0 = 0
    per_token = -p_logp.sum(dim=-1)
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum()


def kl_per_token(logprobs, ref_logprobs, estimator="k1"):
    if estimator == "k1":
        return logprobs - ref_logprobs
    if estimator == "k3":
        log_r = ref_logprobs - logprobs
        return (torch.exp(log_r) - 1) - log_r
    raise ValueError(f"unknown estimator {estimator!r}")


def ppo_loss(pg_loss, vf_loss, entropy, vf_coef, ent_coef):
    return pg_loss + vf_coef * vf_loss - ent_coef * entropy


def gae(rewards, values, mask, gamma, lam):
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    for b in range(B):
        last_advantage = 0.0
        for t in reversed(range(T)):
            if not mask[b, t]:       # padding: the episode is over
                last_advantage = 0.0
                continue
            next_value = values[b, t + 1] if t + 1 < T and mask[b, t + 1] else 0.0
            delta = rewards[b, t] + gamma * next_value - values[b, t]
            last_advantage = delta + gamma * lam * last_advantage
            advantages[b, t] = last_advantage
    returns = torch.where(mask, advantages + values, torch.zeros_like(values))
    return advantages, returns


def group_advantages(scores, group_size, scale=True):
    out = []
    for group in scores.split(group_size):      # consecutive completions of one prompt
        centred = group - group.mean()
        out.append(centred / (group.std() + 1e-4) if scale else centred)
    return torch.cat(out)


def rloo_advantages(scores, group_size):
    out = []
    for group in scores.split(group_size):
        others = (group.sum() - group) / (group_size - 1)   # the mean of the other G − 1
        out.append(group - others)
    return torch.cat(out)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected = beta * (policy_rejected_logps - ref_rejected_logps)
    z = chosen - rejected
    loss = torch.nn.functional.softplus(-z).mean()                 # −log σ(z) = log(1 + e^−z), computed stably
    return loss, {"rewards/chosen": chosen.mean().item(), "rewards/rejected": rejected.mean().item(),
                  "rewards/margins": z.mean().item(), "rewards/accuracies": (z > 0).double().mean().item()}


def sequence_logps(token_logps, mask):
    return torch.stack([row[m.bool()].sum() for row, m in zip(token_logps, mask)])   # one completion at a time


def pass_at_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)        # exact integers: C(n − c, k) is 0 when n − c < k


SOLUTIONS = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
             "kl_per_token": kl_per_token, "ppo_loss": ppo_loss, "gae": gae,
             # check_impl knows these; training does not call them yet (not in trainer.PPO_FUNCTIONS)
             "group_advantages": group_advantages, "rloo_advantages": rloo_advantages,
             "dpo_loss": dpo_loss, "sequence_logps": sequence_logps, "pass_at_k": pass_at_k}


# ---------------------------------------------------------------- the capstone (notebook 07): one whole iteration
def capstone_iteration(models, optimizer, prompts, config, kl_coef, generator):
    """One PPO iteration as a learner writes it from the lecture's steps and the package's pure functions."""
    from ppo_lab.maths import advantages, kl_penalty, losses
    from ppo_lab.rl import rollout

    batch = rollout.rollout(models, prompts, config)                                       # Phase I
    kl = losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator)
    r = kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, kl_coef)                   # score + KL penalty
    adv, returns = advantages.gae(r, batch.values, batch.mask, config.gamma, config.lam)
    if config.whiten_advantages:
        adv = advantages.whiten(adv, batch.mask)
    step_losses = []
    for _ in range(config.ppo_epochs):                                                     # Phase II
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            step_losses.append(capstone_minibatch(models, optimizer, batch, idx, adv, returns, config))
    return batch, r, adv, returns, step_losses


def capstone_loss(models, batch, idx, adv, returns, config):
    """One minibatch's PPO loss: forward, the three terms, the weighted sum (no step)."""
    from ppo_lab.maths import losses
    from ppo_lab.rl.rollout import response_logits

    logits, values = response_logits(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                     config.response_length, config.temperature)
    mask = batch.mask[idx]
    logprobs = losses.logprobs_from_logits(logits, batch.response[idx])
    pg_loss, _ = losses.policy_loss(logprobs, batch.logprobs[idx], adv[idx], mask, config.clip_eps)
    vf_loss, _ = losses.value_loss(values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    entropy = losses.entropy(logits, mask) if config.ent_coef > 0 else torch.zeros(())
    return losses.ppo_loss(pg_loss, vf_loss, entropy, config.vf_coef, config.ent_coef)


def capstone_minibatch(models, optimizer, batch, idx, adv, returns, config):
    """One minibatch of Phase II: the loss, backprop, clip, Adam."""
    loss = capstone_loss(models, batch, idx, adv, returns, config)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(models.policy.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()
