"""How varied the completions are: distinct n-grams, the usual measure of mode collapse (notebook 05)."""
from __future__ import annotations


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """Word n-grams of one text, in order."""
    words = text.split()
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: list[str], n: int = 2) -> float:
    """distinct-n = |unique n-grams| / |n-grams| over all texts: 1 is all different, → 0 is one phrase repeated."""
    if n < 1:
        raise ValueError(f"n={n!r} is out of range; valid: n ≥ 1")
    grams = [g for t in texts for g in ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def unique_fraction(texts: list[str]) -> float:
    """Fraction of texts that are different from every other: 1/len(texts) when all are the same."""
    return len(set(texts)) / len(texts) if texts else 0.0


__all__ = ["distinct_n", "ngrams", "unique_fraction"]
