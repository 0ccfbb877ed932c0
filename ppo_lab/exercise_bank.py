"""The exercise bank: every auto-checked exercise of the notebooks, by name ("01.bt_loss").

Content only: each exercise's question, checker, hints, worked solution, difficulty and known slips, in one
module per group of notebooks (`exercise_bank_00_03`, `_04_06`, `_07_08`, `_09`, `_10`, `_11`), built
from `exercise_bank_base` (what an `Exercise` is, how an answer is read). `exercises` is the machinery that
checks answers against them (`lab.exercises.check`, `hint`, `solution`) and re-exports `EXERCISES`.
"""
from __future__ import annotations

from . import (
    exercise_bank_00_03,
    exercise_bank_04_06,
    exercise_bank_07_08,
    exercise_bank_09,
    exercise_bank_10,
    exercise_bank_11,
)
from .exercise_bank_base import Exercise

_GROUPS = (exercise_bank_00_03.EXERCISES, exercise_bank_04_06.EXERCISES, exercise_bank_07_08.EXERCISES,
           exercise_bank_09.EXERCISES, exercise_bank_10.EXERCISES, exercise_bank_11.EXERCISES)
EXERCISES: dict[str, Exercise] = {name: exercise for group in _GROUPS for name, exercise in group.items()}
if len(EXERCISES) != sum(map(len, _GROUPS)):
    raise ValueError("two modules of the exercise bank define an exercise of the same name")

__all__ = ["EXERCISES", "Exercise"]
