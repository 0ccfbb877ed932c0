"""The exercises of notebook 04: the clipped policy loss.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

from .base import Exercise, gives, matches, numeric, says

EXERCISES = {
    "04.grad_above": numeric(
        "With ε = 0.2 and A > 0, what is ∂L_clip/∂r at r = 1.3?", 0.0,
        (("Is r = 1.3 inside the trust region [0.8, 1.2]? Which term does the min pick there, and does that term "
          "depend on r?"),
         ("For A > 0 and r > 1 + ε, r·A > (1 + ε)·A, so min(r·A, clip(r)·A) = (1 + ε)·A. Differentiate that "
          "w.r.t. r.")),
        "L_clip = min(1.3·A, clip(1.3, 0.8, 1.2)·A) = min(1.3·A, 1.2·A) = 1.2·A, a constant in r, so "
        "∂L_clip/∂r = 0.0: nothing pushes the ratio further out of the trust region.", stars=2, minutes=4,
        slips={1.0: ("That is ∂(r·A)/∂r = A (for A = 1) inside the trust region; at r = 1.3 the min picks the "
                     "clipped term.")}),
    "04.zero_case": Exercise(
        "Which case gets zero gradient: 'A>0, r<1-eps', 'A>0, r>1+eps' or 'A<0, r>1+eps'?",
        says("a>0,r>1+eps"),
        (("Clipping only removes the incentive to go further in the direction the advantage already favours. For a "
          "good action (A > 0), which direction is that?"),
         ("A > 0: the objective wants r up. Past 1 + ε the clipped term (1 + ε)·A is the smaller one, and it is "
          "flat in r.")),
        "'A>0, r>1+eps': there min(r·A, clip(r)·A) = (1 + ε)·A, constant in r, so the gradient is 0. For A > 0, "
        "r < 1 − ε and for A < 0, r > 1 + ε the min picks the unclipped r·A, whose gradient A pulls r back.",
        stars=2, minutes=4,
        mistakes=((says("a<0,r>1+eps", "a>0,r<1-eps"), ("In that case the min picks the UNclipped r·A (the smaller "
                   "term), so the gradient A pulls the ratio back towards the trust region.")),)),
    "04.clipped_objective": Exercise(
        "Write clipped_objective(ratio, advantage, eps) = min(r·A, clip(r, 1−ε, 1+ε)·A).",
        matches([(1.3, 1.0, 0.2, 1.2), (0.5, 1.0, 0.2, 0.5), (1.0, 2.0, 0.2, 2.0),   # (ratio, advantage, eps, L)
                 (0.5, -1.0, 0.2, -0.8), (1.5, -1.0, 0.2, -1.5), (1.1, -2.0, 0.1, -2.2)]),
        (("Two terms: the plain r·A, and the same with r held inside the trust region [1 − ε, 1 + ε]. The objective "
          "is the pessimistic one of the two."),
         ("Clip the ratio (not the advantage) to [1 − ε, 1 + ε], multiply both the clipped and the unclipped ratio "
          "by A, and take the smaller of the two.")),
        "def clipped_objective(ratio, advantage, eps):\n    clipped = min(max(ratio, 1 - eps), 1 + eps)\n"
        "    return min(ratio * advantage, clipped * advantage)", stars=2, minutes=6,
        mistakes=((gives(0.8, 0.5, 1.0, 0.2), "Take the MIN of the two terms (the pessimistic bound), not the max."),
                  (gives(1.2, 1.0, 2.0, 0.2), "Clip the ratio r to [1 − ε, 1 + ε], not the advantage A."))),
}


__all__ = ["EXERCISES"]
