"""The exercises of notebook 02: advantages and GAE.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

from .base import Exercise, gives, matches, numeric

EXERCISES = {
    "02.gae_sum": numeric(
        "γ = 1, λ = 1, rewards [0, 0, 1], values 0: A_0?", 1.0,
        (("With λ = 1, GAE adds up the TD errors δ_t of the token and of every later one (undiscounted when γ = 1). "
          "What is each δ_t when every value is 0?"),
         "With V = 0 everywhere δ_t = r_t, so A_0 = δ_0 + δ_1 + δ_2 = r_0 + r_1 + r_2."),
        "δ_t = r_t + γ·V_{t+1} − V_t = [0, 0, 1]; A_0 = δ_0 + γλ·δ_1 + (γλ)²·δ_2 = 0 + 0 + 1 = 1.0: with λ = 1 the "
        "score at the end reaches the first token in full.", stars=2, minutes=3,
        slips={0.0: "0 is the answer for λ = 0 (the one-step TD error); with λ = 1 the later TD errors count too."}),
    "02.gae_td": numeric(
        "γ = 1, λ = 0, rewards [0, 0, 1], values 0: A_0?", 0.0,
        ("With λ = 0 the advantage is the one-step TD error δ_0 = r_0 + γV_1 − V_0.",
         "Read r_0, V_1 and V_0 off the question: the reward at the first token, the values at tokens 1 and 0."),
        "A_0 = δ_0 = r_0 + γ·V_1 − V_0 = 0 + 1·0 − 0 = 0.0: with λ = 0 (and V = 0) the score at the last token does "
        "not reach the first.", stars=2, minutes=3,
        slips={1.0: "1 is the answer for λ = 1; with λ = 0 only the first token's own δ_0 counts."}),
    "02.td_errors": Exercise(
        "Write td_errors(rewards, values, gamma): δ_t = r_t + γ·V_{t+1} − V_t.",
        matches([([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], 1.0, [0.0, 0.0, 1.0]),   # (rewards, values, gamma, deltas)
                 ([1.0, 2.0], [0.5, 1.0], 0.9, [1.4, 1.0]), ([0.0], [2.0], 0.5, [-2.0])]),
        ("Shift the values one step left, put 0 after the last token, then combine.",
         "next_values = values[1:] + [0.0]; then δ_t = rewards[t] + gamma·next_values[t] − values[t] for every t."),
        "def td_errors(rewards, values, gamma):\n    next_values = list(values[1:]) + [0.0]\n"
        "    return [r + gamma * v_next - v for r, v_next, v in zip(rewards, next_values, values)]",
        stars=2, minutes=6,
        mistakes=((gives([-1.0], [0.0], [2.0], 0.5),
                   "After the last token the episode ends: V after the end is 0, not the last value again."),
                  (gives([2.0], [0.0], [2.0], 0.5),
                   "δ_t = r_t + γ·V_{t+1} − V_t: the target minus the prediction, not the other way round."))),
}


__all__ = ["EXERCISES"]
