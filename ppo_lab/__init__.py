"""PPO Lab: PPO for language models, term by term, on a small GPT-2 you watch being aligned.

    import ppo_lab as lab
    run = lab.train(lab.PPOConfig.preset("tiny"))

The package is six folders, one part each; a folder imports only from the folders above it in this list
(tests/test_layers.py holds the package to it):

    config.py   PPOConfig: every setting with its symbol, range and presets
    maths/      pure functions of tensors, the formula in each docstring (torch only)
    world/      what the agent acts in: the reviews, the gold judge, the sums, the bundled models
    rl/         the algorithms on the world: Phase I, Phase II, PPO and DPO and their shared run loop
    course/     what the notebooks show and check: figures, widgets, the dashboard, exercises
    interop/    the same run in verl, OpenRLHF and TRL: names, their own definitions, the export
    cli/        `python -m ppo_lab`: train, dpo, sweep, export, warm-cache and their reports

Start reading at `maths/losses.py`, `maths/advantages.py`, then `rl/rollout.py` (Phase I), `rl/update.py`
(Phase II) and `rl/ppo.py` (the cycle, as the lecture draws it).
"""
__version__ = "0.1.0"

import inspect as _inspect

from . import config, course, interop, maths, rl, world
from .config import ConfigError, PPOConfig
from .course import exercises, plots, widgets
from .course.dashboard import dashboard
from .course.token_view import show_tokens
from .rl.dpo import train_dpo
from .rl.loop import Run
from .rl.ppo import train
from .world.models import load_models


def show_source(obj) -> None:
    """Print the package's own code for a function or class, so notebooks never paste a second copy."""
    print(_inspect.getsource(obj))


__all__ = ["ConfigError", "PPOConfig", "Run", "config", "course", "dashboard", "exercises", "interop", "load_models",
           "maths", "plots", "rl", "show_source", "show_tokens", "train", "train_dpo", "widgets", "world"]
