"""The exercises of notebook 09: the critic-free family's advantages, zero-variance groups and length bias.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

from .base import numeric

_SAMPLE_STD = 0.5            # of the scores (1, 0, 0, 0): sqrt(((3/4)² + 3·(1/4)²) / 3)
_POPULATION_STD = 3 ** 0.5 / 4  # the same with ÷ 4 instead of ÷ 3

EXERCISES = {
    "09.grpo_by_hand": numeric(
        "One prompt, G = 4 completions scored (1, 0, 0, 0). What is GRPO's advantage of the first completion "
        "(sample standard deviation, ε = 1e-4)?  (3 decimals)", 0.75 / (_SAMPLE_STD + 1e-4),
        (("GRPO's advantage is (r_i − mean of the group) / (std of the group + ε). Start with the mean of the four "
          "scores."),
         ("The mean is 1/4. The sample standard deviation divides the sum of squared deviations by G − 1 = 3 (as "
          "torch.std does): ((3/4)² + 3·(1/4)²) / 3 = 0.25.")),
        "mean = 0.25, deviations (0.75, −0.25, −0.25, −0.25), sample variance (0.5625 + 3·0.0625) / 3 = 0.25, "
        "std = 0.5, so A_1 = 0.75 / (0.5 + 1e-4) ≈ 1.500 (and −0.500 for each of the other three).",
        stars=1, minutes=4, tol=2e-3,
        slips={0.75: "That is r_1 − mean: Dr. GRPO's advantage (scale_rewards=False). GRPO also divides by the std.",
               0.75 / _POPULATION_STD: ("That divides by the population std (÷ G). torch.std, and GRPO, use the "
                                        "sample std (÷ G − 1)."),
               1.0: "That is RLOO's advantage (r_1 minus the mean of the OTHER three). GRPO's baseline includes r_1."}),
    "09.zero_variance": numeric(
        "A pass/fail reward: each completion passes with probability p = 0.3, independently. With G = 4 completions "
        "per prompt, what fraction of groups gives GRPO no signal at all?  (4 decimals)", 0.3 ** 4 + 0.7 ** 4,
        (("A group gives no signal when every completion in it has the same score. Which two ways can that happen "
          "with a pass/fail reward?"),
         ("All four pass (probability p⁴) or all four fail (probability (1 − p)⁴); the two cases cannot happen "
          "together, so add them.")),
        "All pass: 0.3⁴ = 0.0081; all fail: 0.7⁴ = 0.2401; together 0.2482: a quarter of the rollout is "
        "wasted. With G = 8 it drops to 0.3⁸ + 0.7⁸ ≈ 0.058.", stars=2, minutes=5, tol=5e-4,
        slips={0.7 ** 4: "That is only the all-fail groups. A group where all four pass has zero variance too.",
               0.3 ** 4: "That is only the all-pass groups. A group where all four fail has zero variance too.",
               1 - 0.3 ** 4 - 0.7 ** 4: "That is the fraction of groups that DO give a signal."}),
    "09.rloo_factor": numeric(
        "RLOO's advantage r_i − mean_{j≠i} r_j is a constant multiple of the mean-centred score r_i − mean_g. "
        "For G = 4, what is the multiple?  (3 decimals)", 4 / 3,
        (("Write the mean of the others with the group mean: Σ_{j≠i} r_j = G·mean_g − r_i, divided by G − 1."),
         ("r_i − (G·mean_g − r_i) / (G − 1) = (G·r_i − G·mean_g) / (G − 1).")),
        "r_i − (G·mean_g − r_i)/(G − 1) = G/(G − 1) · (r_i − mean_g): for G = 4 the multiple is 4/3 ≈ 1.333. "
        "RLOO is mean-centring with a slightly larger step, and no division by the std.", stars=2, minutes=5,
        tol=2e-3,
        slips={0.75: "That is (G − 1)/G, upside down: leaving r_i out makes the baseline FURTHER from r_i.",
               1.0: "Leaving r_i out of the baseline changes the advantage: try it on the scores (1, 0, 0, 0)."}),
    "09.length_weight": numeric(
        "loss_aggregation='sequence_mean': a 4-token and a 20-token completion have the same advantage. How many "
        "times larger is the weight of ONE token of the short completion than one token of the long one?",
        5.0,
        (("sequence_mean averages over the tokens of each completion first, then over the completions."),
         ("Within its completion each token weighs 1/length; every completion then weighs 1/B.")),
        "Each token of the short completion weighs 1/(4·B), each of the long one 1/(20·B): 5× larger. Per token, "
        "short completions are pushed harder: with a positive advantage shorter is favoured a little, with a "
        "negative one a long completion is punished less per token (Dr. GRPO's length bias). token_mean and "
        "constant give every token the same weight (ratio 1).", stars=2, minutes=4, tol=1e-3,
        slips={1.0: "That is token_mean (or constant): every valid token weighs the same. sequence_mean differs.",
               0.2: "Upside down: the SHORT completion's tokens carry more weight each."}),
}


__all__ = ["EXERCISES"]
