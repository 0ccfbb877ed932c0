"""What the agent acts in: the review corpus and its prompts (`data`), the gold judge (`gold`, VADER), the sums
checked by a program (`verifiable`), the bundled models and loading any model by name (`assets`), and the models
of one run (`models`). Imports `config` and `maths` only.
"""
from . import assets, data, gold, models, prompts, verifiable

__all__ = ["assets", "data", "gold", "models", "prompts", "verifiable"]
