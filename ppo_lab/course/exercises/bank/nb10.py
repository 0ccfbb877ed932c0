"""The exercises of notebook 10: the DPO loss by hand, its optimal policy, its gradient's weight, its implicit
reward model.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .base import numeric

_softplus = lambda x: math.log1p(math.exp(x))          # −log σ(−x)
_sigmoid = lambda x: 1 / (1 + math.exp(-x))

EXERCISES = {
    "10.dpo_by_hand": numeric(
        "One pair. The policy gives the chosen completion 2 nats more log-probability than the reference does, and "
        "the rejected one 1 nat less; β = 0.1. What is the DPO loss?  (4 decimals)", _softplus(-0.3),
        (("First the margin: z = β·[(log π − log π_ref)(chosen) − (log π − log π_ref)(rejected)]."),
         ("z = 0.1·(2 − (−1)) = 0.3. The loss is −log σ(z) = log(1 + e^(−z)).")),
        "z = 0.1·(2 + 1) = 0.3 and −log σ(0.3) = log(1 + e^−0.3) ≈ 0.5544: below log 2 ≈ 0.6931, the loss when the "
        "policy is still the reference (z = 0).", stars=1, minutes=4, tol=5e-4,
        slips={round(math.log(2), 4): "That is the loss at z = 0 (π = π_ref). Here the policy has moved: find z first.",
               0.3: "That is the margin z. The loss is −log σ(z).",
               round(_softplus(0.3), 4): "That is −log σ(−z): the sign is flipped (chosen minus rejected).",
               round(_softplus(-0.1), 4): "z = β·(2 − (−1)): the rejected log-ratio is −1, so subtracting it adds 1."}),
    "10.optimal_ratio": numeric(
        "The KL-regularised objective's optimal policy is π*(y) = π_ref(y)·exp(r(y)/β) / Z. Two completions differ "
        "in reward by r(y_w) − r(y_l) = 1 and β = 0.5. Relative to the reference, how many times more likely is "
        "y_w than y_l under π*?  (3 decimals)", math.exp(2.0),
        (("Divide π*(y_w)/π_ref(y_w) by π*(y_l)/π_ref(y_l): Z is the same for both and cancels."),
         ("Each ratio is exp(r/β)/Z; their quotient is exp((r_w − r_l)/β).")),
        "exp((r_w − r_l)/β) = exp(1/0.5) = e² ≈ 7.389. A smaller β makes the optimum bolder (β → 0: all mass on the "
        "best completion); a larger β keeps π* at π_ref (β → ∞: the ratio → 1).", stars=2, minutes=5, tol=5e-3,
        slips={round(math.exp(0.5), 3): "That multiplies by β. The reward is DIVIDED by β in the exponent.",
               2.0: "That is the exponent (r_w − r_l)/β; the ratio is exp of it."}),
    "10.gradient_weight": numeric(
        "The DPO gradient is −β·σ(−z)·(∇log π(y_w) − ∇log π(y_l)): each pair is weighted by σ(−z). What is the weight "
        "of a pair the policy already ranks right by a margin z = 3?  (4 decimals)", _sigmoid(-3.0),
        (("σ(x) = 1 / (1 + e^(−x)); here x = −z."),
         ("σ(−3) = 1 / (1 + e³), and e³ ≈ 20.09.")),
        "σ(−3) = 1/(1 + e³) ≈ 0.0474, about a tenth of the 0.5 of a pair at z = 0, and a pair ranked wrong by 3 "
        "weighs σ(3) ≈ 0.9526: DPO learns from the pairs it still gets wrong (Rafailov et al., 2023, section 4).",
        stars=2, minutes=4, tol=5e-4,
        slips={round(_sigmoid(3.0), 4): "That is σ(z), the weight of a pair ranked WRONG by 3; right by 3 is σ(−z).",
               0.5: "That is the weight at z = 0 (π = π_ref)."}),
    "10.implicit_preference": numeric(
        "After training, the implicit rewards of a pair are +0.4 (chosen) and −0.2 (rejected). Under Bradley–Terry "
        "(notebook 01), what probability does the policy's implicit reward model give to 'chosen is preferred'?  "
        "(4 decimals)", _sigmoid(0.6),
        (("Bradley–Terry: P(y_w ≻ y_l) = σ(r_w − r_l)."),
         ("r_w − r_l = 0.4 − (−0.2) = 0.6.")),
        "σ(0.4 − (−0.2)) = σ(0.6) ≈ 0.6457: the same formula as notebook 01's reward model, with β·log π/π_ref as "
        "the reward. This is why DPO's policy is 'secretly a reward model'.", stars=1, minutes=3, tol=5e-4,
        slips={0.6: "That is the margin r_w − r_l. Bradley–Terry turns it into a probability with σ.",
               round(_sigmoid(0.2), 4): "r_w − r_l = 0.4 − (−0.2): subtracting a negative adds."}),
}


__all__ = ["EXERCISES"]
