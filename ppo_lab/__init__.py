"""PPO Lab: PPO for language models, term by term, on a small GPT-2 you watch being aligned.

    import ppo_lab as lab
    run = lab.train(lab.PPOConfig.preset("tiny"))
"""
__version__ = "0.1.0"

from . import advantages, data, losses, models, reward, rewards, rollout, trainer  # noqa: E402
from .config import ConfigError, PPOConfig  # noqa: E402
from .models import load_models  # noqa: E402
from .trainer import Run, train  # noqa: E402

__all__ = ["PPOConfig", "ConfigError", "Run", "train", "load_models", "advantages", "data", "losses",
           "models", "reward", "rewards", "rollout", "trainer"]
