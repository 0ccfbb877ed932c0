"""PPO Lab: PPO for language models, term by term, on a small GPT-2 you watch being aligned.

    import ppo_lab as lab
    run = lab.train(lab.PPOConfig.preset("tiny"))
"""
__version__ = "0.1.0"

import inspect as _inspect

from . import (
    advantages,
    capstone,
    data,
    diversity,
    exercises,
    experiments,
    failures,
    losses,
    models,
    objective,
    plots,
    reward,
    rewards,
    rollout,
    tokens,
    trainer,
    widgets,
)
from .config import ConfigError, PPOConfig
from .dashboard import dashboard  # the function (the module stays ppo_lab.dashboard)
from .models import load_models
from .tokens import show_tokens
from .trainer import Run, train


def show_source(obj) -> None:
    """Print the package's own code for a function or class, so notebooks never paste a second copy."""
    print(_inspect.getsource(obj))


__all__ = ["ConfigError", "PPOConfig", "Run", "advantages", "capstone", "dashboard", "data", "diversity",
           "exercises", "experiments", "failures", "load_models", "losses", "models", "objective", "plots", "reward",
           "rewards", "rollout", "show_source", "show_tokens", "tokens", "train", "trainer", "widgets"]
