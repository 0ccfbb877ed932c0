"""The batteries of `check_impl` for `maths.advantages`: gae (notebook 02), group_advantages and rloo_advantages
(the critic-free family, notebook 09).

GAE: worked by hand, random shapes and padding. The family: scores `(N,)` come in consecutive groups of G
completions of one prompt; cases worked by hand, random groups, groups whose scores are all equal, numerically
hostile scores. A case's arguments are passed in the package function's order, `scale` included, as training
passes them.
"""
from __future__ import annotations

import torch

from .case import F32, F64, Case, _garble, _mask, _ones, _rand, _t

GAE_HINT = ("δ_t = r_t + γ·V_{t+1} − V_t, then backwards A_t = δ_t + γλ·A_{t+1} with A = 0 after the end; "
            "R_t = A_t + V_t.")
GAE_PAD_HINT = ("After the last valid token the episode has ended: use V_{t+1} = 0 and A_{t+1} = 0 there (never "
                "bootstrap from padding), and give padded positions A = R = 0.")


def _gae_worked() -> list[Case]:
    return [
        Case(name="worked by hand: γ = 1, λ = 1, V = 0: A_t is the sum of later rewards",
             args=(_t([[0.0, 0.0, 1.0]]), _t([[0.0, 0.0, 0.0]]), _ones(3), 1.0, 1.0), hint=GAE_HINT,
             want=(_t([[1.0, 1.0, 1.0]]), _t([[1.0, 1.0, 1.0]]))),
        Case(name="worked by hand: λ = 0 gives the one-step TD error",
             args=(_t([[0.0, 0.0, 1.0]]), _t([[0.5, 0.5, 0.5]]), _ones(3), 1.0, 0.0), hint=GAE_HINT,
             want=(_t([[0.0, 0.0, 0.5]]), _t([[0.5, 0.5, 1.0]]))),
        Case(name="worked by hand: γ = 0.9, λ = 0.95",
             args=(_t([[1.0, 0.0, 2.0]]), _t([[0.5, 1.0, 0.0]]), _ones(3), 0.9, 0.95), hint=GAE_HINT,
             want=(_t([[2.00705, 0.71, 2.0]]), _t([[2.50705, 1.71, 2.0]]))),
        Case(name="worked by hand: a response that ends before the last column",
             args=(_t([[0.0, 1.0, 5.0, 5.0]]), _t([[0.5, 0.5, 9.0, 9.0]]), _t([[True, True, False, False]], torch.bool),
                   1.0, 1.0),
             hint=GAE_PAD_HINT, want=(_t([[0.5, 0.5, 0.0, 0.0]]), _t([[1.0, 1.0, 0.0, 0.0]]))),
    ]


def _gae_random_and_padded() -> list[Case]:
    cases = []
    for seed, shape in enumerate([(4, 6), (2, 1), (3, 9)]):
        g = torch.Generator().manual_seed(seed)
        mask = _mask(g, shape, prefix=True)
        args = (_garble(_rand(g, shape, F32), mask, g, -9, 9), _garble(_rand(g, shape, F32), mask, g, -9, 9), mask,
                (1.0, 0.99, 0.9)[seed], (0.95, 1.0, 0.8)[seed])
        cases.append(Case(name=f"random {shape[0]}×{shape[1]} batch, responses of random length, garbage in the "
                               f"padding (seed {seed})", args=args, hint=GAE_PAD_HINT))
    g = torch.Generator().manual_seed(10)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1], mask[2, 3:] = False, False
    cases.append(Case(name="a batch with one fully padded row",
                      args=(_garble(_rand(g, (3, 5), F32), mask, g, -9, 9),
                            _garble(_rand(g, (3, 5), F32), mask, g, -9, 9), mask, 1.0, 0.95),
                      hint=GAE_PAD_HINT))
    cases.append(Case(name="a long response (64 tokens, γ = λ = 1)",
                      args=(_rand(g, (2, 64), F64), _rand(g, (2, 64), F64), torch.ones(2, 64, dtype=torch.bool),
                            1.0, 1.0),
                      hint=GAE_HINT))
    return cases


def _gae_cases() -> list[Case]:
    return _gae_worked() + _gae_random_and_padded()


GROUP_HINT = ("Each completion is compared with the other completions of ITS prompt: view the scores as (N/G, G), "
              "scores.view(-1, G), and take each group's mean (and GRPO's std) over dim=1 — never over the whole "
              "batch.")
GRPO_HINT = ("A_i = (r_i − mean_g) / (std_g + 1e-4), where std_g is the SAMPLE standard deviation of the group: "
             "Σ(r − mean_g)²/(G − 1) under the root (Bessel's correction, torch.std's default), not unbiased=False's "
             "÷ G.")
ZERO_HINT = ("In a group whose scores are all equal std_g = 0 and r_i − mean_g = 0: the + 1e-4 in the denominator "
             "keeps A_i at 0 there, instead of 0/0 = NaN. It is part of the formula: keep it, exactly 1e-4.")
DR_GRPO_HINT = "scale=False (Dr. GRPO) gives A_i = r_i − mean_g: subtract the group's mean, divide by nothing."
RLOO_HINT = ("The baseline of r_i is the mean of the OTHER G − 1 scores of its group, (Σ_g r − r_i)/(G − 1): leave r_i "
             "out. A mean that includes r_i gives r_i − mean_g, smaller than RLOO's by the factor (G − 1)/G.")


def _groups_with_ties(gen, groups: int, size: int, dtype) -> torch.Tensor:
    """Random scores (N,) in `groups` groups of `size`; every third group all equal (a multiple of 0.25: its mean
    is exact in any precision)."""
    scores = _rand(gen, (groups, size), F64, 2.0)                                         # (N/G, G)
    tied = torch.arange(groups)[:, None] % 3 == 1                                         # (N/G, 1)
    level = torch.randint(-8, 9, (groups, 1), generator=gen).to(F64) / 4                  # (N/G, 1)
    return torch.where(tied, level, scores).reshape(-1).to(dtype)                         # (N,)


# ====================================================================== group_advantages (GRPO, Dr. GRPO)
def _group_worked() -> list[Case]:
    return [
        # mean 4, r − mean = (−3, −1, 1, 3), std = √(20/3) = 2.5819888975 (÷ G would give √5 = 2.2360679775)
        Case(name="worked by hand: one group of 4, scores (1, 3, 5, 7): the sample std",
             args=(_t([1.0, 3.0, 5.0, 7.0]), 4, True), hint=GRPO_HINT,
             want=(_t([-1.1618500056, -0.3872833352, 0.3872833352, 1.1618500056]),)),
        # group (0, 1, 4): mean 5/3, std = √(13/3);  group (6, 6, 9): mean 7, std = √3
        Case(name="worked by hand: two prompts, G = 3, scores (0, 1, 4 | 6, 6, 9): each against its own group",
             args=(_t([0.0, 1.0, 4.0, 6.0, 6.0, 9.0]), 3, True), hint=GROUP_HINT,
             want=(_t([-0.8006023093, -0.3202409237, 1.1208432331, -0.5773169378, -0.5773169378, 1.1546338756]),)),
        # group (2, 2, 2): std 0, so A = 0/(0 + 1e-4) = 0;  group (0, 1, 2): std 1, A = ±1/1.0001
        Case(name="worked by hand: a group whose scores are all equal, (2, 2, 2 | 0, 1, 2), gets 0",
             args=(_t([2.0, 2.0, 2.0, 0.0, 1.0, 2.0]), 3, True), hint=ZERO_HINT,
             want=(_t([0.0, 0.0, 0.0, -0.99990001, 0.0, 0.99990001]),)),
        Case(name="worked by hand: scale=False (Dr. GRPO), scores (0, 1, 4 | 6, 6, 9)",
             args=(_t([0.0, 1.0, 4.0, 6.0, 6.0, 9.0]), 3, False), hint=DR_GRPO_HINT,
             want=(_t([-5 / 3, -2 / 3, 7 / 3, -1.0, -1.0, 2.0]),)),
    ]


def _group_cases() -> list[Case]:
    cases = _group_worked()
    for seed, (groups, size, dtype, scale) in enumerate([(4, 2, F64, True), (3, 4, F32, True), (2, 8, F64, False),
                                                         (6, 3, F32, False), (1, 16, F64, True)]):
        g = torch.Generator().manual_seed(seed)
        scores = _rand(g, (groups * size,), dtype, 2.0)                                  # (N,)
        cases.append(Case(name=f"random: {groups} prompt(s) × G = {size}, {str(dtype)[6:]}, scale={scale} "
                               f"(seed {seed})", args=(scores, size, scale), hint=GRPO_HINT if scale else DR_GRPO_HINT))
    g = torch.Generator().manual_seed(10)
    cases += [Case(name=f"random groups, every third one all equal (G = {size}, {str(dtype)[6:]}, scale={scale})",
                   args=(_groups_with_ties(g, 6, size, dtype), size, scale), hint=ZERO_HINT)
              for size, dtype, scale in ((4, F64, True), (3, F32, True), (5, F64, False))]
    cases += [Case(name="tiny score differences (about 1e-6): the + 1e-4 matters",
                   args=(_rand(g, (12,), F64, 1e-6), 4, True), hint=ZERO_HINT),
              Case(name="huge scores (about 1e8, float64)", args=(_rand(g, (12,), F64, 1e8), 3, True), hint=GRPO_HINT),
              Case(name="large scores (about 1e4, float32)", args=(_rand(g, (16,), F32, 1e4), 8, True),
                   hint=GRPO_HINT)]
    return cases


# ====================================================================== rloo_advantages
def _rloo_worked() -> list[Case]:
    return [
        # A_1 = 1 − (3 + 5 + 7)/3 = −4;  A_2 = 3 − 13/3 = −4/3;  A_3 = 5 − 11/3 = 4/3;  A_4 = 7 − 9/3 = 4
        Case(name="worked by hand: one group of 4, scores (1, 3, 5, 7): the baseline leaves the sample out",
             args=(_t([1.0, 3.0, 5.0, 7.0]), 4), hint=RLOO_HINT, want=(_t([-4.0, -4 / 3, 4 / 3, 4.0]),)),
        # (0, 1, 4): 0 − 5/2, 1 − 4/2, 4 − 1/2;  (6, 6, 9): 6 − 15/2, 6 − 15/2, 9 − 12/2
        Case(name="worked by hand: two prompts, G = 3, scores (0, 1, 4 | 6, 6, 9): each against its own group",
             args=(_t([0.0, 1.0, 4.0, 6.0, 6.0, 9.0]), 3), hint=GROUP_HINT,
             want=(_t([-2.5, -1.0, 3.5, -1.5, -1.5, 3.0]),)),
        Case(name="worked by hand: G = 2, scores (3, 5): each against the other",
             args=(_t([3.0, 5.0]), 2), hint=RLOO_HINT, want=(_t([-2.0, 2.0]),)),
        Case(name="worked by hand: a group whose scores are all equal, (2, 2, 2 | 0, 1, 2), gets 0",
             args=(_t([2.0, 2.0, 2.0, 0.0, 1.0, 2.0]), 3), hint=RLOO_HINT,
             want=(_t([0.0, 0.0, 0.0, -1.5, 0.0, 1.5]),)),
    ]


def _rloo_cases() -> list[Case]:
    cases = _rloo_worked()
    for seed, (groups, size, dtype) in enumerate([(4, 2, F64), (3, 4, F32), (2, 8, F64), (1, 16, F32)]):
        g = torch.Generator().manual_seed(seed)
        cases.append(Case(name=f"random: {groups} prompt(s) × G = {size}, {str(dtype)[6:]} (seed {seed})",
                          args=(_rand(g, (groups * size,), dtype, 2.0), size), hint=RLOO_HINT))
    g = torch.Generator().manual_seed(10)
    cases += [Case(name=f"random groups, every third one all equal (G = {size}, {str(dtype)[6:]})",
                   args=(_groups_with_ties(g, 6, size, dtype), size), hint=RLOO_HINT)
              for size, dtype in ((4, F64), (3, F32))]
    cases += [Case(name="tiny scores (about 1e-6)", args=(_rand(g, (12,), F64, 1e-6), 4), hint=RLOO_HINT),
              Case(name="huge scores (about 1e8, float64)", args=(_rand(g, (12,), F64, 1e8), 3), hint=RLOO_HINT),
              Case(name="large scores (about 1e4, float32)", args=(_rand(g, (16,), F32, 1e4), 8), hint=RLOO_HINT)]
    return cases


BATTERIES = {"gae": _gae_cases, "group_advantages": _group_cases, "rloo_advantages": _rloo_cases}


__all__ = ["BATTERIES", "DR_GRPO_HINT", "GAE_HINT", "GAE_PAD_HINT", "GROUP_HINT", "GRPO_HINT", "RLOO_HINT", "ZERO_HINT"]
