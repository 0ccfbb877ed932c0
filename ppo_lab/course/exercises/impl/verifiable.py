"""The battery of `check_impl` for pass@k (notebook 11).

Cases worked by hand, each built so that one classic mistake gives another number (drawing with replacement,
1 − (1 − c/n)^k; c/n whatever k is; a lost edge case where fewer than k answers are wrong), random counts, and
counts whose binomials overflow a float (see `case` for `Case`).
"""
from __future__ import annotations

import random

from .case import Case

UNBIASED_HINT = ("pass@k = 1 − C(n − c, k) / C(n, k): the k answers are drawn from the n WITHOUT replacement "
                 "(Chen et al., 2021). 1 − (1 − c/n)^k draws with replacement and is biased low.")
K_HINT = "pass@1 is c/n, but pass@k grows with k: one minus the chance that all k drawn answers are wrong."
EDGE_HINT = ("When fewer than k answers are wrong (n − c < k), every draw of k holds a right one: pass@k = 1. "
             "C(n − c, k) is 0 then (math.comb gives 0); a formula that divides or takes logs may not.")
OVERFLOW_HINT = ("C(2000, 1000) has about 600 digits: as a float it is inf, and inf / inf is NaN. Use Python's "
                 "exact integers (math.comb) or the product form ∏_{i<k} (n − c − i) / (n − i), which stays in [0, 1].")


def _pass_cases() -> list[Case]:
    cases = [Case(name="worked by hand: n = 4, c = 1, k = 1 → c/n = 0.25", args=(4, 1, 1), hint=K_HINT,
                  want=(0.25,)),
             Case(name="worked by hand: n = 4, c = 3, k = 2 → 1 (one wrong answer cannot fill a draw of 2)",
                  args=(4, 3, 2), hint=EDGE_HINT, want=(1.0,)),
             Case(name="worked by hand: n = 6, c = 3, k = 6 → 1 (drawing all six answers takes the right ones too)",
                  args=(6, 3, 6), hint=K_HINT, want=(1.0,)),
             Case(name="worked by hand: n = 4, c = 1, k = 2 → 1 − C(3,2)/C(4,2) = 0.5 (with replacement: 0.4375)",
                  args=(4, 1, 2), hint=UNBIASED_HINT, want=(0.5,)),
             Case(name="worked by hand: n = 10, c = 3, k = 5 → 1 − 21/252", args=(10, 3, 5), hint=UNBIASED_HINT,
                  want=(1 - 21 / 252,)),
             Case(name="worked by hand: nothing right, n = 5, c = 0, k = 5 → 0", args=(5, 0, 5), hint=K_HINT,
                  want=(0.0,)),
             Case(name="worked by hand: everything right, n = 5, c = 5, k = 1 → 1", args=(5, 5, 1), hint=K_HINT,
                  want=(1.0,))]
    rng = random.Random(0)
    for _ in range(6):
        n = rng.randint(2, 64)
        c, k = rng.randint(0, n), rng.randint(1, n)
        cases.append(Case(name=f"random: n = {n}, c = {c}, k = {k}", args=(n, c, k), hint=UNBIASED_HINT))
    cases.append(Case(name="huge counts: n = 2000, c = 500, k = 1000 (the binomials overflow a float)",
                      args=(2000, 500, 1000), hint=OVERFLOW_HINT))
    return cases


BATTERIES = {"pass_at_k": _pass_cases}


__all__ = ["BATTERIES", "EDGE_HINT", "K_HINT", "OVERFLOW_HINT", "UNBIASED_HINT"]
