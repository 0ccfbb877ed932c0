"""The exercises of notebook 03: the value loss.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

from .base import Exercise, gives, matches, numeric

EXERCISES = {
    "03.clipped_value": numeric(
        "V_old = 0, R = 2, ε_v = 0.2, new V = 1: the clipped value loss?", 1.62,
        (("Two candidate predictions: V itself, and V_clip, moved at most ε_v away from V_old. The loss keeps the "
          "more pessimistic of their two squared errors."),
         ("First clip the *change* V − V_old to [−ε_v, ε_v] to get V_clip; then compute both squared errors against "
          "R, keep the larger, and halve it.")),
        "V_clip = V_old + clip(V − V_old, −0.2, 0.2) = 0 + 0.2 = 0.2. (V − R)² = (1 − 2)² = 1 and "
        "(V_clip − R)² = (0.2 − 2)² = 3.24, so the loss is ½·max(1, 3.24) = 1.62.", stars=2, minutes=5,
        slips={0.5: "0.5 is the plain ½·(V − R)², without the clip: also compute the error of V_clip.",
               3.24: "That is the larger squared error; the value loss is HALF of it: ½·max(...)."}),
    "03.ev_zero": numeric(
        "A value head always predicts 0 while returns vary: its explained variance?", 0.0,
        ("Explained variance is 1 − Var(R − V)/Var(R). What is R − V when V is 0?",
         "With V = 0, R − V = R, so Var(R − V)/Var(R) = 1."),
        "EV = 1 − Var(R − 0)/Var(R) = 1 − 1 = 0: a constant prediction explains none of the returns' variance (a "
        "worse-than-constant one goes negative).", stars=1, minutes=2,
        slips={1.0: "1 means a perfect value head, one that predicts every return exactly."}),
    "03.plain_value_loss": Exercise(
        "Write plain_value_loss(values, returns) = ½·mean((V − R)²).",
        matches([([0.0, 1.0], [1.0, 1.0], 0.25), ([2.0], [-1.0], 4.5),          # (values, returns, loss)
                 ([0.5, 0.5, 0.5], [0.5, 1.5, -0.5], 1 / 3)]),
        ("Square each difference, average over all entries, then multiply by ½.",
         "0.5 · the sum of (v − r)² over the pairs (zip(values, returns) walks them) / the number of pairs."),
        "def plain_value_loss(values, returns):\n"
        "    return 0.5 * sum((v - r) ** 2 for v, r in zip(values, returns)) / len(values)", stars=1, minutes=4,
        mistakes=((gives(2 / 3, [0.5, 0.5, 0.5], [0.5, 1.5, -0.5]), "You forgot the ½: the loss is ½·mean((V − R)²)."),
                  (gives(1.0, [0.5, 0.5, 0.5], [0.5, 1.5, -0.5]), ("Average the squared errors (divide by how many "
                                                                   "there are), don't only add them up.")))),
}


__all__ = ["EXERCISES"]
