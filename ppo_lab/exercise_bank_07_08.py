"""The exercises of notebooks 07–08: the debugging mysteries, the capstone, gpt2 on a GPU.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers, and
`capstone.check_iteration` checks the capstone by training.
"""
from __future__ import annotations

from collections.abc import Callable

from .exercise_bank_base import Exercise, close
from .failures import FAILURES, MYSTERIES


def _trl_batch_args_ok(fn) -> bool:
    """TRL 1.16's GRPOConfig, one GPU, no accumulation: an optimiser step takes per_device_train_batch_size
    completions (our minibatch), and one generation feeds steps_per_generation of them (our rollout)."""
    for batch, mini in ((64, 16), (64, 64), (32, 8), (12, 4), (96, 24)):
        args = fn(batch, mini)
        p, g, s = (args[k] for k in ("per_device_train_batch_size", "gradient_accumulation_steps",
                                     "steps_per_generation"))
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (p, g, s)):
            return False
        if not (g == 1 and p == mini and s * p == batch):
            return False
    return True


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
                      "lab.failures.FAILURES.", _names_mystery(name), (hint_1, hint_2), solution, stars=2, minutes=5)
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


# 08.adam_gb: wrong numbers of bytes per parameter, or the wrong unit, for gpt2-xl's N parameters
_N_XL = 1_557_611_200
_ADAM_SLIPS = (
    (close(4 * _N_XL / 1e9, 0.05), ("That is 4N bytes, the weights alone; training also keeps a gradient and Adam's "
                                    "two moments per parameter.")),
    (close(8 * _N_XL / 1e9, 0.05), "That is 8N bytes, weights and gradients; Adam adds two moments (m and v) too."),
    (close(12 * _N_XL / 1e9, 0.05), ("That is 12N bytes, three numbers per parameter; Adam keeps TWO moments (m and "
                                     "v) besides the weight and its gradient.")),
    (close(20 * _N_XL / 1e9, 0.05), ("That is 20N bytes: you added the frozen reference's 4N. The question asks for "
                                     "the trained model only: weights, gradients and Adam's two moments.")),
    (close(16 * _N_XL / 2**30, 0.05), "That is in GiB (2³⁰ bytes); the question asks for GB, 10⁹ bytes."),
    (close(16 * _N_XL, 1e8), "That is in bytes; the question asks for GB: divide by 10⁹."),
)


EXERCISES.update({  # notebook 08
    "08.adam_gb": Exercise(
        "gpt2-xl has 1,557,611,200 parameters. In fp32 with Adam, weights + gradients + Adam's two moments take how "
        "many GB (10⁹ bytes)?", close(24.92, 0.0101),  # 24.91 to 24.93, the exact 24.9217792 included
        (("Four fp32 numbers per parameter: the weight, its gradient and Adam's two moments (m and v); a fp32 "
          "number takes 4 bytes."),
         "16 bytes × N (N = 1,557,611,200), then ÷ 10⁹ for GB (÷ 2³⁰ would give GiB)."),
        "1,557,611,200 parameters × 4 numbers × 4 bytes = 24,921,779,200 bytes ≈ 24.92 GB (23.21 GiB). The frozen "
        "reference model would add another 4N bytes = 6.23 GB, but it is not trained: no gradient, no moments.",
        stars=2, minutes=4, mistakes=_ADAM_SLIPS),
    "08.logits_mb": Exercise(
        "The gpt2 preset's minibatch: 16 completions, logits kept for 48 + 1 positions over a vocabulary of 50,257, "
        "in fp32: how many MB (10⁶ bytes)?", close(16 * 49 * 50257 * 4 / 1e6, 1.0),
        (("The logits tensor has shape (completions, positions, vocabulary); multiply the three sizes, then the bytes "
          "of one float32, then convert bytes to MB."),
         "16 × 49 × 50,257 numbers, 4 bytes each, then ÷ 10⁶."),
        "16 × 49 × 50,257 = 39,401,488 numbers; × 4 bytes = 157,605,952 bytes ≈ 157.6 MB.", stars=2, minutes=4,
        mistakes=((close(16 * 49 * 50257 / 1e6, 0.5), "That counts 1 byte per number; a float32 takes 4."),
                  (close(16 * 48 * 50257 * 4 / 1e6, 0.5), "48 + 1 = 49 positions are kept, not 48."),
                  (close(16 * 49 * 50257 * 4 / 2**20, 0.5), ("That is in MiB (2²⁰ bytes); the question asks for MB, "
                                                             "10⁶ bytes.")))),
    "08.trl_batch_args": Exercise(
        "Write trl_batch_args(batch_size, minibatch_size) → dict of TRL 1.16 GRPOConfig's per_device_train_batch_size, "
        "gradient_accumulation_steps (keep it 1) and steps_per_generation, on one GPU.",
        lambda fn: callable(fn) and _trl_batch_args_ok(fn),
        (("In TRL 1.16 one optimiser step takes per_device_train_batch_size × gradient_accumulation_steps completions "
          "per GPU, and one generation is reused for steps_per_generation steps. Which of our settings is which?"),
         ("per_device_train_batch_size = minibatch_size (with gradient_accumulation_steps = 1) and "
          "steps_per_generation = batch_size // minibatch_size: whole numbers (//), not floats.")),
        'def trl_batch_args(batch_size, minibatch_size):\n'
        '    return {"per_device_train_batch_size": minibatch_size, "gradient_accumulation_steps": 1,\n'
        '            "steps_per_generation": batch_size // minibatch_size}', stars=2, minutes=8,
        mistakes=((lambda fn: fn(64, 16)["per_device_train_batch_size"] == 64, ("per_device_train_batch_size × "
                   "gradient_accumulation_steps is one optimiser step (our minibatch), not the whole rollout: that "
                   "was TRL 1.12's PPOTrainer.")),
                  (lambda fn: isinstance(fn(64, 16)["steps_per_generation"], float), ("Use whole numbers: batch_size "
                   "// minibatch_size, not /.")))),
})


# the capstone of notebook 07: one whole iteration, checked by training (`capstone.check_iteration`)
_CAPSTONE_SOLUTION = """import torch

import ppo_lab as lab


def my_iteration(models, optimizer, prompts, config, kl_coef, generator):
    batch = lab.rollout.rollout(models, prompts, config)                                    # 1. Phase I
    kl = lab.losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator)   # 2. r_t = −β·KL_t
    rewards = lab.kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, kl_coef)          #    (+ score at the end)
    advantages, returns = lab.advantages.gae(rewards, batch.values, batch.mask, config.gamma, config.lam)  # 3. GAE
    if config.whiten_advantages:
        advantages = lab.advantages.whiten(advantages, batch.mask)                          #    whiten A, not R
    losses = []
    for _ in range(config.ppo_epochs):                                                      # 4. Phase II
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            losses.append(minibatch_step(models, optimizer, batch, idx, advantages, returns, config))
    return batch, rewards, advantages, returns, losses


def minibatch_step(models, optimizer, batch, idx, advantages, returns, config):
    logits, values = lab.rollout.response_logits(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                                 config.response_length, config.temperature)
    mask = batch.mask[idx]
    logprobs = lab.losses.logprobs_from_logits(logits, batch.response[idx])
    pg_loss, _ = lab.losses.policy_loss(logprobs, batch.logprobs[idx], advantages[idx], mask, config.clip_eps)
    vf_loss, _ = lab.losses.value_loss(values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    entropy = lab.losses.entropy(logits, mask) if config.ent_coef > 0 else torch.zeros(())
    loss = lab.losses.ppo_loss(pg_loss, vf_loss, entropy, config.vf_coef, config.ent_coef)
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
     ("kl = lab.losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator); rewards = lab.kl_penalty."
      "per_token_rewards(batch.scores, kl, batch.mask, kl_coef); advantages, returns = lab.advantages.gae(rewards, "
      "batch.values, batch.mask, config.gamma, config.lam), then whiten the advantages. Each epoch draws order = "
      "torch.randperm(config.batch_size, generator=generator); each minibatch does what lab.trainer.ppo_step does.")),
    _CAPSTONE_SOLUTION, stars=3, minutes=45)

