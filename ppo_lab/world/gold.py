"""The gold judge (giám khảo vàng, notebook 06): VADER, a rule-based sentiment scorer the policy never sees.

The reward model is the *proxy* of human preference the policy optimises; VADER tells us whether the
text really became more positive, so a run can show reward over-optimisation (proxy up, gold down).
"""
from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE = 0.05  # VADER's own cut: a compound score above it reads as positive


@lru_cache(maxsize=1)
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def gold_scores(texts: list[str]) -> list[float]:
    """VADER's compound sentiment in [−1, 1] for each text (> 0.05 reads as positive)."""
    analyzer = _vader()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]


__all__ = ["gold_scores", "POSITIVE"]
