"""Capstone (notebook 07): one whole PPO iteration, written by you, checked by training beside the reference.

    def my_iteration(models, optimizer, prompts, config, kl_coef, generator):
        ...   # rollout → rewards (score + KL penalty) → advantages (GAE, whitened) → ppo_epochs × minibatches
        return batch, rewards, advantages, returns, losses
    lab.course.capstone.check_iteration(my_iteration)

It takes the first six arguments of `ppo.iteration` (the rest is plumbing) and returns what the checker
compares. `check_iteration` trains a few "ci" iterations twice from the same seed and weights, with
`ppo.iteration` and with yours, and compares them bitwise: in one process on one CPU the same operations in
the same order give the same bits, so a right iteration is identical, number for number. Otherwise it names the
first iteration and step that differ, with a hint for the slip that usually causes it. The exercise's hints and
solution are `exercises.EXERCISES["07.capstone"]` (written in `exercises.bank.nb07`).
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

import torch

from ..config import ConfigError, PPOConfig
from ..maths import advantages as adv_lib, kl_penalty, losses
from ..rl import ppo
from ..rl.loop import ready_to_start, seed_everything
from ..rl.optim import adam
from ..rl.rollout import Rollout
from ..world.models import load_models
from .exercises.answers import not_answered, verdict
from .exercises.calls import TimeUp, Verdict, call_with_limit

NAME = "07.capstone"
RETURNS = "batch, rewards, advantages, returns, losses"
_START: dict = {}       # the bundled starting models, per (policy, reward model, device): loaded once
_REFERENCE: dict = {}   # reference runs per config, from the bundled models: a retry does not redo them


@dataclass
class Record:
    """One iteration of one run: what the iteration returned, the β it was given, and the weights after it."""
    batch: Rollout
    rewards: torch.Tensor       # (B, L) r_t
    advantages: torch.Tensor    # (B, L) A_t, whitened
    returns: torch.Tensor       # (B, L) R_t = A_t + V_t (before whitening)
    losses: list[float]         # the total loss of every minibatch, in order
    kl_coef: float              # β
    weights: str                # sha256 of the policy's weights after the iteration


def reference_iteration(models, optimizer, prompts, config, kl_coef, generator):
    """The package's own `ppo.iteration`, returning what the capstone asks for (`RETURNS`).

    The minibatch losses are recorded as `losses.ppo_loss` makes them (an engine override); the rewards,
    advantages and returns are `ppo.rewards_and_advantages` of the same rollout (pure functions)."""
    recorded = []

    def ppo_loss(*args):
        loss = losses.ppo_loss(*args)
        recorded.append(loss.item())
        return loss

    fns = {**ppo.PPO_FUNCTIONS, "ppo_loss": ppo_loss}
    batch, _ = ppo.iteration(models, optimizer, prompts, config, kl_coef, generator, fns)
    r, advantages, returns, _ = ppo.rewards_and_advantages(batch, config, kl_coef, ppo.PPO_FUNCTIONS)
    return batch, r, advantages, returns, recorded


# ====================================================================== running an iteration function
def _digest(module: torch.nn.Module) -> str:
    """A fingerprint of every weight's bits: equal digests, equal weights."""
    h = hashlib.sha256()
    for p in module.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _record(out, kl_coef: float, models, config) -> Record:
    """The iteration's result as a Record; TypeError or ValueError saying what is wrong."""
    if not (isinstance(out, tuple) and len(out) == 5):
        raise ValueError(f"expected `return {RETURNS}` (5 values), got {type(out).__name__} {str(out)[:60]}")
    batch, r, advantages, returns, step_losses = out
    if not isinstance(batch, Rollout):
        raise TypeError(f"`batch` must be the Rollout that lab.rl.rollout.rollout returns, not {type(batch).__name__}")
    shape = (config.batch_size, config.response_length)
    for label, x in (("rewards", r), ("advantages", advantages), ("returns", returns)):
        if not (isinstance(x, torch.Tensor) and tuple(x.shape) == shape):
            raise ValueError(f"`{label}` must be a {shape} tensor, one number per response token; got "
                             f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if not isinstance(step_losses, (list, tuple)):
        raise TypeError(f"`losses` must be a list of each minibatch's loss (loss.item()), not "
                        f"{type(step_losses).__name__}")
    return Record(batch, r.detach(), advantages.detach(), returns.detach(), [float(x) for x in step_losses],
                  kl_coef, _digest(models.policy))


def _kl(record: Record, config) -> float:
    """KL per completion, summed over its tokens and averaged (`objective/kl`, what the adaptive β reads)."""
    kl = losses.kl_per_token(record.batch.logprobs, record.batch.ref_logprobs, config.kl_estimator)  # (B, L)
    return (kl * record.batch.mask).sum(1).mean().item()


def _one(iteration, args: tuple, it: int, time_limit, config) -> Record | str:
    """One call of `iteration`: its Record, or what went wrong ("stub": an untouched `return None`)."""
    try:
        out = call_with_limit(iteration, args, time_limit)
        if out is None:
            return "stub" if it == 0 else f"your function returned None at iteration {it}: a `return` missing?"
        return _record(out, args[4], args[0], config)
    except NotImplementedError:
        return "stub" if it == 0 else f"iteration {it} raised NotImplementedError"
    except TimeUp as e:
        return f"iteration {it}: {e.message()}"
    except Exception as e:  # noqa: BLE001 — the learner's code may raise anything: say what, and where
        return f"iteration {it} stopped: {type(e).__name__}: {e}"


def _train(iteration, config, models, time_limit=None) -> tuple[list[Record], str | None]:
    """`config.iterations` iterations made by `iteration`, driven as `ppo.train` drives them (one seed,
    the prompt pool, Adam, the adaptive β); returns the records and, when it stopped early, why."""
    generator = seed_everything(config.seed)
    pool = ready_to_start(models, config)
    optimizer = adam(models.policy.parameters(), config.learning_rate, eps=1e-5)
    kl_coef, records = config.kl_coef, []
    for it in range(config.iterations):
        picks = torch.randint(len(pool), (config.batch_size,), generator=generator).tolist()
        args = (models, optimizer, [pool[i] for i in picks], config, kl_coef, generator)
        record = _one(iteration, args, it, time_limit, config)
        if isinstance(record, str):
            return records, record
        records.append(record)
        if config.kl_target is not None:
            kl_coef = kl_penalty.adaptive_kl_coef(kl_coef, _kl(record, config), config.kl_target, config.kl_horizon,
                                               config.batch_size)
    return records, None


def _reference(config, start, cache: bool) -> list[Record]:
    """The reference run (`reference_iteration`) from `start`; kept per config when `cache`."""
    key = json.dumps({**config.to_dict(), "threads": torch.get_num_threads()}, sort_keys=True)  # bits depend on both
    if cache and key in _REFERENCE:
        return _REFERENCE[key]
    records, problem = _train(reference_iteration, config, copy.deepcopy(start))
    if problem:
        raise RuntimeError(f"the reference run itself failed: {problem}")
    if cache:
        _REFERENCE[key] = records
    return records


def _bundled(config):

    key = (config.policy, config.reward_model, config.device)
    if key not in _START:
        _START[key] = load_models(config)
    return _START[key]


# ====================================================================== where the runs part
def _close(x, y) -> bool:
    return x.shape == y.shape and torch.allclose(x.double(), y.double(), rtol=1e-5, atol=1e-6)


def _reward_slip(got, batch, kl, beta: float, config) -> str:
    """The targeted hint for rewards that differ from r_t = −β·KL_t (+ score at the last token)."""
    slips = [(torch.zeros_like(kl), beta, ("You forgot the KL penalty: every token's reward is r_t = −β·KL_t, plus the "
              "score at the last token: lab.maths.kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, "
              "kl_coef).")),
             (-kl, beta, ("The KL penalty has the wrong sign: it is SUBTRACTED, r_t = −β·KL_t, so drifting away from "
              "the reference costs reward (per_token_rewards already puts the minus sign in).")),
             (kl, config.kl_coef, ("Use the `kl_coef` argument, the adaptive β the trainer hands each iteration, "
              "not config.kl_coef (only its start value)."))]
    # the nearest slip that fits: at iteration 0 the KL is ~0 (π = π_ref up to float rounding), so several may fit
    fits = [(float((got.double() - want.double()).abs().max()), i, text) for i, (k, b, text) in enumerate(slips)
            if _close(got, want := kl_penalty.per_token_rewards(batch.scores, k, batch.mask, b))]
    if fits:
        return min(fits)[2]
    return ("r_t = −β·KL_t on every valid token plus the score at the last one, with kl = "
            "lab.maths.losses.kl_per_token(batch.logprobs, batch.ref_logprobs, config.kl_estimator) and β = kl_coef.")


def _advantage_slip(record: Record, config) -> tuple[str, str] | None:
    """(what differs, hint) when the rewards, advantages or returns differ from the package's on this batch."""
    batch, beta = record.batch, record.kl_coef
    r, advantages, returns, kl = ppo.rewards_and_advantages(batch, config, beta, ppo.PPO_FUNCTIONS)
    if not torch.equal(record.rewards, r):
        return "the rewards", _reward_slip(record.rewards, batch, kl, beta, config)
    if not torch.equal(record.advantages, advantages):
        raw = adv_lib.gae(r, batch.values, batch.mask, config.gamma, config.lam)[0]
        if config.whiten_advantages and _close(record.advantages, raw):
            return "the advantages", ("They are not whitened: after GAE, advantages = lab.maths.advantages.whiten("
                                      "advantages, batch.mask) — mean 0, std 1 over the batch's valid tokens.")
        if _close(record.advantages, -advantages):
            return "the advantages", "They have the wrong sign: A_t = δ_t + γλ·A_{t+1}, better than expected > 0."
        return "the advantages", ("advantages, returns = lab.maths.advantages.gae(rewards, batch.values, batch.mask, "
                                  "config.gamma, config.lam), then whiten the advantages (only them).")
    if not torch.equal(record.returns, returns):
        return "the returns", ("The returns are gae's second result, R = A + V with the advantages BEFORE "
                               "whitening: whiten only the advantages, into a new variable or after taking R.")
    return None


def _rollout_slip(mine: Record, ref: Record, it: int) -> tuple[str, str] | None:
    """(what differs, hint) when the rollouts differ: other completions, scores, log-probs or values."""
    a, b = mine.batch, ref.batch
    if all(x.shape == y.shape and torch.equal(x, y) for x, y in
           ((a.response, b.response), (a.scores, b.scores), (a.logprobs, b.logprobs), (a.values, b.values))):
        return None
    if it == 0:
        return "the rollout", ("Phase I comes first: batch = lab.rl.rollout.rollout(models, prompts, config), once, "
                               "before anything else draws random numbers.")
    return "the rollout", ("The weights after the last iteration matched, so the random numbers were drawn in "
                           "another order: shuffle only with torch.randperm(config.batch_size, generator=generator), "
                           "once per epoch, and draw nothing else.")


def _update_slip(mine: Record, ref: Record, config) -> tuple[str, str] | None:
    """(what differs, hint) when Phase II differs: the number of minibatch steps, a loss, or the weights."""
    per_epoch = config.batch_size // config.minibatch_size
    if len(mine.losses) != len(ref.losses):
        one = len(mine.losses) == per_epoch
        return "the number of minibatch updates", (
            f"{len(mine.losses)} minibatch losses, expected {len(ref.losses)}: "
            + ("one epoch only? " if one else "") + f"Phase II makes config.ppo_epochs = {config.ppo_epochs} passes "
            f"over the batch, each cut into batch_size // minibatch_size = {per_epoch} minibatches, one update each.")
    j = next((j for j, (x, y) in enumerate(zip(mine.losses, ref.losses)) if x != y), None)
    if j == 0 and abs(mine.losses[0] + ref.losses[0]) <= 1e-6 * abs(ref.losses[0]):
        return "the first minibatch's loss", ("It has the wrong sign: minimise lab.maths.losses.ppo_loss(...) as it "
                                              "is — it is already the negated objective −(L_clip − c1·L_VF + c2·S).")
    if j == 0:
        return "the first minibatch's loss", (
            "It differs before any update: idx = order[start:start + config.minibatch_size] with order = "
            "torch.randperm(config.batch_size, generator=generator); log π from lab.rl.rollout.response_logits("
            "models.policy, batch.ids[idx], batch.attention_mask[idx], ...) and lab.maths.losses.logprobs_from_logits; "
            "the old log-probs, values, advantages[idx] and returns[idx] from this batch; lab.maths.losses.ppo_loss of "
            "the terms.")
    if j is not None or mine.weights != ref.weights:
        where = f"minibatch {j}'s loss" if j is not None else "the weights after the last minibatch"
        shuffle = " Each epoch draws a new order." if j is not None and j % per_epoch == 0 else ""
        return where, ("The losses before it match, so an optimiser step differs: optimizer.zero_grad(), "
                       "loss.backward(), torch.nn.utils.clip_grad_norm_(models.policy.parameters(), "
                       "config.max_grad_norm), optimizer.step() — once per minibatch." + shuffle)
    return None


def _first_difference(mine: list[Record], ref: list[Record], config) -> tuple[int, str, str] | None:
    """(iteration, what differs, hint) at the first difference between the runs; None when identical."""
    for it, (a, b) in enumerate(zip(mine, ref)):
        found = _rollout_slip(a, b, it) or _advantage_slip(a, config) or _update_slip(a, b, config)
        if found:
            return (it, *found)
    return None


def _metrics(record: Record, config) -> dict:
    """The numbers of one iteration that the table shows (the KL penalty is the non-score reward, −β·ΣKL)."""
    r, scores = record.rewards, record.batch.scores
    return {"reward": scores.mean().item(), "KL": _kl(record, config),
            "KL penalty": (r.sum(1) - scores).mean().item(), "adv std": record.advantages.std().item(),
            "mean loss": sum(record.losses) / max(len(record.losses), 1), "updates": len(record.losses)}


def _table(mine: list[Record], ref: list[Record], config) -> None:
    """Per iteration, your numbers above the reference's; ≠ marks a number that differs."""
    names = list(_metrics(ref[0], config))
    print("  iteration  run       " + "".join(f"{n:>12}  " for n in names) + "weights after")
    for it, b in enumerate(ref):
        want = _metrics(b, config)
        if it < len(mine):
            got, same = _metrics(mine[it], config), mine[it].weights == b.weights
            cells = "".join(f"{got[n]:>12.6g}{'  ' if got[n] == want[n] else ' ≠'}" for n in names)
            print(f"  {it:>9}  yours     {cells}{'same' if same else 'DIFFERENT'}")
        print(f"  {'':>9}  reference {''.join(f'{want[n]:>12.6g}  ' for n in names)}")


# ====================================================================== the checker
def check_iteration(my_iteration, config: PPOConfig | None = None, *, models=None,
                    time_limit: float | None = 120.0) -> Verdict:
    """Train with `my_iteration` and with the package's `ppo.iteration` from the same seed and weights,
    print the runs side by side, and say whether they are identical, number for number (a true Verdict).

    config: default `PPOConfig.preset("ci", iterations=3)` (seconds); models: the starting models (default: the
    bundled ones), copied for each run, never changed; time_limit: seconds per call of `my_iteration`."""
    config = PPOConfig.preset("ci", iterations=3) if config is None else config
    if not isinstance(config, PPOConfig):
        fix = f"lab.PPOConfig.preset('ci', **{config!r})" if isinstance(config, dict) else "lab.PPOConfig.preset('ci')"
        raise ConfigError(f"config must be a PPOConfig, not {type(config).__name__}; e.g. {fix}")
    if not config.has_critic:
        raise ConfigError(f"advantage_estimator={config.advantage_estimator!r}: the capstone is PPO's iteration, with "
                          "GAE and a value head; valid: advantage_estimator='gae' (group_size=1), e.g. "
                          "lab.PPOConfig.preset('ci', iterations=3)")
    if my_iteration is None:
        return not_answered(NAME)
    if not callable(my_iteration):
        return verdict(NAME, False, f"expected a function my_iteration(...), got {type(my_iteration).__name__}.")
    start = models if models is not None else _bundled(config)
    mine, problem = _train(my_iteration, config, copy.deepcopy(start), time_limit)
    if problem == "stub":
        return not_answered(NAME, stub=True)
    ref = _reference(config, start, cache=models is None)
    print(f"your iteration beside the package's ppo.iteration: {config.iterations} iterations, seed "
          f"{config.seed}, {config.batch_size} completions of {config.response_length} tokens each")
    _table(mine, ref, config)
    found = _first_difference(mine, ref, config)
    if found is None and problem is None:
        print("identical, number for number: every rollout, reward, advantage, return, minibatch loss and weight.")
        return verdict(NAME, True)
    if found is None:
        return verdict(NAME, False, problem)
    it, what, hint = found
    return verdict(NAME, False, f"first difference: {what}, at iteration {it}.", hint)


__all__ = ["check_iteration", "NAME", "Record", "reference_iteration", "RETURNS"]
