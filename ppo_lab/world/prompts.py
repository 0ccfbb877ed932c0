"""The prompts of a run's world: openings of held-out reviews, or, with a reward program (notebook 11), sums;
each kept only where it fits `prompt_length` tokens of the policy's tokenizer. Training (`rl.checks.prompt_pool`)
and the export to other engines (`interop.export`) draw from the same pool.
"""
from __future__ import annotations

from ..config import PPOConfig
from . import data, verifiable


def world_prompts(config: PPOConfig, split: str = "train") -> list[str]:
    """The sums of `split` with a reward program, else the openings of held-out reviews (`data.make_prompts`)."""
    return verifiable.prompts(split) if verifiable.is_program(config.reward_model) else data.make_prompts(seed=0)


def token_lengths(tokenizer, pool: list[str]) -> list[int]:
    """How many tokens each prompt takes."""
    return [len(ids) for ids in tokenizer(pool)["input_ids"]]


def fitting(pool: list[str], lengths: list[int], prompt_length: int) -> list[str]:
    """The prompts of at most `prompt_length` tokens, in their order."""
    return [p for p, n in zip(pool, lengths) if n <= prompt_length]


__all__ = ["fitting", "token_lengths", "world_prompts"]
