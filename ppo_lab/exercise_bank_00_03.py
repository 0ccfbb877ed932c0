"""The exercises of notebooks 00–03: the PPO cycle, the reward model, advantages, the value loss.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

import torch

from .exercise_bank_base import Exercise, gives, matches, numeric

EXERCISES = {  # notebook 00
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


EXERCISES.update({  # notebook 01
    "01.bt_loss": numeric(
        "r_chosen = 2, r_rejected = 0: −log σ(2 − 0)?", 0.126928,
        (("Work from the inside out: the difference, then σ of it (the probability that the chosen answer wins), "
          "then −log of that probability, with the natural log."),
         "σ(x) = 1/(1 + e^(−x)), so σ(2) = 1/(1 + e^(−2)) ≈ 1/1.1353. Now take −ln of it."),
        "σ(2) = 1/(1 + e^(−2)) ≈ 0.880797, and −ln(0.880797) ≈ 0.127.\n"
        "In code: -math.log(1 / (1 + math.exp(-2)))   # or math.log1p(math.exp(-2))", stars=1, minutes=3, tol=5e-4,
        slips={0.880797: "That is σ(2), the probability that the chosen answer wins; the loss is −log of it.",
               2.126928: "That is −log σ(−2): the argument is r_chosen − r_rejected = +2.",
               0.055124: "That is −log₁₀; the course uses the natural log (ln, math.log).",
               0.183118: "That is −log₂ (bits); the course uses the natural log (ln, math.log).",
               -0.126928: "−log p of a probability p < 1 is positive: check the sign."}),
    "01.shift": numeric(
        "Adding +5 to every score changes the pairwise accuracy by?", 0.0,
        ("Pairwise accuracy only compares r_chosen with r_rejected. Does their difference change?",
         "(r_chosen + 5) − (r_rejected + 5) = r_chosen − r_rejected: is any pair ranked differently?"),
        "0: accuracy counts the pairs with r_chosen > r_rejected, and adding 5 to both sides of every comparison "
        "changes none of them (a Bradley–Terry reward is only defined up to such a shift).", stars=1, minutes=2,
        slips={5: "Accuracy is the fraction of pairs ranked right, not a score: does any pair's order change?"}),
    "01.preference_probability": Exercise(
        "Write preference_probability(r_chosen, r_rejected) = σ(r_chosen − r_rejected).",
        matches([(c, r, 1 / (1 + math.exp(r - c))) for c, r in ((2, 0), (0, 0), (-1, 3), (10, -10))]),
        ("Bradley–Terry: the probability that the chosen answer wins is a sigmoid of something. Of what?",
         "P(chosen ≻ rejected) = σ(r_chosen − r_rejected), with σ(x) = 1 / (1 + e^(−x))."),
        "import math\n\n\ndef preference_probability(r_chosen, r_rejected):\n"
        "    return 1 / (1 + math.exp(-(r_chosen - r_rejected)))", stars=2, minutes=4,
        mistakes=((gives(1 / (1 + math.exp(2)), 2, 0), ("That is σ(r_rejected − r_chosen): a higher reward for the "
                                                        "chosen answer must make its win MORE likely.")),
                  (gives(math.exp(2), 2, 0), ("A probability stays between 0 and 1: squash the difference with the "
                                              "sigmoid σ(x) = 1 / (1 + e^(−x)).")))),
})


EXERCISES.update({  # notebook 02
    "02.gae_sum": numeric(
        "γ = 1, λ = 1, rewards [0, 0, 1], values 0: A_0?", 1.0,
        (("With λ = 1, GAE adds up the TD errors δ_t of the token and of every later one (undiscounted when γ = 1). "
          "What is each δ_t when every value is 0?"),
         "With V = 0 everywhere δ_t = r_t, so A_0 = δ_0 + δ_1 + δ_2 = r_0 + r_1 + r_2."),
        "δ_t = r_t + γ·V_{t+1} − V_t = [0, 0, 1]; A_0 = δ_0 + γλ·δ_1 + (γλ)²·δ_2 = 0 + 0 + 1 = 1.0: with λ = 1 the "
        "score at the end reaches the first token in full.", stars=2, minutes=3,
        slips={0.0: "0 is the answer for λ = 0 (the one-step TD error); with λ = 1 the later TD errors count too."}),
    "02.gae_td": numeric(
        "γ = 1, λ = 0, rewards [0, 0, 1], values 0: A_0?", 0.0,
        ("With λ = 0 the advantage is the one-step TD error δ_0 = r_0 + γV_1 − V_0.",
         "Read r_0, V_1 and V_0 off the question: the reward at the first token, the values at tokens 1 and 0."),
        "A_0 = δ_0 = r_0 + γ·V_1 − V_0 = 0 + 1·0 − 0 = 0.0: with λ = 0 (and V = 0) the score at the last token does "
        "not reach the first.", stars=2, minutes=3,
        slips={1.0: "1 is the answer for λ = 1; with λ = 0 only the first token's own δ_0 counts."}),
    "02.td_errors": Exercise(
        "Write td_errors(rewards, values, gamma): δ_t = r_t + γ·V_{t+1} − V_t.",
        matches([([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], 1.0, [0.0, 0.0, 1.0]),   # (rewards, values, gamma, deltas)
                 ([1.0, 2.0], [0.5, 1.0], 0.9, [1.4, 1.0]), ([0.0], [2.0], 0.5, [-2.0])]),
        ("Shift the values one step left, put 0 after the last token, then combine.",
         "next_values = values[1:] + [0.0]; then δ_t = rewards[t] + gamma·next_values[t] − values[t] for every t."),
        "def td_errors(rewards, values, gamma):\n    next_values = list(values[1:]) + [0.0]\n"
        "    return [r + gamma * v_next - v for r, v_next, v in zip(rewards, next_values, values)]",
        stars=2, minutes=6,
        mistakes=((gives([-1.0], [0.0], [2.0], 0.5),
                   "After the last token the episode ends: V after the end is 0, not the last value again."),
                  (gives([2.0], [0.0], [2.0], 0.5),
                   "δ_t = r_t + γ·V_{t+1} − V_t: the target minus the prediction, not the other way round."))),
})


EXERCISES.update({  # notebook 03
    "03.clipped_value": numeric(
        "V_old = 0, R = 2, ε_v = 0.2, new V = 1: the clipped value loss?", 1.62,
        (("Two candidate predictions: V itself, and V_clip, moved at most ε_v away from V_old. The loss keeps the "
          "more pessimistic of their two squared errors."),
         ("First clip the *change* V − V_old to [−ε_v, ε_v] to get V_clip; then compute both squared errors against "
          "R, keep the larger, and halve it.")),
        "V_clip = V_old + clip(V − V_old, −0.2, 0.2) = 0 + 0.2 = 0.2. (V − R)² = (1 − 2)² = 1 and "
        "(V_clip − R)² = (0.2 − 2)² = 3.24, so the loss is ½·max(1, 3.24) = 1.62.", stars=2, minutes=5,
        slips={0.5: "0.5 is the plain ½·(V − R)², without the clip: also compute the error of V_clip.",
               3.24: "That is the larger squared error; the value loss is HALF of it: ½·max(...)."}),
    "03.ev_zero": numeric(
        "A value head always predicts 0 while returns vary: its explained variance?", 0.0,
        ("Explained variance is 1 − Var(R − V)/Var(R). What is R − V when V is 0?",
         "With V = 0, R − V = R, so Var(R − V)/Var(R) = 1."),
        "EV = 1 − Var(R − 0)/Var(R) = 1 − 1 = 0: a constant prediction explains none of the returns' variance (a "
        "worse-than-constant one goes negative).", stars=1, minutes=2,
        slips={1.0: "1 means a perfect value head, one that predicts every return exactly."}),
    "03.plain_value_loss": Exercise(
        "Write plain_value_loss(values, returns) = ½·mean((V − R)²).",
        matches([([0.0, 1.0], [1.0, 1.0], 0.25), ([2.0], [-1.0], 4.5),          # (values, returns, loss)
                 ([0.5, 0.5, 0.5], [0.5, 1.5, -0.5], 1 / 3)]),
        ("Square each difference, average over all entries, then multiply by ½.",
         "0.5 · the sum of (v − r)² over the pairs (zip(values, returns) walks them) / the number of pairs."),
        "def plain_value_loss(values, returns):\n"
        "    return 0.5 * sum((v - r) ** 2 for v, r in zip(values, returns)) / len(values)", stars=1, minutes=4,
        mistakes=((gives(2 / 3, [0.5, 0.5, 0.5], [0.5, 1.5, -0.5]), "You forgot the ½: the loss is ½·mean((V − R)²)."),
                  (gives(1.0, [0.5, 0.5, 0.5], [0.5, 1.5, -0.5]), ("Average the squared errors (divide by how many "
                                                                   "there are), don't only add them up.")))),
})
