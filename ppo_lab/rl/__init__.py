"""The algorithms on the world. Phase I (`rollout`), Phase II and the objective term by term (`update`), the PPO
cycle (`ppo`) and DPO (`dpo`, on `preference_pairs`), the run loop they share (`loop`: seeds, progress, the NaN and
Ctrl-C guard, resume), what a run logs (`metrics`) and checks (`checks`), `checkpoint`s, training a reward model
(`reward_model`), runs over seeds and settings (`experiments`) with the run `cache`, and the optimiser (`optim`).
Imports `config`, `maths` and `world` only.
"""
from . import (
    cache,
    checkpoint,
    checks,
    dpo,
    experiments,
    loop,
    metrics,
    optim,
    ppo,
    preference_pairs,
    reward_model,
    rollout,
    update,
)

__all__ = ["cache", "checkpoint", "checks", "dpo", "experiments", "loop", "metrics", "optim", "ppo",
           "preference_pairs", "reward_model", "rollout", "update"]
