"""The exercises of notebook 00: the PPO cycle.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import torch

from .base import Exercise, gives, matches, numeric

EXERCISES = {
    "00.phase": Exercise(
        "In which phase does the reward model score the completions? Answer 'I' or 'II'.",
        lambda a: str(a).strip().upper() in ("I", "1", "PHASE I"),
        (("Phase II only updates weights with quantities that already exist. Where are the completions made, and "
          "what must happen to them before advantages can be computed?"),
         ("Advantages need per-token rewards, and a completion's reward starts from its score: all of it is ready "
          "before the first optimiser step.")),
        "'I'. Phase I samples the completions, scores them with the reward model and computes log π_old, log π_ref, "
        "V_old, the rewards and the advantages; Phase II only reuses those numbers.", stars=1, minutes=2),
    "00.steps": numeric(
        "With batch_size=64, minibatch_size=16 and ppo_epochs=4, how many optimiser steps does one PPO iteration "
        "take?", 16,
        ("Each epoch is one pass over the whole batch, cut into minibatches; each minibatch is one optimiser step.",
         "One epoch has batch_size / minibatch_size minibatches, and Phase II makes ppo_epochs epochs."),
        "64 / 16 = 4 minibatches per epoch, × 4 epochs = 16 optimiser steps.", stars=1, minutes=2,
        slips={4: "4 is the minibatches of ONE epoch: Phase II passes over the batch ppo_epochs times.",
               64: "64 is the number of completions; each optimiser step uses a minibatch of 16 of them."}),
    "00.fraction_positive": Exercise(
        "Write `fraction_positive(scores, threshold)`: the fraction of scores strictly above the threshold, as a "
        "float.", matches([(torch.tensor([0.5, -1.0, 2.0, 0.0]), 0.0, 0.5),      # (scores, threshold, fraction)
                           (torch.tensor([1.0, 1.0]), 1.5, 0.0), (torch.tensor([-3.0, 4.0, 5.0]), -4.0, 1.0)]),
        (("Compare each score with the threshold, turn the booleans into numbers, and average them. A score equal "
          "to the threshold is not positive."),
         ("`scores > threshold` is a boolean tensor; `.float()` makes it 0s and 1s, `.mean()` their fraction and "
          "`.item()` a Python float.")),
        "def fraction_positive(scores, threshold):\n    return (scores > threshold).float().mean().item()",
        stars=2, minutes=4,
        mistakes=((gives(0.75, torch.tensor([0.5, -1.0, 2.0, 0.0]), 0.0),
                   "A score equal to the threshold is not above it: use >, not >=."),
                  (gives(2.0, torch.tensor([0.5, -1.0, 2.0, 0.0]), 0.0),
                   "That counts the scores above the threshold; the fraction divides by the number of scores."))),
}


__all__ = ["EXERCISES"]
