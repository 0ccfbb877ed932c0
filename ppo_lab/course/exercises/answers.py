"""Checking a learner's answers and implementations: right or wrong, with a hint.

    lab.exercises.check("00.steps", answer)     # feedback: right, or not yet with a first hint
    lab.exercises.hint("00.steps")              # after a try: the next, stronger hint
    lab.exercises.solution("00.steps")          # after a try: the worked computation or code

An unanswered exercise (`None`, or an untouched `def f(...): return None` stub) is reported as such and never
fails a notebook run; a wrong answer gets a hint (a targeted one when it shows a known slip, e.g. bits for
nats), never the answer itself. Every exercise has a difficulty (★☆☆ to ★★★) and an expected time in minutes,
shown in its feedback. `check` returns a `Verdict`: true when right, and displayed as nothing in Jupyter, so
the cell shows only the feedback. "Build it yourself": `check_impl("policy_loss", my_fn)` runs your own
function through a battery of checks against the package's (see `impl`); the capstone of
notebook 07 checks one whole PPO iteration by training (see `capstone`).
A numeric answer may be of any numeric type (int, float, numpy scalar, one-number array or tensor); a
function answer is checked up to float32 rounding, and one that does not return within `TIME_LIMIT_S`
seconds (`time_limit=`) is reported, not waited for forever.

This module is the machinery; the exercises themselves (questions, checkers, hints, solutions) are the bank,
`bank`, one module per notebook.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ...rl.dpo import DPO_FUNCTIONS, train_dpo
from ...rl.ppo import train
from ..plots import curves
from .bank import EXERCISES, Exercise
from .calls import TIME_LIMIT_S, TimeUp, Verdict, call_with_limit
from .impl.checker import REFERENCES

# ====================================================================== progress, feedback, hints
# This kernel's progress, per exercise name: {"tries": answers checked (unanswered ones don't count), "right":
# whether the last answer was right, "hints": how many tiered hints were shown (0–2)}. `check` and
# `capstone.check_iteration` count the tries; `hint` and `solution` open only after a first try.
PROGRESS: dict[str, dict] = {}


class _Unanswered(Exception):
    """The learner's function is an untouched stub: its first call returned None or raised NotImplementedError."""


def _exercise(name: str) -> Exercise:
    if not isinstance(name, str):
        raise KeyError(f"name={name!r} is not an exercise name; valid: a text such as '00.steps' (the notebook's "
                       "number, a dot, the exercise)")
    if name not in EXERCISES:
        raise KeyError(f"exercise {name!r} does not exist; valid: {sorted(EXERCISES)}")
    return EXERCISES[name]


def _header(name: str) -> str:
    """The feedback's header, "[01.bt_loss · ★☆☆ · ~3 min]": the exercise, its difficulty and expected time."""
    exercise = _exercise(name)
    return f"[{name} · {exercise.level.replace(', ', ' · ')}]"


def passed(name: str) -> bool:
    """True when the last answer checked for exercise `name` in this kernel was right."""
    _exercise(name)  # an unknown name is a KeyError, not a silent False
    return PROGRESS.get(name, {}).get("right", False)


def not_answered(name: str, stub: bool = False) -> Verdict:
    """Say that exercise `name` is not answered yet (`stub`: its function still returns None)."""
    what = "not answered yet — replace `return None` with your code" if stub else "not answered yet"
    print(f"{_header(name)} {what}: {_exercise(name).question}")
    return Verdict(False)


def verdict(name: str, right: bool, why: str = "", hint: str | None = None) -> Verdict:
    """Count one try of exercise `name` and print its feedback: right, or not yet with a hint and the way on.

    `why`: what went wrong, when known; `hint`: a targeted hint for a known slip, else the tiered hint shown last
    (at least the first)."""
    exercise = _exercise(name)
    state = PROGRESS.setdefault(name, {"tries": 0, "right": False, "hints": 0})
    state.update(tries=state["tries"] + 1, right=bool(right))
    if right:
        print(f"{_header(name)} right!\n  compare with a worked solution: lab.exercises.solution(\"{name}\")")
        return Verdict(True)
    if hint is None:
        hint = exercise.hints[max(state["hints"], 1) - 1]
    state["hints"] = max(state["hints"], 1)      # a targeted hint stands for the first: hint() gives a stronger one
    more = (f'stuck? lab.exercises.hint("{name}") gives a stronger hint.' if state["hints"] < len(exercise.hints)
            else f'still stuck? lab.exercises.solution("{name}") shows a worked solution.')
    print(f"{_header(name)} {why or 'not yet.'}\n  hint: {hint}\n  {more}")
    return Verdict(False)


def hint(name: str) -> None:
    """Print the next tiered hint of exercise `name`: the first, then the stronger second (after a first try)."""
    exercise, state = _exercise(name), PROGRESS.get(name)
    if not state or not state["tries"]:
        print(f"{_header(name)} try it first: run the check with your answer; hints open after a first try.")
        return
    state["hints"] = min(state["hints"] + 1, len(exercise.hints))
    print(f"{_header(name)} hint {state['hints']} of {len(exercise.hints)}: {exercise.hints[state['hints'] - 1]}")
    if state["hints"] == len(exercise.hints):
        print(f'  that was the last hint; lab.exercises.solution("{name}") shows a worked solution.')


def solution(name: str) -> None:
    """Print the worked solution of exercise `name` (after a first try, right or wrong)."""
    exercise, state = _exercise(name), PROGRESS.get(name)
    if not state or not state["tries"]:
        print(f"{_header(name)} try it first: run the check with your answer; the solution opens after a first "
              "try.")
        return
    print(f"{_header(name)} a worked solution:\n" + "\n".join("    " + line for line in exercise.solution.splitlines()))


# ====================================================================== checking an answer
def _watched(fn, time_limit: float | None):
    """`fn` with a time limit on each call. Its first call returning None or raising NotImplementedError (an
    untouched stub) raises _Unanswered; later Nones are counted in `.nones` (a `return` missing on some path)."""
    def call(*args):
        try:
            out = call_with_limit(fn, args, time_limit)
        except NotImplementedError:
            if call.calls == 0:
                raise _Unanswered from None
            raise
        if out is None and call.calls == 0:
            raise _Unanswered
        call.calls, call.nones = call.calls + 1, call.nones + (out is None)
        return out
    call.calls = call.nones = 0
    return call


def _mistake(exercise: Exercise, answer) -> str | None:
    """The targeted hint of the first known slip that a wrong `answer` shows, if any."""
    if getattr(answer, "nones", 0):
        return "your function returned None for some input: is a `return` missing on some path?"
    def shows(detector) -> bool:
        try:
            return bool(detector(answer))
        except Exception:  # noqa: BLE001 — a detector that cannot read this answer does not apply
            return False
    return next((text for detector, text in exercise.mistakes if shows(detector)), None)


def check(name: str, answer, *, time_limit: float | None = TIME_LIMIT_S) -> Verdict:
    """Print whether `answer` is right (with a hint if not); a Verdict, true when right (shown as nothing).

    A number may be of any numeric type (`bank.base.as_number`). An answer that is a function gets `time_limit`
    seconds for each call (None: no limit); see `calls.call_with_limit`."""
    exercise = _exercise(name)
    if exercise.correct is None:
        print(f"{_header(name)} is checked by training: run lab.course.capstone.check_iteration(your_function).")
        return Verdict(False)
    if answer is None:
        return not_answered(name)
    answer = _watched(answer, time_limit) if callable(answer) else answer
    try:
        right = bool(exercise.correct(answer))
        slip = None if right else _mistake(exercise, answer)
    except _Unanswered:
        return not_answered(name, stub=True)
    except TimeUp as e:
        return verdict(name, False, e.message())
    except Exception as e:  # noqa: BLE001 — a learner's function that raises is a wrong answer, with the reason
        if callable(answer):
            return verdict(name, False, f"your answer raised {type(e).__name__}: {e}", hint=_mistake(exercise, answer))
        shown = repr(answer) if len(repr(answer)) <= 40 else repr(answer)[:37] + "…"
        return verdict(name, False, f"your answer {shown} could not be read as this exercise's answer "
                                    f"({type(e).__name__}: {e}): is it the number the question asks for?")
    return verdict(name, right, hint=slip)


# ====================================================================== your functions in training
def _probe_args(name: str) -> tuple:
    """A tiny valid input for an engine function, to see whether a learner's version is implemented."""
    x, mask = torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool)
    return {"gae": (x, x, mask, 1.0, 0.95), "value_loss": (x, x, x, mask, 0.2), "policy_loss": (x, x, x, mask, 0.2),
            "entropy": (torch.zeros(1, 3, 5), mask), "kl_per_token": (x, x, "k1"),
            "ppo_loss": (torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0), 0.1, 0.0),
            "group_advantages": (torch.zeros(4), 2), "rloo_advantages": (torch.zeros(4), 2),
            "dpo_loss": (torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.1),
            "sequence_logps": (x, mask), "pass_at_k": (4, 1, 2)}[name]


def use_impl(name: str, fn, *, time_limit: float | None = TIME_LIMIT_S):
    """The function the next cells train with: yours once it is implemented, else the package's own.

    Says which one it picked. "Implemented" means it no longer raises NotImplementedError nor returns None; whether
    it is *right* is what `check_impl` and the training curves tell you.
    """

    if name not in REFERENCES:
        raise KeyError(f"name={name!r} is not an engine function; valid: {sorted(REFERENCES)}")
    package = REFERENCES[name]
    try:   # a tiny input, within the time limit: None is an untouched `return None` stub
        implemented = call_with_limit(fn, _probe_args(name), time_limit) is not None
    except NotImplementedError:
        implemented = False
    except TimeUp as e:
        print(f"[{name}] using the package's own {package.__module__}.{package.__name__}: on a tiny test input "
              f"yours {e.message()[len('your function '):]}")
        return package
    except Exception as e:  # noqa: BLE001 — implemented, but broken on a tiny input: train with it anyway, say so
        print(f"[{name}] using YOUR {getattr(fn, '__name__', name)}; warning: on a tiny test input it raised "
              f"{type(e).__name__}: {e}")
        return fn
    if not implemented:
        print(f"[{name}] using the package's own {package.__module__}.{package.__name__}: yours is not "
              "implemented yet (fill in the cell above and rerun from there).")
        return package
    print(f"[{name}] using YOUR {getattr(fn, '__name__', name)} in the runs below.")
    return fn


SAME_RTOL, SAME_ATOL = 1e-6, 1e-9   # float rounding: a learner's sum in another order, or in Python floats


def _logged(run) -> list[dict]:
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in run.history]   # timings aside


def run_differences(a, b) -> dict[str, tuple[int, float]]:
    """{metric: (the first iteration where two runs log it differently, the largest |a − b| over iterations)}
    for every logged number they do not share exactly, wall-clock timings aside. A value that is not a number
    on both sides, or a different number of iterations ("iterations"), differs by `inf`."""
    if len(a.history) != len(b.history):
        return {"iterations": (min(len(a.history), len(b.history)), float("inf"))}
    gaps = {}
    for it, (ha, hb) in enumerate(zip(_logged(a), _logged(b))):
        for key in sorted(ha.keys() | hb.keys()):
            x, y = ha.get(key), hb.get(key)
            if x == y or (x != x and y != y):          # equal, or NaN on both sides
                continue
            numbers = isinstance(x, int | float) and isinstance(y, int | float) and x == x and y == y
            first, gap = gaps.get(key, (it, 0.0))
            gaps[key] = (first, max(gap, abs(x - y) if numbers else float("inf")))   # NaN on one side: inf
    return gaps


def _same_text(a, b) -> bool:
    return [s.get("completion") for s in a.samples] == [s.get("completion") for s in b.samples]


def same_run(a, b, rtol: float = SAME_RTOL, atol: float = SAME_ATOL) -> bool:
    """True when two runs sampled the same completions and logged the same numbers up to float rounding: each
    metric's largest difference ≤ atol + rtol·(its largest |value| in `a`). `rtol=atol=0`: bit for bit."""
    def scale(key):
        return max((abs(h[key]) for h in _logged(a) if isinstance(h.get(key), int | float)), default=0.0)
    gaps = run_differences(a, b)
    return _same_text(a, b) and all(gap <= atol + rtol * scale(k) for k, (_, gap) in gaps.items())


def _comparison(reference, yours) -> str:
    """What `train_yours` says of two runs: identical; the same up to float rounding (what differs, by how much,
    and that it does not matter); or different (where first, by how much)."""
    gaps = run_differences(reference, yours)
    if not gaps and _same_text(reference, yours):
        return "identical to the reference run, number for number."
    worst = max(gaps, key=lambda k: gaps[k][1]) if gaps else None
    if same_run(reference, yours):
        return (f"the same run as the reference up to float rounding: the same completions, and {len(gaps)} logged "
                f"number{'s' if len(gaps) > 1 else ''} differ by at most {gaps[worst][1]:.1e} ({worst}), within "
                f"the tolerance (relative {SAME_RTOL:g}): that does not matter.")
    text = "" if _same_text(reference, yours) else " The sampled completions differ too."
    if worst is None:
        return "this run differs from the reference run: the sampled completions differ."
    first = min(gaps, key=lambda k: gaps[k][0])
    return (f"this run differs from the reference run: {len(gaps)} logged numbers differ beyond float rounding, "
            f"the first at iteration {gaps[first][0]} ({first}); the largest gap is {gaps[worst][1]:.3g} "
            f"({worst}).{text}")


def train_yours(config, functions: dict, metrics=("env/reward_mean", "objective/kl")):
    """Train twice from the bundled start with the same seed — the package's functions, then with yours — and
    plot both runs side by side. Returns (reference, yours).

    `functions`: {name: your function}; each one you have not written yet (it raises NotImplementedError or
    returns None, see `use_impl`) is replaced by the package's own, and the cell says which one trained. DPO's
    functions (`dpo_loss`, `sequence_logps`) train with `lab.train_dpo` on the config's `dpo_pairs`, the others
    with `lab.train`. With correct functions the two runs are the same run up to float rounding (`same_run`); it
    says what differs and by how much. PPO's training never pads a completion, so only `check_impl` can catch a
    slip on padded tokens there. When none of yours is written yet, the package's own functions must give the
    reference run again: a RuntimeError says so if they do not.
    """
    overrides = {name: use_impl(name, fn) for name, fn in functions.items()}
    dpo = set(overrides) <= set(DPO_FUNCTIONS)
    train_fn = train_dpo if dpo else train
    reference = train_fn(config, progress=False)
    yours = train_fn(config, overrides=overrides, progress=False)
    whose = ", ".join(f"{'your' if fn is not REFERENCES[n] else 'the package' + chr(39) + 's'} {n}"
                      for n, fn in overrides.items())
    curves({"reference: the package's functions": [reference], f"this run: {whose}": [yours]}, list(metrics),
           f"Trained with {whose}, beside the reference run (same seed)",
           xlabel="DPO iteration" if dpo else "PPO iteration")
    plt.show()
    padding = "" if dpo or not same_run(reference, yours) else (
        " A mistake that only matters on padding cannot show here: every training completion has all "
        f"response_length={config.response_length} tokens (the mask is all ones); check_impl's padded cases "
        "are the judge of that.")
    print(_comparison(reference, yours) + padding)
    if all(fn is REFERENCES[n] for n, fn in overrides.items()) and not same_run(reference, yours):
        raise RuntimeError("the package's own functions did not reproduce the reference run: a bug in ppo_lab, "
                           "not in your code (" + _comparison(reference, yours) + ")")
    return reference, yours


__all__ = ["check", "hint", "not_answered", "passed", "PROGRESS", "run_differences", "same_run", "solution",
           "train_yours", "use_impl", "verdict"]
