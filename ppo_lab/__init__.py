"""PPO Lab: PPO for language models, term by term, on a small GPT-2 you watch being aligned.

    import ppo_lab as lab
    run = lab.train(lab.PPOConfig.preset("tiny"))

Module map, in layers from the bottom up. A module imports only from its own layer or the layers below
(tests/test_layers.py holds the package to this map; a new module gets a line here):

    maths     losses advantages kl_penalty diversity optim
              pure functions of tensors, the formula in each docstring; they import only torch
    world     config engines engine_definitions engine_export data gold verifiable bundled loading models
              what a run acts in: the config vocabulary (its names in the engines, read from the engines, and the
              export of a run to them), the review corpus, the gold
              judge (VADER), the arithmetic world and its reward program, the bundled assets, the policy, reference
              and reward model
    engine    rollout metrics run_checks checkpoint phase2 trainer objective reward_model preference_pairs dpo
              cache experiments
              Phase I, Phase II (one minibatch's step) and the loop that calls the maths; training a reward
              model; DPO on preference pairs; runs over seeds and settings, with the run cache
    teaching  figure_style dpo_figures verifiable_figures plots mechanics_figures result_figures token_figures
              dashboard token_view failures widgets reports exercise_bank_base exercise_bank_00_03 exercise_bank_04_06
              exercise_bank_07_08 exercise_bank_09 exercise_bank_10 exercise_bank_11 exercise_bank impl_checks_calls
              impl_checks_cases impl_checks_cases_05_06 impl_checks_cases_09 impl_checks_cases_10 impl_checks_cases_11
              impl_checks exercises capstone
              what the notebooks show and check: figures, the dashboard, the token inspector, planted bugs,
              explorers, exercises and the "implement it" checker
    face      __init__ __main__ cli notebook_runner
              the ways in: `import ppo_lab as lab` and `python -m ppo_lab`
    (`ppo_lab.build` trains the bundled assets; build time only, nothing above imports it)

Where to start reading: `losses.py` (the three PPO terms and the KL), `advantages.py` (GAE),
`kl_penalty.py` (the per-token reward), then `rollout.py` (Phase I) and `trainer.py` (the loop, as the
lecture draws it).
"""
__version__ = "0.1.0"

import inspect as _inspect

from . import (
    advantages,
    capstone,
    data,
    diversity,
    dpo,
    engine_definitions,
    engine_export,
    engines,
    exercises,
    experiments,
    failures,
    gold,
    kl_penalty,
    losses,
    metrics,
    models,
    objective,
    plots,
    reward_model,
    rollout,
    token_view,
    trainer,
    verifiable,
    widgets,
)
from .config import ConfigError, PPOConfig
from .dashboard import dashboard  # the function (the module stays ppo_lab.dashboard)
from .dpo import train_dpo
from .models import load_models
from .token_view import show_tokens
from .trainer import Run, train


def show_source(obj) -> None:
    """Print the package's own code for a function or class, so notebooks never paste a second copy."""
    print(_inspect.getsource(obj))


__all__ = ["ConfigError", "PPOConfig", "Run", "advantages", "capstone", "dashboard", "data", "diversity", "dpo",
           "engine_definitions", "engine_export", "engines", "exercises", "experiments", "failures", "gold",
           "kl_penalty", "load_models", "losses", "metrics", "models", "objective", "plots", "reward_model", "rollout",
           "show_source", "show_tokens", "token_view", "train", "train_dpo", "trainer", "verifiable", "widgets"]
