"""Auto-checked exercises (`lab.exercises`): the learner answers, the checker says right or wrong with a hint.

    lab.exercises.check("00.steps", answer)                 # right, or not yet with a first hint
    lab.exercises.hint("00.steps"); lab.exercises.solution("00.steps")
    lab.exercises.check_impl("policy_loss", my_policy_loss)  # your function against the package's
    lab.exercises.use_impl("policy_loss", my_policy_loss)    # yours once it is written, else the package's
    lab.exercises.train_yours(config, {"policy_loss": my_policy_loss})   # trained beside the reference

`answers` checks answers and implementations, `bank` holds the exercises (one module per notebook), `impl` the
implement-it batteries grouped by the maths they test, `calls` the time limit on a learner's code.
"""
from .answers import check, hint, same_run, solution, train_yours, use_impl
from .bank import EXERCISES
from .impl import check_impl

__all__ = ["EXERCISES", "check", "check_impl", "hint", "same_run", "solution", "train_yours", "use_impl"]
