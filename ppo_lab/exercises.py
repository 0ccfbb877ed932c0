"""Auto-checked exercises: the learner answers, the checker says right or wrong with a hint.

    lab.exercises.check("00.steps", answer)

An unanswered exercise (`None`) is reported as such and never fails a notebook run; a wrong answer
gets a hint, never the answer itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass(frozen=True)
class Exercise:
    question: str
    correct: Callable[[object], bool]
    hint: str


def _close(target: float, tol: float = 1e-6) -> Callable[[object], bool]:
    return lambda a: isinstance(a, (int, float)) and not isinstance(a, bool) and math.isclose(a, target, abs_tol=tol)


def _fraction_positive_ok(fn) -> bool:
    cases = [(torch.tensor([0.5, -1.0, 2.0, 0.0]), 0.0, 0.5), (torch.tensor([1.0, 1.0]), 1.5, 0.0),
             (torch.tensor([-3.0, 4.0, 5.0]), -4.0, 1.0)]
    return all(math.isclose(float(fn(scores, threshold)), want, abs_tol=1e-6) for scores, threshold, want in cases)


def _clipped_objective_ok(fn) -> bool:
    cases = [(1.3, 1.0, 0.2, 1.2), (0.5, 1.0, 0.2, 0.5), (1.0, 2.0, 0.2, 2.0), (0.5, -1.0, 0.2, -0.8),
             (1.5, -1.0, 0.2, -1.5), (1.1, -2.0, 0.1, -2.2)]
    return all(math.isclose(float(fn(r, a, e)), want, abs_tol=1e-9) for r, a, e, want in cases)


def _plain_value_loss_ok(fn) -> bool:
    cases = [([0.0, 1.0], [1.0, 1.0], 0.25), ([2.0], [-1.0], 4.5), ([0.5, 0.5, 0.5], [0.5, 1.5, -0.5], 1 / 3)]
    return all(math.isclose(float(fn(v, r)), want, abs_tol=1e-9) for v, r, want in cases)


def _td_errors_ok(fn) -> bool:
    cases = [([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], 1.0, [0.0, 0.0, 1.0]),
             ([1.0, 2.0], [0.5, 1.0], 0.9, [1.4, 1.0]), ([0.0], [2.0], 0.5, [-2.0])]
    return all(np.allclose(np.asarray(fn(r, v, g), dtype=float), want) for r, v, g, want in cases)


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
    "01.preference_probability": Exercise("Write preference_probability(r_chosen, r_rejected) = σ(r_chosen − r_rejected).",
                                          lambda fn: callable(fn) and all(math.isclose(float(fn(c, r)), 1 / (1 + math.exp(r - c)),
                                                                                       abs_tol=1e-9)
                                                                          for c, r in ((2, 0), (0, 0), (-1, 3), (10, -10))),
                                          "The logistic function of the difference: 1 / (1 + exp(−(r_chosen − r_rejected)))."),
}


def check(name: str, answer) -> bool:
    """Print whether `answer` is right (with a hint if not); True when right."""
    if name not in EXERCISES:
        raise KeyError(f"exercise {name!r} does not exist; valid: {sorted(EXERCISES)}")
    exercise = EXERCISES[name]
    if answer is None:
        print(f"[{name}] not answered yet: {exercise.question}")
        return False
    try:
        right = bool(exercise.correct(answer))
    except Exception as e:  # a learner's function that raises is a wrong answer, with the reason
        print(f"[{name}] your answer raised {type(e).__name__}: {e}\n  hint: {exercise.hint}")
        return False
    print(f"[{name}] right!" if right else f"[{name}] not yet.\n  hint: {exercise.hint}")
    return right
