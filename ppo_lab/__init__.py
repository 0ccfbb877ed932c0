"""PPO Lab: PPO for language models, term by term, on a small GPT-2 you watch being aligned.

    import ppo_lab as lab
    run = lab.train(lab.PPOConfig.preset("tiny"))
"""
__version__ = "0.1.0"

import inspect as _inspect

from . import (advantages, data, diversity, exercises, experiments, failures, losses, models, objective,  # noqa: E402
               plots, reward, rewards, rollout, tokens, trainer, widgets)
from .config import ConfigError, PPOConfig  # noqa: E402
from .dashboard import dashboard  # the function; the module stays importable as ppo_lab.dashboard
from .models import load_models  # noqa: E402
from .tokens import show_tokens  # noqa: E402
from .trainer import Run, train  # noqa: E402


def show_source(obj) -> None:
    """Print the package's own code for a function or class, so notebooks never paste a second copy."""
    print(_inspect.getsource(obj))


__all__ = ["PPOConfig", "ConfigError", "Run", "train", "load_models", "show_source", "advantages", "data",
           "exercises", "experiments", "losses", "models", "plots", "reward", "rewards", "rollout", "trainer",
           "widgets", "diversity", "objective", "dashboard", "failures", "tokens", "show_tokens"]
