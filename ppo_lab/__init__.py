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
    gold,
    kl_penalty,
    losses,
    models,
    objective,
    plots,
    reward_model,
    rollout,
    token_view,
    trainer,
    widgets,
)
from .config import ConfigError, PPOConfig
from .dashboard import dashboard  # the function (the module stays ppo_lab.dashboard)
from .models import load_models
from .token_view import show_tokens
from .trainer import Run, train


def show_source(obj) -> None:
    """Print the package's own code for a function or class, so notebooks never paste a second copy."""
    print(_inspect.getsource(obj))


__all__ = ["ConfigError", "PPOConfig", "Run", "advantages", "capstone", "dashboard", "data", "diversity",
           "exercises", "experiments", "failures", "load_models", "losses", "models", "objective", "plots", "gold",
           "kl_penalty", "reward_model", "rollout", "show_source", "show_tokens", "token_view", "train", "trainer", "widgets"]
