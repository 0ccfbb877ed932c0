"""The reward model (mô hình phần thưởng, notebook 01): scoring completions, and learning from preferences.

The reward model is the *proxy* of human preference the policy optimises. VADER, a rule-based
sentiment scorer the policy never sees, is the *gold* judge that tells us whether the text really
became more positive (notebook 06: reward over-optimisation).
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """loss = −mean log σ(r_chosen − r_rejected): the chosen text should outscore the rejected one."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    return SentimentIntensityAnalyzer()


def gold_scores(texts: list[str]) -> list[float]:
    """VADER's compound sentiment in [−1, 1] for each text (> 0.05 reads as positive)."""
    analyzer = _vader()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]
