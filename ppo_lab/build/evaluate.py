"""The figures the asset build must reach, measured on held-out data (`build.assets` calls this).

Also calibrates the reward model: its scores are normalised so the starting policy's
completions have mean 0 and std 1, and the score above which a text counts as *positive* is the
cut that best separates held-out positive from negative reviews.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from ..rl.reward_model import encode_pairs, normalise_reward, pairwise_accuracy, raw_scores, window
from ..rl.rollout import sample
from ..world import data
from ..world.gold import gold_scores

CONTEXT = 64           # tokens per packed row (training and held-out); also the model's n_positions
CALIBRATION_PROMPTS = 512
RESPONSE_LENGTH = 24   # the default preset's response length
TEMPERATURE = 0.8      # the default preset's temperature


def pack(tokenizer, docs: list[str]) -> torch.Tensor:
    """Each document as `<eos> doc`, concatenated and cut into rows of CONTEXT tokens."""
    ids = []
    for enc in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        ids += [tokenizer.eos_token_id] + enc
    n = len(ids) // CONTEXT
    return torch.tensor(ids[: n * CONTEXT]).view(n, CONTEXT)  # (N, CONTEXT)


@torch.inference_mode()
def perplexity(model, rows: torch.Tensor, batch: int = 128) -> float:
    """exp(mean next-token NLL) over packed held-out rows."""
    total, count = 0.0, 0
    for i in range(0, len(rows), batch):
        x = rows[i:i + batch]
        logits = model(input_ids=x).logits[:, :-1]  # (b, T-1, V)
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), reduction="sum")
        total, count = total + nll.item(), count + x[:, 1:].numel()
    return math.exp(total / count)


def best_threshold(pos: torch.Tensor, neg: torch.Tensor) -> tuple[float, float]:
    """The score cut that best separates positive from negative texts, and its accuracy."""
    cuts = torch.cat([pos, neg]).sort().values
    accs = torch.stack([((pos > c).float().sum() + (neg <= c).float().sum()) / (len(pos) + len(neg)) for c in cuts])
    i = int(accs.argmax())
    return float(cuts[i]), float(accs[i])


def windows(tokenizer, reviews, length: int, seed: int) -> tuple[list[list[int]], list[int]]:
    """One deterministic random window per review: `<eos>` + `length − 1` tokens."""
    rng = random.Random(seed)
    ids = tokenizer([r.text for r in reviews], add_special_tokens=False)["input_ids"]
    return [window(tokenizer, x, length, rng) for x in ids], [r.label for r in reviews]


def held_out_accuracy(tokenizer, rm, held_out, length: int, seed: int) -> float:
    """Pairwise accuracy on held-out (positive, negative) pairs of the same source, `length`-token windows."""
    pairs = encode_pairs(tokenizer, data.preference_pairs(held_out, seed=seed))
    return pairwise_accuracy(rm, tokenizer, pairs, length, seed)


def evaluate(tokenizer, lm, rm, held_out, seed: int = 0) -> dict:
    """Perplexity, reward-model accuracies and calibration, agreement with VADER, samples."""
    openers, _ = data.lm_documents(held_out, seed=seed)
    figures = {"lm_heldout_perplexity": round(perplexity(lm, pack(tokenizer, openers)), 2),
               "lm_heldout_text": "openers (first 1-2 sentences) of held-out reviews, 64-token rows"}
    for length in (64, 32, 16):
        figures[f"rm_pairwise_accuracy_{length}"] = round(held_out_accuracy(tokenizer, rm, held_out, length, seed), 4)

    # normalise on the starting policy's completions: mean 0, std 1
    torch.manual_seed(seed)
    prompts = data.make_prompts(CALIBRATION_PROMPTS, seed=seed)
    texts, ids = sample(lm, tokenizer, prompts, RESPONSE_LENGTH, TEMPERATURE)
    raw = raw_scores(rm, tokenizer, ids)
    normalise_reward(rm, float(raw.mean()), float(raw.std()))
    scores = raw_scores(rm, tokenizer, ids)

    # the positive/negative cut, on held-out labelled 32-token windows
    seqs, labels = windows(tokenizer, held_out, 32, seed)
    held = raw_scores(rm, tokenizer, seqs)
    labels = torch.tensor(labels)
    threshold, acc = best_threshold(held[labels == 1], held[labels == 0])
    rm.config.positive_threshold = threshold
    held_texts = tokenizer.batch_decode(seqs, skip_special_tokens=True)
    vader_held = torch.tensor(gold_scores(held_texts))
    vader_start = torch.tensor(gold_scores(texts))
    figures.update(
        rm_positive_threshold=round(threshold, 4),
        rm_label_accuracy_32=round(acc, 4),
        vader_label_accuracy_32=round(float(((vader_held > 0) == (labels == 1)).float().mean()), 4),
        rm_vader_agreement_32=round(float(((vader_held > 0) == (held > threshold)).float().mean()), 4),
        start_fraction_positive_rm=round(float((scores > threshold).float().mean()), 4),
        start_fraction_positive_vader=round(float((vader_start > 0.05).float().mean()), 4),
        start_score_mean=round(float(scores.mean()), 4), start_score_std=round(float(scores.std()), 4),
        start_rm_vader_agreement=round(float(((vader_start > 0) == (scores > threshold)).float().mean()), 4),
        calibration=f"{CALIBRATION_PROMPTS} held-out prompts, {RESPONSE_LENGTH} tokens, temperature {TEMPERATURE}",
        samples=[p + c for p, c in zip(prompts[:8], texts[:8])],
    )
    return figures
