"""A gallery of typical mistakes (tests only): `check_impl` must catch each one, and the capstone's checker each
slip of a whole iteration.

The engine functions' slips live in the package (`ppo_lab.course.exercises.impl.slips`), which matches a learner's
failing function against them; MISTAKES lists them as (engine function name, the mistaken implementation, text
its targeted hint must show).
"""
import torch

from ppo_lab.course.exercises.impl.slips import SLIPS

MISTAKES = [(name, slip, phrase) for name, slips in SLIPS.items() for slip, phrase in slips]


# ---------------------------------------------------------------- the capstone: one whole iteration, one slip each
def _iteration(models, optimizer, prompts, config, kl_coef, generator, *, kl_sign=1.0, beta=None, whiten=True,
               adv_sign=1.0, epochs=None, loss_sign=1.0, clip_grad=True):
    from ppo_lab.maths import advantages, kl_penalty, losses
    from ppo_lab.rl import rollout

    batch = rollout.rollout(models, prompts, config)
    kl = losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator)
    r = kl_penalty.per_token_rewards(batch.scores, kl_sign * kl, batch.mask, kl_coef if beta is None else beta(config))
    adv, returns = advantages.gae(r, batch.values, batch.mask, config.gamma, config.lam)
    adv = advantages.whiten(adv, batch.mask) if whiten else adv
    adv = adv if adv_sign == 1.0 else adv_sign * adv
    step_losses = []
    for _ in range(config.ppo_epochs if epochs is None else epochs):
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            step_losses.append(_minibatch(models, optimizer, batch, idx, adv, returns, config, loss_sign, clip_grad))
    return batch, r, adv, returns, step_losses


def _minibatch(models, optimizer, batch, idx, adv, returns, config, loss_sign, clip_grad):
    """The reference minibatch step (solutions.capstone_loss), with the loss's sign and clip as the slip has them."""
    from solutions import capstone_loss

    loss = loss_sign * capstone_loss(models, batch, idx, adv, returns, config)
    optimizer.zero_grad()
    loss.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(models.policy.parameters(), config.max_grad_norm)
    optimizer.step()
    return loss.item()


def iteration_no_kl_penalty(*args):
    return _iteration(*args, kl_sign=0.0)                          # rewards = the score alone


def iteration_kl_penalty_sign(*args):
    return _iteration(*args, kl_sign=-1.0)                         # +β·KL: drifting away pays


def iteration_fixed_beta(*args):
    return _iteration(*args, beta=lambda config: config.kl_coef)  # ignores the adaptive β it is handed


def iteration_no_whitening(*args):
    return _iteration(*args, whiten=False)


def iteration_flipped_advantages(*args):
    return _iteration(*args, adv_sign=-1.0)                        # PPO then favours the worst tokens


def iteration_one_epoch(*args):
    return _iteration(*args, epochs=1)


def iteration_maximises_the_loss(*args):
    return _iteration(*args, loss_sign=-1.0)                       # gradient ascent on a loss


def iteration_no_grad_clipping(*args):
    return _iteration(*args, clip_grad=False)


# (the mistaken iteration, the step and iteration the checker must name — a regular expression —, text its hint
# must show). π = π_ref before the first update, so the KL at iteration 0 is 0 up to float rounding: the policy's
# and the reference's forward passes group the same sums differently, which gives exactly 0 on some CPUs and
# ~1e-7 on others. So a slip in the KL penalty shows at iteration 0 or at iteration 1, depending on the CPU.
CAPSTONE_MISTAKES = [
    (iteration_no_kl_penalty, r"the rewards, at iteration [01]", "You forgot the KL penalty"),
    (iteration_kl_penalty_sign, r"the rewards, at iteration [01]", "The KL penalty has the wrong sign"),
    (iteration_fixed_beta, "the rewards, at iteration 1", "not config.kl_coef"),
    (iteration_no_whitening, "the advantages, at iteration 0", "They are not whitened"),
    (iteration_flipped_advantages, "the advantages, at iteration 0", "They have the wrong sign"),
    (iteration_one_epoch, "the number of minibatch updates, at iteration 0", "one epoch only?"),
    (iteration_maximises_the_loss, "the first minibatch's loss, at iteration 0", "It has the wrong sign"),
    (iteration_no_grad_clipping, "minibatch 1's loss, at iteration 0", "clip_grad_norm_"),
]
