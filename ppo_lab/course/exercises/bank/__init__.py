"""The exercise bank: every auto-checked exercise of the notebooks, by name ("01.bt_loss").

Content only: each exercise's question, checker, hints, worked solution, difficulty and known slips, one module
per notebook (`nb00` … `nb11`), built from `base` (what an `Exercise` is, how an answer is read). The package
above (`lab.exercises`) checks answers against them (`check`, `hint`, `solution`).
"""
from __future__ import annotations

from . import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10, nb11
from .base import Exercise

_NOTEBOOKS = (nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10, nb11)
EXERCISES: dict[str, Exercise] = {name: exercise for nb in _NOTEBOOKS for name, exercise in nb.EXERCISES.items()}
if len(EXERCISES) != sum(len(nb.EXERCISES) for nb in _NOTEBOOKS):
    raise ValueError("two modules of the exercise bank define an exercise of the same name")
if any(not name.startswith(nb.__name__[-2:] + ".") for nb in _NOTEBOOKS for name in nb.EXERCISES):
    raise ValueError("an exercise lives in the module of another notebook: nbNN holds exercises 'NN.*'")


__all__ = ["EXERCISES", "Exercise"]
