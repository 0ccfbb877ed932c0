"""The exercises of notebook 01: the reward model.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .base import Exercise, gives, matches, numeric, raises

OVERFLOW_HINT = ("Right for small gaps, but a gap of −800 overflows: e^800 is beyond the largest float (about e^709). "
                 "σ(x) = 1/(1 + e^(−x)) for x ≥ 0 and e^x/(1 + e^x) for x < 0 are the same number, and neither "
                 "exponent is ever positive.")


def _sigmoid(x: float) -> float:
    """σ(x) without overflow: 1/(1 + e^(−x)) for x ≥ 0, e^x/(1 + e^x) below."""
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))

EXERCISES = {
    "01.bt_loss": numeric(
        "r_chosen = 2, r_rejected = 0: −log σ(2 − 0)?", 0.126928,
        (("Work from the inside out: the difference, then σ of it (the probability that the chosen answer wins), "
          "then −log of that probability, with the natural log."),
         "σ(x) = 1/(1 + e^(−x)), so σ(2) = 1/(1 + e^(−2)) ≈ 1/1.1353. Now take −ln of it."),
        "σ(2) = 1/(1 + e^(−2)) ≈ 0.880797, and −ln(0.880797) ≈ 0.127.\n"
        "In code: -math.log(1 / (1 + math.exp(-2)))   # or math.log1p(math.exp(-2))", stars=1, minutes=3, tol=5e-4,
        slips={0.880797: "That is σ(2), the probability that the chosen answer wins; the loss is −log of it.",
               2.126928: "That is −log σ(−2): the argument is r_chosen − r_rejected = +2.",
               0.055124: "That is −log₁₀; the course uses the natural log (ln, math.log).",
               0.183118: "That is −log₂ (bits); the course uses the natural log (ln, math.log).",
               -0.126928: "−log p of a probability p < 1 is positive: check the sign."}),
    "01.shift": numeric(
        "Adding +5 to every score changes the pairwise accuracy by?", 0.0,
        ("Pairwise accuracy only compares r_chosen with r_rejected. Does their difference change?",
         "(r_chosen + 5) − (r_rejected + 5) = r_chosen − r_rejected: is any pair ranked differently?"),
        "0: accuracy counts the pairs with r_chosen > r_rejected, and adding 5 to both sides of every comparison "
        "changes none of them (a Bradley–Terry reward is only defined up to such a shift).", stars=1, minutes=2,
        slips={5: "Accuracy is the fraction of pairs ranked right, not a score: does any pair's order change?"}),
    "01.preference_probability": Exercise(
        "Write preference_probability(r_chosen, r_rejected) = σ(r_chosen − r_rejected), for any gap (even ±1000).",
        matches([(c, r, _sigmoid(c - r)) for c, r in ((2, 0), (0, 0), (-1, 3), (10, -10), (-400, 400), (400, -400))]),
        ("Bradley–Terry: the probability that the chosen answer wins is a sigmoid of something. Of what?",
         "P(chosen ≻ rejected) = σ(r_chosen − r_rejected), with σ(x) = 1 / (1 + e^(−x)); for a very negative x, "
         "write it as e^x / (1 + e^x) so that no e^(−x) overflows."),
        "import math\n\n\ndef preference_probability(r_chosen, r_rejected):\n"
        "    x = r_chosen - r_rejected\n"
        "    if x >= 0:\n"
        "        return 1 / (1 + math.exp(-x))\n"
        "    return math.exp(x) / (1 + math.exp(x))       # the same σ(x), without e^(−x) overflowing", stars=2,
        minutes=4,
        mistakes=((gives(1 / (1 + math.exp(2)), 2, 0), ("That is σ(r_rejected − r_chosen): a higher reward for the "
                                                        "chosen answer must make its win MORE likely.")),
                  (gives(math.exp(2), 2, 0), ("A probability stays between 0 and 1: squash the difference with the "
                                              "sigmoid σ(x) = 1 / (1 + e^(−x)).")),
                  (raises(OverflowError, -400, 400), OVERFLOW_HINT))),
}


__all__ = ["EXERCISES"]
