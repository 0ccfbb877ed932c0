"""The exercises of notebook 11: pass@k by hand, a zero-variance fraction predicted, a GRPO advantage in a group of
right and wrong answers, and the accuracy of a model that forgets its carries.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

import math

from .base import numeric

_zero_variance = lambda p, G: p ** G + (1 - p) ** G          # all right or all wrong
_grpo_right = lambda right, G: (1 - right / G) / math.sqrt(right * (G - right) / (G * (G - 1)))

EXERCISES = {
    "11.pass_at_k_by_hand": numeric(
        "A sum was sampled n = 5 times and c = 2 answers were right. What is the unbiased estimate of pass@2, the "
        "chance that 2 answers drawn from these 5 (without replacement) hold at least one right one?  (4 decimals)",
        1 - math.comb(3, 2) / math.comb(5, 2),
        (("pass@k = 1 − C(n − c, k) / C(n, k): one minus the chance that all k drawn answers are wrong."),
         ("C(3, 2) = 3 pairs of wrong answers among C(5, 2) = 10 pairs.")),
        "1 − C(3, 2)/C(5, 2) = 1 − 3/10 = 0.7. The 'with replacement' guess 1 − (1 − 2/5)² = 0.64 is biased low: "
        "Chen et al. (2021) draw without replacement from the n samples.", stars=1, minutes=4, tol=5e-4,
        slips={0.64: "That is 1 − (1 − c/n)^k, drawing WITH replacement: biased. Draw 2 of the 5 without replacement.",
               0.4: "That is pass@1 = c/n. pass@2 asks for at least one right answer among TWO draws.",
               0.3: "That is the chance both drawn answers are WRONG; pass@2 is one minus it.",
               0.9: "That is one minus the chance both drawn answers are RIGHT; pass@2 is one minus the chance both "
                    "are WRONG: C(n − c, k), not C(c, k)."}),
    "11.zero_variance": numeric(
        "Half the prompts of a batch are easy for the policy (each answer right with probability 0.9), half are hard "
        "(0.2). GRPO samples G = 4 answers per prompt. What fraction of the groups is expected to have no signal "
        "(all 4 answers right, or all 4 wrong), so that their advantages are all 0?  (4 decimals)",
        (_zero_variance(0.9, 4) + _zero_variance(0.2, 4)) / 2,
        (("A group has no signal when every answer gets the same reward: all right OR all wrong: p^G + (1 − p)^G."),
         ("Average that over the two kinds of prompt: (0.9⁴ + 0.1⁴ + 0.2⁴ + 0.8⁴) / 2.")),
        "(0.9⁴ + 0.1⁴)/2 + (0.2⁴ + 0.8⁴)/2 = (0.6562 + 0.4112)/2 ≈ 0.5337: over half the groups teach nothing, the "
        "easy ones because they are always right, the hard ones because they are always wrong. As training succeeds "
        "the easy kind grows and the fraction with it; a larger G or DAPO's dynamic sampling fights it.",
        stars=2, minutes=5, tol=5e-4,
        slips={round((0.9 ** 4 + 0.2 ** 4) / 2, 4): "That counts only 'all right'. 'All wrong' also gives no signal.",
               round((0.1 ** 4 + 0.8 ** 4) / 2, 4): "That counts only 'all wrong'. 'All right' also gives no signal.",
               round(_zero_variance(0.55, 4), 4): "That uses the average accuracy 0.55 for every prompt; the fraction "
                                                  "is an average over the two kinds, not taken at the average p."}),
    "11.grpo_advantage": numeric(
        "A group of G = 8 answers to one sum holds 2 right ones (reward 1) and 6 wrong (reward 0). With GRPO's "
        "advantage (r − mean) / std, the std with the G − 1 divisor (torch's default) and no ε, what is the advantage "
        "of a right answer?  (3 decimals)", _grpo_right(2, 8),
        (("mean = 2/8 = 0.25; a right answer's r − mean = 0.75."),
         ("The sample variance is Σ(r − mean)² / (G − 1) = (2·0.75² + 6·0.25²) / 7 = 1.5 / 7.")),
        "0.75 / √(1.5/7) ≈ 1.620, and a wrong answer gets −0.25/√(1.5/7) ≈ −0.540: rare right answers get the "
        "larger push. Dr. GRPO drops the division by std (notebook 09).", stars=2, minutes=6, tol=5e-3,
        slips={0.75: "That is r − mean, before dividing by the group's standard deviation.",
               round(0.75 / math.sqrt(1.5 / 8), 3): "That divides by G = 8; torch's std divides by G − 1 = 7.",
               round(_grpo_right(2, 8) * -1 / 3, 3): "That is a WRONG answer's advantage; the question asks for a "
                                                     "right one."}),
    "11.forgot_carry": numeric(
        "A model writes sums of two numbers 0–99. Where a sum needs a carry (about 69 % of the held-out sums) it "
        "writes the carry with probability 0.3; where none is needed (the other 31 %) it is always right. What "
        "fraction of the held-out sums does one sampled answer get right?  (2 decimals)", 0.31 + 0.69 * 0.3,
        (("Split the sums: those without a carry are always right, those with one are right with probability 0.3."),
         ("Weight each kind by its share: 0.31·1 + 0.69·0.3.")),
        "0.31 + 0.69·0.3 ≈ 0.52. The greedy answer takes the model's most likely one: where 'no carry' is the more "
        "likely answer, greedy is ALWAYS wrong on carried sums (0.31 overall here), while sampling is sometimes "
        "right: why one sampled answer can beat the greedy one.", stars=1, minutes=3, tol=5e-3,
        slips={0.3: "That is only the carried sums; the sums without a carry count too.",
               0.31: "That is the greedy accuracy if 'no carry' is the model's favourite; one SAMPLED answer is right "
                     "30 % of the time on carried sums."}),
}


__all__ = ["EXERCISES"]
