"""The exercises of notebook 07: the debugging mysteries, the first ratio, and the capstone.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers, and
`capstone.check_iteration` checks the capstone by training.
"""
from __future__ import annotations

from collections.abc import Callable

from ...failures import FAILURES, MYSTERIES
from .base import Exercise, close


def _names_mystery(exercise: str) -> Callable[[object], bool]:
    """The answer names the failure recipe behind `exercise` (`failures.MYSTERIES`), in any case or spacing."""
    def correct(answer) -> bool:
        name = str(answer).strip().lower().replace(" ", "_").replace("-", "_")
        if name not in FAILURES:
            raise ValueError(f"{answer!r} is not a failure name; valid: {sorted(FAILURES)}")
        return name == MYSTERIES[exercise]
    return correct


_BUGS = {  # exercise: (hint 1, hint 2, solution); the answers are `failures.MYSTERIES`
    "07.bug_1": (("Look at the direction of the reward panel before anything else: does the run get better or worse "
                  "at the task than the healthy run, while the value head keeps learning?"),
                 ("The update sizes (approx-KL, clip fraction) look healthy and the explained variance rises, yet the "
                  "reward falls: every update pushes the policy the wrong way. Which recipe reverses the direction of "
                  "the policy's update and nothing else?"),
                 ("'sign_flipped': the reward goes down while the update sizes look healthy and the value head still "
                  "learns. GAE's advantages come out with the wrong sign, so PPO makes the worst tokens more likely.")),
    "07.bug_2": (("Look at the very first iteration, before the policy has drifted: which bug makes the ratio, clip "
                  "fraction and approx-KL non-zero when π_θ and π_old should still be the same network?"),
                 ("At the first minibatch π_θ has the very weights that computed π_old, so a ratio ≠ 1 there means "
                  "the forward pass itself is random. What in a network samples a new random mask on every pass?"),
                 ("'dropout_on': val/first_ratio is not 1 and the clip fraction and approx-KL are above 0 at the "
                  "first minibatch, before any update: dropout draws one mask in Phase I and another in Phase II.")),
    "07.bug_3": (("Compare the size of the numbers, not only their direction: how far above its band is the "
                  "approx-KL, and what happened to the entropy?"),
                 ("Approx-KL and clip fraction far above their bands mean every update moves the policy much too far "
                  "from π_old. Which single setting sets the size of each optimiser step?"),
                 ("'lr_too_high': approx-KL and clip fraction far above their bands, the KL to the reference explodes "
                  "and the entropy swings: each Adam step is far too big (a learning rate 30× the healthy one).")),
}


EXERCISES = {  # notebook 07 (its capstone, "07.capstone", below)
    **{name: Exercise(f"Which setting is broken in the runs of mystery {name[-1]}? Answer with a name from "
                      "lab.course.failures.FAILURES.", _names_mystery(name), (hint_1, hint_2), solution, stars=2,
                      minutes=5)
       for name, (hint_1, hint_2, solution) in _BUGS.items()},
    "07.first_ratio": Exercise(
        "In a healthy run, what is the mean ratio π_θ/π_old at the first minibatch of each rollout?",
        close(1.0, 1e-5),  # 1 to float rounding: a value read off a run counts
        ("Before the first optimiser step of Phase II, which weights computed π_old, and which compute π_θ?",
         ("π_old's log-probs were computed in Phase I by the very weights π_θ still has at the first minibatch: no "
          "optimiser step has happened yet in this iteration.")),
        "1.0: at the first minibatch π_θ is the network that computed π_old in Phase I (no step yet), so every "
        "ratio is exp(log π_θ − log π_old) = exp(0) = 1, up to float rounding. A first ratio ≠ 1 means something "
        "random runs in the forward pass (dropout).", stars=1, minutes=3,
        mistakes=((close(0.0), "0 is the log-ratio log π_θ − log π_old; the ratio is exp of it."),)),
}


# the capstone of notebook 07: one whole iteration, checked by training (`capstone.check_iteration`)
_CAPSTONE_SOLUTION = """import torch

import ppo_lab as lab


def my_iteration(models, optimizer, prompts, config, kl_coef, generator):
    batch = lab.rl.rollout.rollout(models, prompts, config)                                    # 1. Phase I
    kl = lab.maths.losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator)   # 2. r_t = −β·KL_t
    rewards = lab.maths.kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, kl_coef)    #    (+ score at the end)
    advantages, returns = lab.maths.advantages.gae(rewards, batch.values, batch.mask,        # 3. GAE
                                                   config.gamma, config.lam)
    if config.whiten_advantages:
        advantages = lab.maths.advantages.whiten(advantages, batch.mask)                          #    whiten A, not R
    losses = []
    for _ in range(config.ppo_epochs):                                                      # 4. Phase II
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            losses.append(minibatch_step(models, optimizer, batch, idx, advantages, returns, config))
    return batch, rewards, advantages, returns, losses


def minibatch_step(models, optimizer, batch, idx, advantages, returns, config):
    logits, values = lab.rl.rollout.response_logits(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                                 config.response_length, config.temperature)
    mask = batch.mask[idx]
    logprobs = lab.maths.losses.logprobs_from_logits(logits, batch.response[idx])
    pg_loss, _ = lab.maths.losses.policy_loss(logprobs, batch.logprobs[idx], advantages[idx], mask, config.clip_eps)
    vf_loss, _ = lab.maths.losses.value_loss(values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    entropy = lab.maths.losses.entropy(logits, mask) if config.ent_coef > 0 else torch.zeros(())
    loss = lab.maths.losses.ppo_loss(pg_loss, vf_loss, entropy, config.vf_coef, config.ent_coef)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(models.policy.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()"""

EXERCISES["07.capstone"] = Exercise(
    "One whole PPO iteration: my_iteration(models, optimizer, prompts, config, kl_coef, generator) → batch, "
    "rewards, advantages, returns, losses.", None,  # checked by training: `capstone.check_iteration`
    (("Follow the lecture's order: rollout → rewards (score + KL penalty) → advantages (GAE, then whitened) → "
      "config.ppo_epochs passes over shuffled minibatches, one optimiser step each. The table shows the first "
      "iteration that differs, and the message names the step."),
     ("kl = lab.maths.losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator); rewards = "
      "lab.maths.kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, kl_coef); advantages, returns = "
      "lab.maths.advantages.gae(rewards, "
      "batch.values, batch.mask, config.gamma, config.lam), then whiten the advantages. Each epoch draws order = "
      "torch.randperm(config.batch_size, generator=generator); each minibatch does what lab.rl.ppo.ppo_step does.")),
    _CAPSTONE_SOLUTION, stars=3, minutes=45)


__all__ = ["EXERCISES"]
