"""What an exercise is, and how an answer is read: the `Exercise` record, number parsing, checker builders
(`numeric` for a one-number answer, `matches` for a small function, `gives` and `says` for known slips).

Every module of the bank (`nb00`, ...) builds its exercises from these; `exercises` (the machinery)
re-exports `Exercise`.
"""
from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Exercise:
    """One auto-checked exercise.

    `hints`: a nudge (shown after a wrong answer), then a stronger hint (`hint(name)`); `solution`: the
    worked computation or code (`solution(name)`, once tried); `mistakes`: (detector, targeted first hint)
    pairs for wrong answers that betray a known slip; `correct=None`: checked elsewhere (the capstone).
    """
    question: str
    correct: Callable[[object], bool] | None
    hints: tuple[str, str]
    solution: str
    stars: int = 1          # difficulty: 1 ★☆☆ (apply the formula) … 3 ★★★ (put several ideas together)
    minutes: int = 2        # expected time to answer
    mistakes: tuple = ()    # ((answer → bool, hint), ...)

    def __post_init__(self):
        if self.stars not in (1, 2, 3) or self.minutes < 1 or len(self.hints) != 2:
            raise ValueError(f"exercise {self.question[:40]!r}: stars must be 1–3, minutes ≥ 1 and hints two")

    @property
    def hint(self) -> str:
        """The first hint (shown after a wrong answer)."""
        return self.hints[0]

    @property
    def level(self) -> str:
        """Difficulty and expected time, as the notebooks show them: "★★☆, ~5 min"."""
        return f"{'★' * self.stars}{'☆' * (3 - self.stars)}, ~{self.minutes} min"


# A learner's function may compute in float32 (≈ 6e-8 relative error per operation): its result is right
# within REL_TOL of the value (ABS_TOL near 0). The wrong answers the checkers must catch are off by far more.
REL_TOL, ABS_TOL = 1e-5, 1e-6
_TORCH_INTS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def as_number(a) -> float | None:
    """`a` as a float when it is one real number of any numeric type, else None.

    Numbers: Python int and float (any `numbers.Real`), numpy scalars (np.int64, np.float32, ...), and numpy
    arrays or torch tensors holding exactly one number (0-d, or one element). Not numbers: bool (of any
    library), strings, complex numbers, collections.
    """
    if isinstance(a, torch.Tensor):
        ok = a.numel() == 1 and (a.is_floating_point() or a.dtype in _TORCH_INTS)
        return float(a.item()) if ok else None
    if isinstance(a, (np.ndarray, np.generic)):
        ok = a.size == 1 and a.dtype.kind in "iuf"
        return float(a.item()) if ok else None
    if isinstance(a, numbers.Real) and not isinstance(a, bool):
        try:
            return float(a)
        except OverflowError:  # an int too large for a float
            return math.copysign(math.inf, a)
    return None


def as_numbers(a) -> list[float] | None:
    """A learner's sequence of numbers (a list, tuple, 1-d array or 1-d tensor) as floats; None unless every
    entry is a number (`as_number`)."""
    if isinstance(a, (list, tuple)) or (isinstance(a, (torch.Tensor, np.ndarray)) and a.ndim == 1):
        values = [as_number(x) for x in a]
        return None if None in values else values
    return None


def near(got, want: float) -> bool:
    """`got` is a number equal to `want` up to float32 rounding."""
    x = as_number(got)
    return x is not None and math.isclose(x, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def close(target: float, tol: float = 1e-6) -> Callable[[object], bool]:
    """A checker of a numeric answer: any number within `tol` of the target."""
    def correct(a) -> bool:
        x = as_number(a)
        return x is not None and math.isclose(x, target, abs_tol=tol)
    return correct


def numeric(question: str, answer: float, hints: tuple[str, str], solution: str, *, stars: int, minutes: int,
            tol: float = 1e-6, slips: dict[float, str] | None = None, mistakes: tuple = ()) -> Exercise:
    """An exercise whose answer is one number, right within `tol` of `answer`.

    `slips`: wrong value → its targeted hint, each recognised within the same `tol`; `mistakes`: further
    (detector, hint) pairs, tried after the slips (a slip that needs another tolerance).
    """
    found = tuple((close(value, tol), hint) for value, hint in (slips or {}).items())
    return Exercise(question, close(answer, tol), hints, solution, stars, minutes, found + tuple(mistakes))


def _returns(fn, args: tuple, want) -> bool:
    """`fn(*args)` is `want`: a number up to float32 rounding (`near`), or a list of numbers entry by entry (any
    sequence `as_numbers` reads, of the same length). `fn` gets its own copy of `args`: a function that edits
    its input in place cannot change the next check's."""
    got = fn(*copy.deepcopy(args))
    if isinstance(want, list):
        values = as_numbers(got)
        return values is not None and len(values) == len(want) and all(near(x, w) for x, w in zip(values, want))
    return near(got, want)


def matches(cases) -> Callable[[object], bool]:
    """A checker of a learner's small function: on every case `(*args, want)` it returns `want` (`_returns`)."""
    return lambda fn: callable(fn) and all(_returns(fn, case[:-1], case[-1]) for case in cases)


def gives(value, *args) -> Callable[[object], bool]:
    """A detector of a known slip in a function answer: on `args` it returns `value` (`_returns`)."""
    return lambda fn: callable(fn) and _returns(fn, args, value)


def raises(error: type[BaseException], *args) -> Callable[[object], bool]:
    """A detector of a known slip in a function answer: on `args` it raises `error` (an overflow, say)."""
    def detector(fn) -> bool:
        try:
            fn(*copy.deepcopy(args))
        except error:
            return True
        return False
    return lambda fn: callable(fn) and detector(fn)


def says(*texts: str) -> Callable[[object], bool]:
    """A checker (or a slip detector) of a text answer: one of `texts` (any case, spaces ignored)."""
    return lambda a: str(a).replace(" ", "").lower() in texts


__all__ = ["as_number", "as_numbers", "close", "Exercise", "gives", "matches", "near", "numeric", "raises", "says"]
