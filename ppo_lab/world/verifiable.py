"""Verifiable rewards (phần thưởng có thể kiểm chứng, notebook 11): the arithmetic world, where a program
checks the answer instead of a reward model.

A prompt is a sum, "47+68=", and the right completion is its value then end-of-text, "115∎". The reward is a
program: `exact_match` reads the completion up to end-of-text and gives 1.0 for the right number, 0.0 for
anything else. An optional *format* component (`format_reward`: a short, well-formed answer) is kept apart, so a
course can show how a format point gets gamed while the exact-match judge keeps the score honest.

The bundled policy, "tiny-arith" (`python -m ppo_lab.build.arithmetic`), learnt sums from sloppy worked
examples: where a sum has a carry, most of them forgot it (47+68 → "5": 7+8 → 5, 4+6 → 0). It can add, and it
knows the carry, but it rarely uses it: room for RL to show, and a clear test of whether RL teaches new
things or sharpens what the model already does (pass@k, Chen et al. 2021; Yue et al. 2025).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import numbers
import random
import re

import torch

from ..config import REWARD_PROGRAMS

OPERAND_MAX = 99                   # operands 0 … 99
HELD_OUT_FRACTION = 0.1            # of the unordered pairs {a, b}: both orders fall on the same side
SPLIT_SEED = 0
NUMBER = re.compile(r"0|[1-9][0-9]{0,3}")   # a well-formed answer: the sum as written, ASCII digits 0-9 only
PROGRAMS = REWARD_PROGRAMS         # "exact-match", "exact-match+format" (named in config, which validates them)
FORMAT_WEIGHT = 1.0                # the format point in "exact-match+format": as much as a right answer's
FORMAT_MAX_CHARS = 2               # "a short answer": written for two-digit sums, wrong for those past 99


# ------------------------------------------------------------------ the world: sums and their answers
def prompt(a: int, b: int) -> str:
    """The prompt of a + b, e.g. prompt(47, 68) → "47+68="."""
    return f"{a}+{b}="


def operands(text: str) -> tuple[int, int]:
    """The two operands of a prompt: "47+68=" → (47, 68); anything else is a ValueError naming it."""
    match = re.fullmatch(r"([0-9]+)\+([0-9]+)=", text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"prompt={text!r} is not a sum; valid: 'a+b=' with whole numbers, e.g. '47+68='")
    return int(match[1]), int(match[2])


def forgot_carry(a: int, b: int) -> int:
    """The sum written digit by digit, every carry forgotten: 47+68 → 5 (7+8 → 5, 4+6 → 0; "05" is 5)."""
    digits, place = 0, 1
    while a or b:
        digits += ((a % 10 + b % 10) % 10) * place
        a, b, place = a // 10, b // 10, place * 10
    return digits


def has_carry(a: int, b: int) -> bool:
    """Whether writing a + b needs a carry (then forgetting it gives a wrong answer)."""
    return forgot_carry(a, b) != a + b


def problems(split: str) -> list[tuple[int, int]]:
    """Every ordered pair (a, b), 0 ≤ a, b ≤ OPERAND_MAX, of one split: "train" or "held_out" (disjoint,
    deterministic: a seeded shuffle of the unordered pairs, so 47+68 and 68+47 are never split apart)."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split={split!r}; valid: 'train' or 'held_out'")
    pairs = [(a, b) for a in range(OPERAND_MAX + 1) for b in range(a, OPERAND_MAX + 1)]   # unordered, a ≤ b
    random.Random(SPLIT_SEED).shuffle(pairs)
    cut = round(HELD_OUT_FRACTION * len(pairs))
    chosen = pairs[:cut] if split == "held_out" else pairs[cut:]
    return sorted({p for a, b in chosen for p in ((a, b), (b, a))})


def prompts(split: str, n: int | None = None, seed: int = 0) -> list[str]:
    """The prompts of a split, in a fixed order; with `n`, n of them drawn without replacement (a fixed draw per
    seed: most with a carry, as most sums have). n is a whole number, 1 ≤ n ≤ the split's size."""
    every = [prompt(a, b) for a, b in problems(split)]
    if n is None:
        return every
    if not 1 <= whole("n", n) <= len(every):
        raise ValueError(f"n={n}: valid 1 ≤ n ≤ {len(every)} (the sums of split={split!r})")
    return random.Random(seed).sample(every, n)


def sum_rows(prompt_texts: list[str], answers: list[str]) -> list[dict]:
    """One row per sum and its answer, for a table: the sum, the answer, the right answer, whether the sum needs a
    carry and what it gives with every carry forgotten ("47+68=", "5" → right "115", needs a carry, without "5")."""
    rows = []
    for text, answer in zip(prompt_texts, answers, strict=True):
        a, b = operands(text)
        rows.append({"sum": text, "answer": answer, "right answer": str(a + b), "needs a carry": has_carry(a, b),
                     "without the carry": str(forgot_carry(a, b))})
    return rows


# ------------------------------------------------------------------ the reward is a program
def parse_answer(completion: str) -> int | None:
    """The number a completion gives, read up to end-of-text (the decoded completion stops there), when it is
    written exactly as the sum is: ASCII digits 0–9, no leading zero, no sign, no space, at most 4 digits.
    "115" → 115, "0" → 0; "" (no answer), " 115", "11 5", "115+", "0115" (a leading zero), "١١٥" (another script's
    digits) → None (not an answer)."""
    return int(completion) if NUMBER.fullmatch(completion) else None


def exact_match(prompt_texts: list[str], completions: list[str]) -> torch.Tensor:
    """1.0 where the completion is exactly the sum's value, else 0.0: (B,) float."""
    right = [parse_answer(c) == sum(operands(p)) for p, c in zip(prompt_texts, completions, strict=True)]
    return torch.tensor(right, dtype=torch.float32)                                    # (B,)


def format_reward(completions: list[str]) -> torch.Tensor:
    """1.0 where the completion is a short, well-formed number — at most FORMAT_MAX_CHARS digits, right or
    wrong — else 0.0: (B,) float. A rule written for the two-digit answers, blind to the sums past 99."""
    short = [parse_answer(c) is not None and len(c) <= FORMAT_MAX_CHARS for c in completions]
    return torch.tensor(short, dtype=torch.float32)                                    # (B,)


class ProgramReward:
    """A reward that is a program, in the reward model's place: `score(prompts, completions)` → (B,).

    "exact-match": 1 for the right answer, else 0. "exact-match+format": the same plus FORMAT_WEIGHT for a short,
    well-formed answer (`format_reward`) — a point a policy can collect without adding better (notebook 11).
    """

    threshold = 0.5            # above it: positive (with "exact-match", env/fraction_positive is the accuracy)

    def __init__(self, name: str):
        if name not in PROGRAMS:
            raise ValueError(f"reward_model={name!r} is not a reward program; valid: {list(PROGRAMS)}")
        self.name = name

    def score(self, prompt_texts: list[str], completions: list[str]) -> torch.Tensor:
        reward = exact_match(prompt_texts, completions)                                # (B,)
        if self.name == "exact-match+format":
            reward = reward + FORMAT_WEIGHT * format_reward(completions)
        return reward

    def state_dict(self) -> dict:
        """No weights: a program is known by its name (in the config, so in every run-cache key) and its code
        (in the cache's code checksum)."""
        return {}

    def score_texts(self, texts: list[str]) -> torch.Tensor:
        """The same on whole texts, prompt + completion ("47+68=115"): split after the first "="."""
        cut = [t.index("=") + 1 if "=" in t else len(t) for t in texts]
        return self.score([t[:i] for t, i in zip(texts, cut)], [t[i:] for t, i in zip(texts, cut)])

    def __repr__(self) -> str:
        return f"ProgramReward({self.name!r})"


def is_program(name) -> bool:
    """Whether a `reward_model` name is a reward program rather than a model to load."""
    return isinstance(name, str) and name in PROGRAMS


# ------------------------------------------------------------------ pass@k
def whole(name: str, value) -> int:
    """A count given as a whole number (an int, a numpy integer, a whole-number 0-d tensor): as an int.
    ValueError naming the argument otherwise (a float such as 2.5 or 10.0, inf, a string, an array, True)."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} ({type(value).__name__}): valid a whole number (a count of answers), "
                         f"e.g. {name}=8")
    return int(value)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021)'s unbiased estimate of pass@k from n samples of which c are right:
    1 − C(n−c, k) / C(n, k), the chance that k samples drawn from the n without replacement hold a right one.
    n, c and k are whole numbers with 0 ≤ c ≤ n and 1 ≤ k ≤ n (ValueError naming them otherwise)."""
    n, c, k = whole("n", n), whole("c", c), whole("k", k)
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k(n={n}, c={c}, k={k}): valid 0 ≤ c ≤ n (right answers among the n) and "
                         "1 ≤ k ≤ n (the answers drawn)")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))           # stable: no huge binomials


def no_signal_chance(correct: torch.Tensor, group_size: int) -> float:
    """The expected fraction of groups of G answers that all agree (all right or all wrong: GRPO learns nothing
    from them), estimated without bias from n answers per problem, c right: mean over problems of
    [C(c, G) + C(n − c, G)] / C(n, G), the chance that G of the n drawn without replacement agree — p^G + (1 − p)^G
    for a problem answered right with probability p. correct: (problems, n) 0/1, n ≥ G."""
    n = correct.shape[1]
    if not 1 <= group_size <= n:
        raise ValueError(f"group_size={group_size}: valid 1 ≤ G ≤ n = {n} (the answers per problem)")
    counts = correct.sum(dim=1).long().tolist()
    agree = lambda c: (math.comb(c, group_size) + math.comb(n - c, group_size)) / math.comb(n, group_size)
    return sum(agree(c) for c in counts) / len(counts)


def pass_at_k_curve(correct: torch.Tensor, ks, estimator=pass_at_k) -> dict[int, float]:
    """Mean pass@k over problems. correct: (problems, n) 0/1, n samples of each → {k: mean pass@k}.
    `estimator(n, c, k)`: `pass_at_k`, or a learner's own (notebook 11)."""
    if correct.dim() != 2 or correct.shape[0] == 0:
        raise ValueError(f"correct has shape {tuple(correct.shape)}; valid: (problems, n) with at least one problem")
    n = correct.shape[1]
    counts = correct.sum(dim=1).long().tolist()                                        # right answers per problem
    return {k: sum(estimator(n, c, k) for c in counts) / len(counts) for k in ks}


# ------------------------------------------------------------------ a policy's answers, checked
@dataclasses.dataclass(frozen=True)
class Answers:
    """n answers to each of P sums, checked by the program: what notebook 11 measures of a policy (sampled by
    `rl.metrics.sample_answers`). prompts: P sums; completions: P lists of n answers each, read up to end-of-text."""

    prompts: list[str]
    completions: list[list[str]]

    def __post_init__(self):
        if not self.prompts or len(self.prompts) != len(self.completions):
            raise ValueError(f"Answers: {len(self.prompts)} prompts and {len(self.completions)} lists of completions; "
                             "valid: at least one prompt, and one list of completions per prompt")
        if len({len(c) for c in self.completions}) != 1 or not self.completions[0]:
            raise ValueError(f"Answers: completions per prompt {sorted({len(c) for c in self.completions})}; "
                             "valid: the same n ≥ 1 answers to every prompt")

    @functools.cached_property
    def correct(self) -> torch.Tensor:
        """1.0 where an answer is exactly right, else 0.0: (P, n) float."""
        return exact_match(*self.flat()).view(len(self.prompts), -1)                     # (P, n)

    def flat(self) -> tuple[list[str], list[str]]:
        """The answers as one batch: each prompt repeated n times (P·n,) and the completions in the same order."""
        return [p for p, c in zip(self.prompts, self.completions) for _ in c], list(itertools.chain(*self.completions))

    def solved(self) -> torch.Tensor:
        """Whether at least one of a sum's n answers is right: (P,) bool."""
        return self.correct.sum(dim=1) > 0

    def rows(self) -> list[dict]:
        """The table of `sum_rows`: each sum with its first answer."""
        return sum_rows(self.prompts, [c[0] for c in self.completions])

    def scores(self, program: str | None = None) -> dict[str, float]:
        """Over every answer: the fraction exactly right, on all the sums, on those that need a carry and on those
        that don't; the fraction of answers to sums past 99 at most FORMAT_MAX_CHARS long (all wrong there); with
        `program` (a name in PROGRAMS), the mean reward it gives. A subset with no sum gives NaN."""
        pairs = [operands(p) for p in self.prompts]
        carry = torch.tensor([has_carry(a, b) for a, b in pairs])                          # (P,)
        past_99 = torch.tensor([a + b >= 10 ** FORMAT_MAX_CHARS for a, b in pairs])       # (P,) sums past 99
        short = torch.tensor([[len(c) <= FORMAT_MAX_CHARS for c in row] for row in self.completions])  # (P, n)
        right = self.correct                                                               # (P, n)
        out = {"exact match": right.mean().item(), "exact match, sums with a carry": right[carry].mean().item(),
               "exact match, sums without a carry": right[~carry].mean().item(),
               "short answers to sums past 99": short[past_99].float().mean().item()}
        if program is not None:
            out[f"reward ({program})"] = ProgramReward(program).score(*self.flat()).mean().item()
        return out

    def pass_at_k_curve(self, ks, estimator=pass_at_k) -> dict[int, float]:
        """Mean pass@k over the sums from their n answers ({k: pass@k}, `pass_at_k_curve`), k ≤ n."""
        return pass_at_k_curve(self.correct, ks, estimator)

    def no_signal(self, group_size: int) -> float:
        """The expected fraction of groups of G of these answers that all agree (`no_signal_chance`); with n = G,
        the fraction of these very groups that agree, counted."""
        return no_signal_chance(self.correct, group_size)


__all__ = ["Answers", "exact_match", "forgot_carry", "FORMAT_MAX_CHARS", "format_reward", "FORMAT_WEIGHT", "has_carry",
           "HELD_OUT_FRACTION", "is_program", "no_signal_chance", "NUMBER", "OPERAND_MAX", "operands", "parse_answer",
           "pass_at_k", "pass_at_k_curve", "problems", "ProgramReward", "PROGRAMS", "prompt", "prompts",
           "SPLIT_SEED", "sum_rows"]
