"""The exercises of notebook 06: the whole objective and the KL.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .base import Exercise, close, gives, matches, numeric

EXERCISES = {
    "06.total_loss": numeric(
        "pg_loss = 0.5, vf_loss = 2, S = 3, c1 = 0.1, c2 = 0.01: the loss minimised?", 0.67,
        (("The loss is the negated objective −(L_clip − c1·L_VF + c2·S), and pg_loss is already −L_clip. The "
          "entropy is a bonus: should more entropy raise the loss or lower it?"),
         "The optimiser minimises pg_loss + c1·vf_loss − c2·S. Watch the sign of the entropy term."),
        "pg_loss + c1·vf_loss − c2·S = 0.5 + 0.1·2.0 − 0.01·3.0 = 0.5 + 0.2 − 0.03 = 0.67.", stars=1, minutes=3,
        slips={0.73: "The entropy is a bonus, so it is SUBTRACTED from the loss: − c2·S.",
               2.47: "Weight the value loss by c1 = 0.1 before adding it.",
               0.27: "The value loss is minimised too: it is ADDED, + c1·vf_loss."}),
    "06.k1": numeric(
        "log π = −1, log π_ref = −2 on a sampled token: k1?", 1.0,
        (("k1 estimates KL(π ‖ π_ref) from one sampled token: the log of the ratio of the two probabilities, the "
          "policy's on top."),
         "k1 = log π − log π_ref: the policy's log-prob minus the reference's, in that order."),
        "k1 = log π − log π_ref = −1 − (−2) = 1.0.", stars=1, minutes=2,
        slips={-1.0: "The order: k1 = log π − log π_ref, the policy's log-prob first."},
        mistakes=((close(math.e, 1e-3), "k1 is the difference of the log-probs as they are: no exp."),)),
    "06.adaptive": numeric(
        "KL = 12, target 6, β = 0.1, n = 64, H = 256: the new β?", 0.105,
        (("β grows when the KL is above its target, but by a limited step: the relative error is clipped, and the "
          "step is scaled by this rollout's completions against the horizon."),
         "First the error KL/target − 1, clipped to [−0.2, 0.2]; then β·(1 + error·n/H)."),
        "e = clip(12/6 − 1, −0.2, 0.2) = clip(1, −0.2, 0.2) = 0.2; β ← 0.1·(1 + 0.2·64/256) = 0.1·1.05 = 0.105.",
        stars=2, minutes=5,
        slips={0.125: "Clip the error KL/target − 1 to [−0.2, 0.2] first: here it is 1.",
               0.12: "Scale the step by n/H = 64/256: β·(1 + e·n/H).",
               0.095: "The KL is ABOVE its target, so β must grow: e = KL/target − 1 > 0."}),
    "06.k3": Exercise(
        "Write k3(logprob, ref_logprob) = (r − 1) − log r, r = exp(ref_logprob − logprob).",
        matches([(lp, ref, math.expm1(ref - lp) - (ref - lp))
                 for lp, ref in ((-1.0, -2.0), (-2.0, -1.0), (-0.5, -0.5), (0.0, -3.0))]),
        ("k3 uses the ratio r = π_ref/π, the reference over the policy. Work with log-probs: what is log r?",
         "Compute log r = ref_logprob − logprob first, then r = exp(log r); the result is never negative."),
        "import math\n\n\ndef k3(logprob, ref_logprob):\n    log_r = ref_logprob - logprob\n"
        "    return math.exp(log_r) - 1 - log_r", stars=2, minutes=5,
        mistakes=((gives(math.e - 2, -1.0, -2.0), ("r = π_ref/π, the reference on top: log r = ref_logprob − "
                                                   "logprob.")),
                  (gives(-math.exp(-1), -1.0, -2.0), "k3 = (r − 1) − log r is never negative: check the sign."))),
}


__all__ = ["EXERCISES"]
