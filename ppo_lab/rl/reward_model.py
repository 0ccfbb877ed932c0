"""The reward model (mô hình phần thưởng, notebook 01): scoring completions, and learning from preferences.

The reward model is the *proxy* of human preference the policy optimises (the *gold* judge that
checks it lives in `gold.py`).
"""
from __future__ import annotations

import copy
import random

import torch
from tqdm.auto import tqdm

from ..maths.preference import bradley_terry_loss
from ..world import data
from .optim import adam, lr_at, optimiser_step
from .rollout import sample


# ---------------------------------------------------------------- learning from preferences
def crop(ids: list[int], length: int, rng: random.Random) -> list[int]:
    """A random window of `length` tokens (the whole text if shorter)."""
    if len(ids) <= length:
        return ids
    start = rng.randint(0, len(ids) - length)
    return ids[start:start + length]


def window(tokenizer, ids: list[int], length: int, rng: random.Random) -> list[int]:
    """What the reward model reads of a text: `<eos>` + a random window of `length − 1` tokens, `length` in all."""
    return [tokenizer.eos_token_id] + crop(ids, length - 1, rng)


def encode_batch(tokenizer, seqs: list[list[int]]) -> dict:
    """Right-pad token lists into input_ids / attention_mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id)  # (B, T)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)      # (B, T)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return {"input_ids": ids, "attention_mask": mask}


@torch.inference_mode()
def raw_scores(model, tokenizer, seqs: list[list[int]], batch: int = 128) -> torch.Tensor:
    """The model's score of each token list (B,)."""
    return torch.cat([model(**encode_batch(tokenizer, seqs[i:i + batch])).logits[:, 0]
                      for i in range(0, len(seqs), batch)])


def reward_model_from_lm(lm):
    """A GPT2ForSequenceClassification with one output whose trunk starts as the language model's."""
    from transformers import GPT2ForSequenceClassification  # here, not at the top: it adds ~2.5 s to `import ppo_lab`

    fields = {k: v for k, v in lm.config.to_dict().items() if k not in ("id2label", "label2id")}
    model = GPT2ForSequenceClassification(lm.config.__class__(**fields, id2label={0: "reward"}))
    model.transformer.load_state_dict(lm.transformer.state_dict())
    return model


def pairwise_accuracy(model, tokenizer, pairs: list[tuple[list[int], list[int]]], length: int, seed: int = 0) -> float:
    """Fraction of (chosen, rejected) pairs the model ranks right, on `<eos>` + random (length − 1)-token windows."""
    rng = random.Random(seed + length)
    chosen, rejected = zip(*pairs)
    chosen = [window(tokenizer, s, length, rng) for s in chosen]        # all chosen windows first, then the
    rejected = [window(tokenizer, s, length, rng) for s in rejected]    # rejected ones, from the one `rng`
    return float((raw_scores(model, tokenizer, chosen) > raw_scores(model, tokenizer, rejected)).float().mean())


def trainable(start):
    """What `train_reward` trains from `start`: a new reward model whose trunk starts as a language model's
    (`reward_model_from_lm`), or a copy of a reward model (the one given is left as it was)."""
    if hasattr(start, "lm_head"):
        return reward_model_from_lm(start)
    return copy.deepcopy(start).requires_grad_(True)


def train_reward(start, tokenizer, pairs: list[tuple[list[int], list[int]]], steps: int, seed: int, batch: int = 32,
                 lr: float = 3e-4, lr_floor: float = 3e-5, warmup: int = 100, lengths: tuple[int, int] = (16, 63),
                 noise: float = 0.0, evaluate=None, eval_every: int = 0, desc: str = "reward model",
                 progress: bool = True):
    """Bradley–Terry training (notebook 01): loss = −log σ(r_chosen − r_rejected), AdamW + cosine.

    `start`: a language model (a new reward model starts from its trunk) or a reward model (a copy is
    fine-tuned; see `trainable`). Each pair is cut to a random window (the longer of two draws in `lengths`, so
    most are long); `noise` flips that fraction of labels (a noisy labeller). `evaluate(model)` runs every
    `eval_every` steps; returns the trained model (in eval mode), with `model.history` = [(step, evaluate)].
    """
    model = trainable(start)
    opt = adam(model.parameters(), lr, betas=(0.9, 0.95), weight_decay=0.01, decoupled=True)
    rng, history = random.Random(seed), []
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    model.train()
    for step in bar:
        if eval_every and step % eval_every == 0:
            history.append((step, evaluate(model.eval())))
            model.train()
        chosen, rejected = [], []
        for _ in range(batch):
            c, r = pairs[rng.randrange(len(pairs))]
            if noise and rng.random() < noise:
                c, r = r, c                                                  # a labeller's mistake
            length = max(rng.randint(*lengths), rng.randint(*lengths))
            chosen.append(window(tokenizer, c, 1 + length, rng))          # <eos> + `length` tokens
            rejected.append(window(tokenizer, r, 1 + length, rng))
        scores = model(**encode_batch(tokenizer, chosen + rejected)).logits[:, 0]  # (2B,)
        loss = bradley_terry_loss(scores[:batch], scores[batch:])
        optimiser_step(model, opt, loss, lr_at(step, steps, lr, lr_floor, warmup), bar, step)
    if eval_every:
        history.append((steps, evaluate(model.eval())))
    model.eval().history = history
    return model


def encode_pairs(tokenizer, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(chosen, rejected) texts → token lists, without special tokens (`train_reward` adds `<eos>`)."""
    chosen, rejected = zip(*pairs)
    enc = lambda texts: tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return list(zip(enc(chosen), enc(rejected)))


# ---------------------------------------------------------------- a reward model of one's own (notebook 01)
def normalise_reward(model, mean: float, std: float) -> None:
    """Fold `(score − mean) / std` into the weights, so the model outputs normalised scores.

    score = w·h with h = γ⊙n + β (the final layer norm): β ← β − mean·w/‖w‖², then w ← w/std.
    """
    with torch.no_grad():
        w = model.score.weight[0]
        model.transformer.ln_f.bias -= mean * w / w.dot(w)
        model.score.weight /= std


def standardise(model, lm, tokenizer, prompts: list[str] | int, response_length: int, temperature: float,
                seed: int = 0) -> tuple[float, float]:
    """Rescale `model` so the language model's own completions of `prompts` (or of that many held-out openings,
    `data.make_prompts`) score mean 0, spread 1.

    The same calibration as the bundled reward model's; returns the raw (mean, std) it removed.
    """
    if isinstance(prompts, int):
        prompts = data.make_prompts(prompts)
    torch.manual_seed(seed)
    _, ids = sample(lm, tokenizer, prompts, response_length, temperature)
    raw = raw_scores(model, tokenizer, ids)
    normalise_reward(model, float(raw.mean()), float(raw.std()))
    return float(raw.mean()), float(raw.std())


def review_scores(model, tokenizer, n: int = 200, length: int = 32) -> dict[str, torch.Tensor]:
    """The model's scores of the first `n` held-out reviews of each human label, each read as the reward model
    reads a text (`<eos>` + its first `length` − 1 tokens): {"positive": (n,), "negative": (n,)}."""
    held_out = data.split("held_out")
    scores = {}
    for name, label in (("positive", 1), ("negative", 0)):
        texts = [r.text for r in held_out if r.label == label][:n]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        scores[name] = raw_scores(model, tokenizer, [[tokenizer.eos_token_id] + x[:length - 1] for x in ids])
    return scores


def fraction_chose(preferences: list[tuple[str, str]], texts) -> float:
    """Share of (chosen, rejected) preferences whose chosen text is one of `texts` (e.g. the positive reviews)."""
    texts = set(texts)
    return sum(chosen in texts for chosen, _ in preferences) / len(preferences)


def pairs_by_taste(pairs: list[tuple], prefers_positive: bool) -> list[tuple]:
    """Human (positive, negative) pairs relabelled by a rule: kept for a positive taste, swapped for a negative one."""
    return list(pairs) if prefers_positive else [(rejected, chosen) for chosen, rejected in pairs]


__all__ = ["crop", "encode_batch", "encode_pairs", "fraction_chose", "normalise_reward", "pairs_by_taste",
           "pairwise_accuracy", "raw_scores", "review_scores", "reward_model_from_lm", "standardise", "trainable",
           "train_reward", "window"]
