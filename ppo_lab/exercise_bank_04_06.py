"""The exercises of notebooks 04–06: the clipped policy loss, entropy, the whole objective and the KL.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .exercise_bank_base import Exercise, close, gives, matches, numeric, says

EXERCISES = {  # notebook 04
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


EXERCISES.update({  # notebook 05
    "05.uniform8": numeric(
        "The entropy (nats) of a uniform distribution over 8 tokens?", math.log(8),
        ("Every token has probability 1/8, so S = −Σ (1/8)·log(1/8). How many equal terms are there?",
         "The 8 equal terms add up to −8·(1/8)·log(1/8) = log 8, with the natural log (nats)."),
        "S = −Σ p·ln p = −8·(1/8)·ln(1/8) = ln 8 ≈ 2.079 nats (math.log(8)); in bits it would be log₂ 8 = 3.",
        stars=1, minutes=2, tol=5e-4,
        slips={3.0: "That is in bits (log₂); the course measures entropy in nats (natural log, math.log).",
               math.log10(8): "That is log₁₀; the course measures entropy in nats (natural log, math.log).",
               0.125: "That is the probability of one token; the entropy sums −p·log p over all 8.",
               math.log(8) / 8: "That is one token's term −p·log p; there are 8 of them."}),
    "05.temperature": Exercise(
        "T > 1 makes the entropy of softmax(logits/T) 'higher' or 'lower'?",
        lambda a: str(a).strip().lower() == "higher",
        (("Dividing the logits by a large T shrinks the gaps between them. What does a distribution with small gaps "
          "between its logits look like?"),
         ("As T → ∞ every logit/T → 0 and the softmax tends to the uniform distribution, the one with the largest "
          "entropy.")),
        "'higher': logits/T with T > 1 shrinks the gaps, so the probabilities move towards uniform, whose entropy "
        "log V is the largest possible; T < 1 sharpens the distribution and lowers it.", stars=1, minutes=2,
        mistakes=((says("lower"), ("Lower is what T < 1 does: dividing by a small T stretches the gaps between the "
                                   "logits.")),)),
    "05.distinct_1": Exercise(
        "Write distinct_1(texts): unique words / all words, over all texts.",
        matches([(["a b a", "b c"], 3 / 5), (["x x x x"], 1 / 4), (["one two", "three"], 1.0)]),  # (texts, distinct-1)
        (("distinct-1 measures variety: texts that repeat themselves have few different words per word. Count over "
          "the words of all texts together."),
         ("Split every text on whitespace, pool the words of all texts in one list, then divide the size of its set "
          "by its length.")),
        "def distinct_1(texts):\n    words = [w for text in texts for w in text.split()]\n"
        "    return len(set(words)) / len(words)", stars=2, minutes=5,
        mistakes=((gives(5 / 6, ["a b a", "b c"]), ("You averaged one ratio per text; pool the words of ALL texts "
                                                    "first, then take one ratio.")),
                  (gives(2 / 5, ["a b a", "b c"]), "Count distinct WORDS (split each text), not distinct texts."))),
})


EXERCISES.update({  # notebook 06
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
})
