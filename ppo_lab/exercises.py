"""Auto-checked exercises: the learner answers, the checker says right or wrong with a hint.

    lab.exercises.check("00.steps", answer)

An unanswered exercise (`None`) is reported as such and never fails a notebook run; a wrong answer
gets a hint, never the answer itself. "Build it yourself": `check_impl("policy_loss", my_fn)` runs
your own engine function through a battery of checks against the package's (see `impl_checks`).
A numeric answer may be of any numeric type (int, float, numpy scalar, one-number array or tensor); a
function answer is checked up to float32 rounding, and one that does not return within `TIME_LIMIT_S`
seconds (`time_limit=`) is reported, not waited for forever.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .impl_checks import TIME_LIMIT_S, TimeUp, check_impl, limited  # noqa: F401  (lab.exercises.check_impl)


@dataclass(frozen=True)
class Exercise:
    question: str
    correct: Callable[[object], bool]
    hint: str


# A learner's function may compute in float32 (≈ 6e-8 relative error per operation): its result is right
# within REL_TOL of the value (ABS_TOL near 0). The wrong answers the checkers must catch are off by far more.
REL_TOL, ABS_TOL = 1e-5, 1e-6
_TORCH_INTS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _as_number(a) -> float | None:
    """`a` as a float when it is one real number of any numeric type, else None.

    Numbers: Python int and float (any `numbers.Real`), numpy scalars (np.int64, np.float32, ...), and numpy
    arrays or torch tensors holding exactly one number (0-d, or one element). Not numbers: bool (of any
    library), strings, complex numbers, collections.
    """
    if isinstance(a, torch.Tensor):
        ok = a.numel() == 1 and (a.is_floating_point() or a.dtype in _TORCH_INTS)
        return float(a.item()) if ok else None
    if isinstance(a, (np.ndarray, np.generic)):
        ok = a.size == 1 and a.dtype.kind in "iuf"
        return float(a.item()) if ok else None
    if isinstance(a, numbers.Real) and not isinstance(a, bool):
        try:
            return float(a)
        except OverflowError:  # an int too large for a float
            return math.copysign(math.inf, a)
    return None


def _as_numbers(a) -> list[float] | None:
    """A learner's sequence of numbers (a list, tuple, 1-d array or 1-d tensor) as floats; None unless every
    entry is a number (`_as_number`)."""
    if isinstance(a, (list, tuple)) or (isinstance(a, (torch.Tensor, np.ndarray)) and a.ndim == 1):
        values = [_as_number(x) for x in a]
        return None if None in values else values
    return None


def _near(got, want: float) -> bool:
    """`got` is a number equal to `want` up to float32 rounding."""
    x = _as_number(got)
    return x is not None and math.isclose(x, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _close(target: float, tol: float = 1e-6) -> Callable[[object], bool]:
    """A checker of a numeric answer: any number within `tol` of the target."""
    def correct(a) -> bool:
        x = _as_number(a)
        return x is not None and math.isclose(x, target, abs_tol=tol)
    return correct


def _fraction_positive_ok(fn) -> bool:
    cases = [(torch.tensor([0.5, -1.0, 2.0, 0.0]), 0.0, 0.5), (torch.tensor([1.0, 1.0]), 1.5, 0.0),
             (torch.tensor([-3.0, 4.0, 5.0]), -4.0, 1.0)]
    return all(_near(fn(scores, threshold), want) for scores, threshold, want in cases)


def _clipped_objective_ok(fn) -> bool:
    cases = [(1.3, 1.0, 0.2, 1.2), (0.5, 1.0, 0.2, 0.5), (1.0, 2.0, 0.2, 2.0), (0.5, -1.0, 0.2, -0.8),
             (1.5, -1.0, 0.2, -1.5), (1.1, -2.0, 0.1, -2.2)]
    return all(_near(fn(r, a, e), want) for r, a, e, want in cases)


def _plain_value_loss_ok(fn) -> bool:
    cases = [([0.0, 1.0], [1.0, 1.0], 0.25), ([2.0], [-1.0], 4.5), ([0.5, 0.5, 0.5], [0.5, 1.5, -0.5], 1 / 3)]
    return all(_near(fn(v, r), want) for v, r, want in cases)


def _td_errors_ok(fn) -> bool:
    cases = [([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], 1.0, [0.0, 0.0, 1.0]),
             ([1.0, 2.0], [0.5, 1.0], 0.9, [1.4, 1.0]), ([0.0], [2.0], 0.5, [-2.0])]
    for r, v, g, want in cases:
        got = _as_numbers(fn(r, v, g))
        if got is None or len(got) != len(want) or not all(_near(x, w) for x, w in zip(got, want)):
            return False
    return True


def _matches(reference: Callable, cases) -> Callable[[object], bool]:
    """A checker of a learner's small function: the reference's value on every case of arguments."""
    return lambda fn: callable(fn) and all(_near(fn(*args), reference(*args)) for args in cases)


def _distinct_1_ok(fn) -> bool:
    cases = [(["a b a", "b c"], 3 / 5), (["x x x x"], 1 / 4), (["one two", "three"], 1.0)]
    return all(_near(fn(texts), want) for texts, want in cases)


EXERCISES = {
    "00.phase": Exercise("In which phase does the reward model score the completions? Answer 'I' or 'II'.",
                         lambda a: str(a).strip().upper() in ("I", "1", "PHASE I"),
                         "Phase II only updates weights with quantities that already exist. Where are the "
                         "completions made, and what must happen to them before advantages can be computed?"),
    "00.steps": Exercise("With batch_size=64, minibatch_size=16 and ppo_epochs=4, how many optimiser steps "
                         "does one PPO iteration take?", _close(16),
                         "Each epoch is one pass over the whole batch, cut into minibatches; each minibatch "
                         "is one optimiser step."),
    "00.fraction_positive": Exercise("Write `fraction_positive(scores, threshold)`: the fraction of scores "
                                     "strictly above the threshold, as a float.",
                                     lambda fn: callable(fn) and _fraction_positive_ok(fn),
                                     "Compare each score with the threshold, turn the booleans into numbers, "
                                     "and average them. A score equal to the threshold is not positive."),
    "04.grad_above": Exercise("With ε = 0.2 and A > 0, what is ∂L_clip/∂r at r = 1.3?", _close(0.0),
                              "Is r = 1.3 inside the trust region [0.8, 1.2]? Which term does the min pick "
                              "there, and does that term depend on r?"),
    "04.zero_case": Exercise("Which case gets zero gradient: 'A>0, r<1-eps', 'A>0, r>1+eps' or 'A<0, r>1+eps'?",
                             lambda a: str(a).replace(" ", "").lower() == "a>0,r>1+eps",
                             "Clipping only removes the incentive to go further in the direction the advantage "
                             "already favours. For a good action (A > 0), which direction is that?"),
    "04.clipped_objective": Exercise("Write clipped_objective(ratio, advantage, eps) = min(r·A, clip(r, 1−ε, 1+ε)·A).",
                                     lambda fn: callable(fn) and _clipped_objective_ok(fn),
                                     "Clip the ratio (not the advantage) to [1 − ε, 1 + ε], multiply both the "
                                     "clipped and the unclipped ratio by A, and take the smaller of the two."),
    "03.clipped_value": Exercise("V_old = 0, R = 2, ε_v = 0.2, new V = 1: the clipped value loss?", _close(1.62),
                                 "First clip the *change* V − V_old to [−ε_v, ε_v] to get V_clip; then compute "
                                 "both squared errors against R, keep the larger, and halve it."),
    "03.ev_zero": Exercise("A value head always predicts 0 while returns vary: its explained variance?", _close(0.0),
                           "Explained variance is 1 − Var(R − V)/Var(R). What is R − V when V is 0?"),
    "03.plain_value_loss": Exercise("Write plain_value_loss(values, returns) = ½·mean((V − R)²).",
                                    lambda fn: callable(fn) and _plain_value_loss_ok(fn),
                                    "Square each difference, average over all entries, then multiply by ½."),
    "02.gae_sum": Exercise("γ = 1, λ = 1, rewards [0, 0, 1], values 0: A_0?", _close(1.0),
                           "With λ = 1 and zero values, the advantage is the sum of all later rewards."),
    "02.gae_td": Exercise("γ = 1, λ = 0, rewards [0, 0, 1], values 0: A_0?", _close(0.0),
                          "With λ = 0 the advantage is the one-step TD error δ_0 = r_0 + γV_1 − V_0."),
    "02.td_errors": Exercise("Write td_errors(rewards, values, gamma): δ_t = r_t + γ·V_{t+1} − V_t.",
                             lambda fn: callable(fn) and _td_errors_ok(fn),
                             "Shift the values one step left, put 0 after the last token, then combine."),
    "01.bt_loss": Exercise("r_chosen = 2, r_rejected = 0: −log σ(2 − 0)?", _close(0.126928, 5e-4),
                           "σ(x) = 1/(1 + e^(−x)); compute σ(2), then −log of it."),
    "01.shift": Exercise("Adding +5 to every score changes the pairwise accuracy by?", _close(0.0),
                         "Pairwise accuracy only compares r_chosen with r_rejected. Does their difference change?"),
    "01.preference_probability": Exercise(
        "Write preference_probability(r_chosen, r_rejected) = σ(r_chosen − r_rejected).",
        _matches(lambda c, r: 1 / (1 + math.exp(r - c)), ((2, 0), (0, 0), (-1, 3), (10, -10))),
        "The logistic function of the difference: 1 / (1 + exp(−(r_chosen − r_rejected)))."),
}


EXERCISES.update({  # notebook 05
    "05.uniform8": Exercise("The entropy (nats) of a uniform distribution over 8 tokens?", _close(math.log(8), 5e-4),
                            "Every token has probability 1/8, so S = −Σ (1/8)·log(1/8). How many equal terms "
                            "are there?"),
    "05.temperature": Exercise("T > 1 makes the entropy of softmax(logits/T) 'higher' or 'lower'?",
                               lambda a: str(a).strip().lower() == "higher",
                               "Dividing the logits by a large T shrinks the gaps between them. What does a "
                               "distribution with small gaps between its logits look like?"),
    "05.distinct_1": Exercise("Write distinct_1(texts): unique words / all words, over all texts.",
                              lambda fn: callable(fn) and _distinct_1_ok(fn),
                              "Split every text on whitespace, pool the words of all texts in one list, then "
                              "divide the size of its set by its length."),
})


EXERCISES.update({  # notebook 06
    "06.total_loss": Exercise("pg_loss = 0.5, vf_loss = 2, S = 3, c1 = 0.1, c2 = 0.01: the loss minimised?",
                              _close(0.67, 1e-6),
                              "The optimiser minimises pg_loss + c1·vf_loss − c2·S. Watch the sign of the "
                              "entropy term."),
    "06.k1": Exercise("log π = −1, log π_ref = −2 on a sampled token: k1?", _close(1.0),
                      "k1 = log π − log π_ref: the policy's log-prob minus the reference's, in that order."),
    "06.adaptive": Exercise("KL = 12, target 6, β = 0.1, n = 64, H = 256: the new β?", _close(0.105, 1e-6),
                            "First the error KL/target − 1, clipped to [−0.2, 0.2]; then β·(1 + error·n/H)."),
    "06.k3": Exercise("Write k3(logprob, ref_logprob) = (r − 1) − log r, r = exp(ref_logprob − logprob).",
                      _matches(lambda a, b: math.expm1(b - a) - (b - a),
                               ((-1.0, -2.0), (-2.0, -1.0), (-0.5, -0.5), (0.0, -3.0))),
                      "Compute log r = ref_logprob − logprob first, then r = exp(log r); the result is never "
                      "negative."),
})


def _trl_batch_args_ok(fn) -> bool:
    """TRL 1.12, one GPU, no accumulation: a rollout is per_device_train_batch_size completions, cut into
    num_mini_batches minibatches (one optimiser step each)."""
    for batch, mini in ((64, 16), (64, 64), (32, 8), (12, 4), (96, 24)):
        args = fn(batch, mini)
        p, g, n = (args[k] for k in ("per_device_train_batch_size", "gradient_accumulation_steps", "num_mini_batches"))
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (p, g, n)):
            return False
        if not (g == 1 and p * g == batch and n * mini == batch):
            return False
    return True


EXERCISES.update({  # notebook 08
    "08.adam_gb": Exercise("gpt2 has 124,439,808 parameters. In fp32 with Adam, weights + gradients + Adam's two "
                           "moments take how many GB (10⁹ bytes)?", _close(124_439_808 * 16 / 1e9, 0.02),
                           "A float32 number takes 4 bytes. Count how many float32 numbers each parameter needs "
                           "while it trains: the weight itself, its gradient, and one per Adam moment."),
    "08.logits_mb": Exercise("The gpt2 preset's minibatch: 16 completions, logits kept for 48 + 1 positions over a "
                             "vocabulary of 50,257, in fp32: how many MB (10⁶ bytes)?",
                             _close(16 * 49 * 50257 * 4 / 1e6, 1.0),
                             "The logits tensor has shape (completions, positions, vocabulary); multiply the three "
                             "sizes, then the bytes of one float32, then convert bytes to MB."),
    "08.trl_batch_args": Exercise("Write trl_batch_args(batch_size, minibatch_size) → dict of TRL 1.12's "
                                  "per_device_train_batch_size, gradient_accumulation_steps (keep it 1) and "
                                  "num_mini_batches, on one GPU.", lambda fn: callable(fn) and _trl_batch_args_ok(fn),
                                  "In TRL 1.12 one rollout is per_device_train_batch_size × "
                                  "gradient_accumulation_steps completions (our batch_size), cut into "
                                  "num_mini_batches minibatches (each of our minibatch_size). Use whole numbers "
                                  "(//), not floats."),
})


def _names_mystery(exercise: str) -> Callable[[object], bool]:
    """The answer names the failure recipe behind `exercise` (`failures.MYSTERIES`), in any case or spacing."""
    def correct(answer) -> bool:
        from .failures import FAILURES, MYSTERIES

        name = str(answer).strip().lower().replace(" ", "_").replace("-", "_")
        if name not in FAILURES:
            raise ValueError(f"{answer!r} is not a failure name; valid: {sorted(FAILURES)}")
        return name == MYSTERIES[exercise]
    return correct


EXERCISES.update({  # notebook 07
    **{name: Exercise(f"Which setting is broken in the runs of mystery {name[-1]}? Answer with a name from "
                      "lab.failures.FAILURES.", _names_mystery(name), hint) for name, hint in (
        ("07.bug_1", ("Look at the direction of the reward panel before anything else: does the run get better or "
                     "worse at the task than the healthy run, while the value head keeps learning?")),
        ("07.bug_2", ("Look at the very first iteration, before the policy has drifted: which bug makes the ratio, "
                     "clip fraction and approx-KL non-zero when π_θ and π_old should still be the same network?")),
        ("07.bug_3", ("Compare the size of the numbers, not only their direction: how far above its band is the "
                     "approx-KL, and what happened to the entropy?")))},
    "07.first_ratio": Exercise("In a healthy run, what is the mean ratio π_θ/π_old at the first minibatch of each "
                               "rollout?", _close(1.0, 1e-5),  # 1 to float rounding: a value read off a run counts
                               "Before the first optimiser step of Phase II, which weights computed π_old, and "
                               "which compute π_θ?"),
})


def check(name: str, answer, *, time_limit: float | None = TIME_LIMIT_S) -> bool:
    """Print whether `answer` is right (with a hint if not); True when right.

    A number may be of any numeric type (`_as_number`). An answer that is a function gets `time_limit`
    seconds for each call (None: no limit); see `impl_checks.call_with_limit`."""
    if name not in EXERCISES:
        raise KeyError(f"exercise {name!r} does not exist; valid: {sorted(EXERCISES)}")
    exercise = EXERCISES[name]
    if answer is None:
        print(f"[{name}] not answered yet: {exercise.question}")
        return False
    try:
        right = bool(exercise.correct(limited(answer, time_limit) if callable(answer) else answer))
    except TimeUp as e:
        print(f"[{name}] {e.message()}")
        return False
    except Exception as e:  # a learner's function that raises is a wrong answer, with the reason
        print(f"[{name}] your answer raised {type(e).__name__}: {e}\n  hint: {exercise.hint}")
        return False
    print(f"[{name}] right!" if right else f"[{name}] not yet.\n  hint: {exercise.hint}")
    return right


def _probe_args(name: str) -> tuple:
    """A tiny valid input for an engine function, to see whether a learner's version is implemented."""
    x, mask = torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool)
    return {"gae": (x, x, mask, 1.0, 0.95), "value_loss": (x, x, x, mask, 0.2), "policy_loss": (x, x, x, mask, 0.2),
            "entropy": (torch.zeros(1, 3, 5), mask), "kl_per_token": (x, x, "k1"),
            "ppo_loss": (torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0), 0.1, 0.0)}[name]


def use_impl(name: str, fn):
    """The function the next cells train with: yours once it is implemented, else the package's own.

    Says which one it picked. "Implemented" means it no longer raises NotImplementedError; whether
    it is *right* is what `check_impl` and the training curves tell you.
    """
    from .trainer import ENGINE_FUNCTIONS

    if name not in ENGINE_FUNCTIONS:
        raise KeyError(f"name={name!r} is not an engine function; valid: {sorted(ENGINE_FUNCTIONS)}")
    package = ENGINE_FUNCTIONS[name]
    try:
        fn(*_probe_args(name))
    except NotImplementedError:
        print(f"[{name}] using the package's own {package.__module__}.{package.__name__}: yours is not "
              "implemented yet (fill in the cell above and rerun from there).")
        return package
    except Exception as e:  # implemented, but broken on a tiny input: train with it anyway, and say so
        print(f"[{name}] using YOUR {getattr(fn, '__name__', name)}; warning: on a tiny test input it raised "
              f"{type(e).__name__}: {e}")
        return fn
    print(f"[{name}] using YOUR {getattr(fn, '__name__', name)} in the runs below.")
    return fn


def same_run(a, b) -> bool:
    """True when two runs logged exactly the same numbers (wall-clock timings aside)."""
    strip = lambda run: [{k: v for k, v in h.items() if not k.startswith("time/")} for h in run.history]  # noqa: E731
    return strip(a) == strip(b) and a.samples == b.samples


def train_yours(config, overrides: dict, metrics=("env/reward_mean", "objective/kl")):
    """Train twice from the bundled start with the same seed — the package's functions, then with
    `overrides` — and plot both runs side by side. Returns (reference, yours).

    With correct functions the two runs are the same run, number for number (`same_run`).
    """
    import matplotlib.pyplot as plt

    from .plots import curves
    from .trainer import ENGINE_FUNCTIONS, train

    reference = train(config, progress=False)
    yours = train(config, overrides=overrides, progress=False)
    whose = ", ".join(f"{'your' if fn is not ENGINE_FUNCTIONS[n] else 'the package' + chr(39) + 's'} {n}"
                      for n, fn in overrides.items())
    curves({"reference: the package's functions": [reference], f"this run: {whose}": [yours]}, list(metrics),
           f"Trained with {whose}, beside the reference run (same seed)")
    plt.show()
    print("identical to the reference run, number for number" if same_run(reference, yours)
          else "this run differs from the reference run")
    return reference, yours
