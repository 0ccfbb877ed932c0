"""Preference pairs for DPO (cặp ưu tiên, notebook 10): a prompt, a chosen and a rejected completion.

Three sources: human pairs from the labelled reviews (`data.shared_prompt_pairs`), the starting policy's own
completions judged by the reward model (`policy_pairs`; online DPO makes them from the current policy each time,
`pairs_from_rollout`), or a learner's own in TRL's formats (`checked_rows`). All become `Pairs`: token ids that
share the prompt, completions cut to `response_length`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import tqdm.auto

from ..config import ConfigError, PPOConfig
from ..world import data
from ..world.models import Models
from .loop import draw_prompts
from .rollout import Rollout, encode_prompts, rollout


@dataclass
class Pairs:
    """N preference pairs that share their prompt: prompt ids left-padded (N, P), chosen and rejected completions
    right-padded with the pad token to response_length (N, L), masks True on valid tokens."""
    prompts: list[str]
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    chosen: torch.Tensor
    chosen_mask: torch.Tensor
    rejected: torch.Tensor
    rejected_mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.prompts)

    def take(self, idx) -> Pairs:
        """The pairs at positions `idx` (a list or a 1-d tensor), without the padding columns none of them uses:
        a batch of short prompts is as wide as its longest prompt, not `prompt_length` (fewer tokens to pass)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Pairs([self.prompts[i] for i in idx.tolist()], *(t[idx] for t in self.tensors())).trimmed()

    def trimmed(self) -> Pairs:
        """The same pairs without the leading prompt columns and trailing completion columns that are padding in
        every row (at least one column of each stays)."""
        p0 = min(int(self.prompt_mask.any(0).float().argmax()), self.prompt_ids.shape[1] - 1)
        used = (self.chosen_mask | self.rejected_mask).any(0)                          # (L,)
        l1 = int(used.nonzero().max()) + 1 if used.any() else 1
        return Pairs(self.prompts, self.prompt_ids[:, p0:], self.prompt_mask[:, p0:], self.chosen[:, :l1],
                     self.chosen_mask[:, :l1], self.rejected[:, :l1], self.rejected_mask[:, :l1])

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return self.prompt_ids, self.prompt_mask, self.chosen, self.chosen_mask, self.rejected, self.rejected_mask

    def texts(self, tokenizer) -> list[dict]:
        """Each pair as text: {"prompt", "chosen", "rejected"} (TRL's explicit-prompt format)."""
        decode = lambda ids, m: tokenizer.decode(ids[m], skip_special_tokens=True)
        return [{"prompt": p, "chosen": decode(c, cm), "rejected": decode(r, rm)}
                for p, c, cm, r, rm in zip(self.prompts, self.chosen, self.chosen_mask, self.rejected,
                                           self.rejected_mask)]


def checked_rows(pairs) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) texts from TRL's formats: rows {"prompt", "chosen", "rejected"} (or triples), or
    columns {"prompt": [...], "chosen": [...], "rejected": [...]}; ConfigError naming the pair that is wrong."""
    if hasattr(pairs, "to_dict") and hasattr(pairs, "columns"):          # a pandas DataFrame: its columns
        pairs = {k: list(pairs[k]) for k in ("prompt", "chosen", "rejected") if k in pairs.columns}
    if isinstance(pairs, dict):
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in pairs]
        if missing:
            raise ConfigError(f"pairs: no {missing} column; valid: columns 'prompt', 'chosen' and 'rejected'")
        lengths = {k: len(pairs.get(k, ())) for k in ("prompt", "chosen", "rejected")}
        if len(set(lengths.values())) != 1:
            raise ConfigError(f"pairs: the columns have different lengths {lengths}: every prompt needs one chosen "
                              "and one rejected completion (a mismatched prompt); valid: columns of equal length")
        pairs = list(zip(pairs["prompt"], pairs["chosen"], pairs["rejected"]))
    rows = [row_of(i, p) for i, p in enumerate(pairs)]
    if not rows:
        raise ConfigError("pairs: no preference pairs were given; valid: at least one (prompt, chosen, rejected)")
    for i, row in enumerate(rows):
        if len(row) != 3 or not all(isinstance(t, str) for t in row):
            raise ConfigError(f"pairs[{i}]={row!r} is not (prompt, chosen, rejected) texts")
        for name, text in zip(("prompt", "chosen", "rejected"), row):
            if not text.strip():
                raise ConfigError(f"pairs[{i}]: its {name} is empty ({text!r}); valid: a non-empty text (a pair with "
                                  "an empty completion says nothing about preferences)")
        if row[1] == row[2]:
            raise ConfigError(f"pairs[{i}]: its chosen and rejected completions are the same text ({row[1]!r}): the "
                              "pair prefers neither, its loss stays log 2 and it gives no gradient; valid: two "
                              "different completions")
    return rows


def row_of(i: int, pair) -> tuple:
    """One pair as (prompt, chosen, rejected): a row {"prompt", "chosen", "rejected"} or a triple."""
    if isinstance(pair, dict):
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in pair]
        if missing:
            raise ConfigError(f"pairs[{i}] has no {missing}: {pair!r}; valid: a row with 'prompt', 'chosen' and "
                              "'rejected' texts")
        return pair["prompt"], pair["chosen"], pair["rejected"]
    if isinstance(pair, str) or not hasattr(pair, "__iter__"):
        raise ConfigError(f"pairs[{i}]={pair!r} is not (prompt, chosen, rejected) texts; valid: a row or a triple")
    return tuple(pair)


def completion_ids(tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Completions as token ids cut to `length` and right-padded with the pad token: ids, mask (N, length)."""
    rows = [ids[:length] for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    ids = torch.full((len(rows), length), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    mask = torch.arange(length) < torch.tensor([len(r) for r in rows]).unsqueeze(1)     # (N, length)
    return ids, mask


def encode_pairs(tokenizer, rows: list[tuple[str, str, str]], config: PPOConfig) -> Pairs:
    """Text pairs as `Pairs`: prompts within `prompt_length` tokens, completions cut to `response_length`."""
    prompts = [p for p, _, _ in rows]
    too_long = [p for p, n in zip(prompts, map(len, tokenizer(prompts)["input_ids"])) if n > config.prompt_length]
    if too_long:
        raise ConfigError(f"pairs: the prompt {too_long[0]!r} is longer than prompt_length={config.prompt_length} "
                          f"tokens ({len(too_long)} such); valid: shorter prompts or a larger prompt_length")
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts)
    chosen, chosen_mask = completion_ids(tokenizer, [c for _, c, _ in rows], config.response_length)
    rejected, rejected_mask = completion_ids(tokenizer, [r for _, _, r in rows], config.response_length)
    return Pairs(prompts, prompt_ids, prompt_mask, chosen, chosen_mask, rejected, rejected_mask)


def human_pairs(tokenizer, config: PPOConfig, split: str = "train") -> Pairs:
    """Human pairs from the labelled reviews (`data.shared_prompt_pairs`): an opening, a positive review's
    continuation chosen over a negative one's. `split="train"` to train on, `"held_out"` to measure."""
    fits = lambda p: len(tokenizer(p)["input_ids"]) <= config.prompt_length
    rows = [row for row in data.shared_prompt_pairs(data.split(split)) if fits(row[0])]
    return encode_pairs(tokenizer, rows, config)


def pairs_from_rollout(batch: Rollout) -> Pairs:
    """A rollout of prompts × 2 completions as pairs, the reward model's higher score chosen (the signal PPO
    optimises); a tie (a pass/fail reward) says nothing and is left out."""
    P = batch.ids.shape[1] - batch.response.shape[1]
    first, second = torch.arange(0, len(batch.prompts), 2), torch.arange(1, len(batch.prompts), 2)   # (N,)
    keep = batch.scores[first] != batch.scores[second]
    first, second = first[keep], second[keep]
    swap = batch.scores[second] > batch.scores[first]                                  # (N,) the second won
    win, lose = torch.where(swap, second, first), torch.where(swap, first, second)
    return Pairs([batch.prompts[i] for i in first.tolist()], batch.ids[first, :P], batch.attention_mask[first, :P],
                 batch.response[win], batch.mask[win], batch.response[lose], batch.mask[lose])


def policy_pairs(models: Models, pool: list[str], config: PPOConfig, generator, n: int, progress: bool) -> Pairs:
    """`n` pairs from the starting policy: prompts of the pool completed twice, the reward model judging."""
    two = pair_config(config)
    chunks = []
    for _ in tqdm.auto.trange(-(-n // (config.batch_size // 2)), desc="policy pairs", disable=not progress,
                              delay=2.0):       # kept when done: a closed bar is a dead widget in a notebook
        chunks.append(pairs_from_rollout(rollout(models, draw_prompts(pool, two, generator), two)))
    return concatenate(chunks)


def concatenate(chunks: list[Pairs]) -> Pairs:
    """Pairs of several chunks as one (prompts padded on the left to the widest)."""
    width = max(c.prompt_ids.shape[1] for c in chunks)
    pad = lambda t, value: torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value)
    return Pairs(sum((c.prompts for c in chunks), []), torch.cat([pad(c.prompt_ids, 0) for c in chunks]),
                 torch.cat([pad(c.prompt_mask, 0) for c in chunks]),
                 *(torch.cat(ts) for ts in zip(*(c.tensors()[2:] for c in chunks))))


def pair_config(config: PPOConfig) -> PPOConfig:
    """The rollout settings of a pair-making rollout: batch_size / 2 prompts × 2 completions."""
    return config.replace(group_size=2, advantage_estimator="gae")


def eval_config(config: PPOConfig) -> PPOConfig:
    """The rollout settings of an offline run's logging rollout: batch_size prompts × 1 completion."""
    return config.replace(advantage_estimator="gae", group_size=1)


class PairStream:
    """An offline pair set handed out `n` pairs at a time, in an order shuffled by the run's generator; each pass
    over the set is reshuffled (an epoch over the data)."""

    def __init__(self, pairs: Pairs, generator: torch.Generator):
        if len(pairs) == 0:
            raise ValueError("PairStream: no pairs to hand out (an empty pair set)")
        self.pairs, self.generator, self.order = pairs, generator, torch.empty(0, dtype=torch.long)

    def next(self, n: int) -> Pairs:
        while len(self.order) < n:
            self.order = torch.cat([self.order, torch.randperm(len(self.pairs), generator=self.generator)])
        idx, self.order = self.order[:n], self.order[n:]
        return self.pairs.take(idx)


__all__ = ["checked_rows", "completion_ids", "concatenate", "encode_pairs", "eval_config", "human_pairs",
           "pair_config", "Pairs", "pairs_from_rollout", "PairStream", "policy_pairs"]
