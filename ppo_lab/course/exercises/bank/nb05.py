"""The exercises of notebook 05: entropy.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .base import Exercise, gives, matches, numeric, says

EXERCISES = {
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
}


__all__ = ["EXERCISES"]
