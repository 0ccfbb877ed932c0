"""The batteries of `check_impl` for DPO (notebook 10): dpo_loss and sequence_logps.

Each battery: cases worked by hand, each built so that one classic mistake gives another number (no reference
model, the sign flipped, β on one side only, `log(sigmoid(z))` that overflows, the mean of the token log-probs
instead of their sum), random batches, and hostile values (see `case` for `Case`).
"""
from __future__ import annotations

import torch

from .case import F32, F64, Case, _rand, _t

NO_REF_HINT = ("The implicit reward of a completion is β·(log π(y) − log π_ref(y)): the policy's log-prob MINUS the "
               "reference's. Without π_ref the loss rewards any likely text, not the preferred one, and nothing holds "
               "the policy near its start.")
SIGN_HINT = ("z = β·[(log π − log π_ref)(chosen) − (log π − log π_ref)(rejected)]: chosen minus rejected, and the "
             "loss is −log σ(z), small when z is large. A flipped sign trains the policy to prefer the rejected one.")
BETA_HINT = ("β multiplies BOTH log-ratios: z = β·(chosen log-ratio) − β·(rejected log-ratio) = β·(their "
             "difference). It is the β of notebook 06's KL penalty, and it scales the whole margin.")
STABLE_HINT = ("−log σ(z) = log(1 + e^(−z)): for a very negative z, σ(z) rounds to 0 and log(0) = −inf. "
               "torch.nn.functional.logsigmoid(z) computes it without forming σ(z): finite for any margin.")
MEAN_HINT = "The loss is the MEAN over the pairs of −log σ(z), one z per pair: .mean(), not .sum()."
STATS_HINT = ("stats hold Python floats named as TRL names them: rewards/chosen = mean of β·(log π − log π_ref)(y_w), "
              "rewards/rejected the same for y_l, rewards/margins = mean of z, rewards/accuracies = fraction of z > 0.")
SUM_HINT = ("log π(y | x) of a whole completion is the SUM of its tokens' log-probs (the log of a product of "
            "probabilities), not their mean: a mean would change with the completion's length.")
MASK_SUM_HINT = ("Padded tokens (mask=False) are not part of the completion: leave them out of the sum, "
                 "torch.where(mask, token_logps, 0.0).sum(dim=1) — whatever number sits in a padded position.")


# ====================================================================== dpo_loss
def _dpo_worked() -> list[Case]:
    # z = 0.5·[(−10 + 11) − (−12 + 11)] = 1;  loss = log(1 + e^−1)
    one = Case(name="worked by hand: one pair, log-ratios +1 (chosen) and −1 (rejected), β = 0.5: z = 1",
               args=(_t([-10.0]), _t([-12.0]), _t([-11.0]), _t([-11.0]), 0.5), hint=SIGN_HINT,
               want=(_t(0.3132616875182228),), grad=(0, 1),
               stats={"rewards/chosen": 0.5, "rewards/rejected": -0.5, "rewards/margins": 1.0,
                      "rewards/accuracies": 1.0})
    # pair 1: (−20 + 21) − (−18 + 17) = 2 → z = 0.2 (without π_ref: 0.1·(−20 + 18) = −0.2)
    # pair 2: (−5 + 6) − (−9 + 7) = 3 → z = 0.3;  loss = mean of log(1 + e^−0.2), log(1 + e^−0.3)
    two = (_t([-20.0, -5.0]), _t([-18.0, -9.0]), _t([-21.0, -6.0]), _t([-17.0, -7.0]), 0.1)
    return [one,
            Case(name="worked by hand: two pairs where the reference changes the winner (π alone prefers the "
                      "rejected one of pair 1)", args=two, hint=NO_REF_HINT, want=(_t(0.5762470569250594),),
                 grad=(0, 1)),
            Case(name="worked by hand: the same two pairs, β = 2 (β scales both log-ratios)",
                 args=two[:4] + (2.0,), hint=BETA_HINT, want=(_t(0.010312806527770068),), grad=(0, 1)),
            Case(name="worked by hand: π = π_ref, every z = 0, loss = log 2, accuracy 0 (no z above 0)",
                 args=(_t([-7.0, -3.0, -9.0]), _t([-4.0, -8.0, -2.0]), _t([-7.0, -3.0, -9.0]),
                       _t([-4.0, -8.0, -2.0]), 0.1), hint=STATS_HINT, want=(_t(0.6931471805599453),), grad=(0, 1),
                 stats={"rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/margins": 0.0,
                        "rewards/accuracies": 0.0})]


def _dpo_cases() -> list[Case]:
    cases = _dpo_worked()
    for seed, (n, dtype, beta) in enumerate([(4, F64, 0.1), (7, F32, 0.5), (16, F64, 0.05), (3, F32, 2.0)]):
        g = torch.Generator().manual_seed(seed)
        logps = [-(_rand(g, (n,), F64, 10.0).abs() + 5.0).to(dtype) for _ in range(4)]      # 4 × (n,) ≤ −5
        cases.append(Case(name=f"random: {n} pairs, {str(dtype)[6:]}, β = {beta} (seed {seed})",
                          args=(*logps, beta), hint=MEAN_HINT, grad=(0, 1)))
    # z = 1·[(−300 + 100) − (−100 + 300)] = −400: σ(−400) is 0 in float32 (and σ(−800) in float64)
    cases += [Case(name="a huge wrong margin, z = −400 in float32: the loss is 400, not inf",
                   args=(_t([-300.0, -5.0], F32), _t([-100.0, -5.0], F32), _t([-100.0, -5.0], F32),
                         _t([-300.0, -5.0], F32), 1.0), hint=STABLE_HINT, want=(_t(200.3465735902799, F32),),
                   grad=(0, 1)),
              Case(name="a huge wrong margin, z = −800 in float64", hint=STABLE_HINT,
                   args=(_t([-900.0]), _t([-100.0]), _t([-500.0]), _t([-500.0]), 1.0), want=(_t(800.0),), grad=(0, 1)),
              Case(name="a huge right margin, z = +800: the loss is 0 and the gradient too", hint=STABLE_HINT,
                   args=(_t([-100.0]), _t([-900.0]), _t([-500.0]), _t([-500.0]), 1.0), grad=(0, 1))]
    return cases


# ====================================================================== sequence_logps
def _sequence_cases() -> list[Case]:
    valid = torch.tensor([[True, True, True], [True, True, False]])
    cases = [
        Case(name="worked by hand: (−1, −2, −3) and (−0.5, −0.5, [padding]): the sums −6 and −1",
             args=(_t([[-1.0, -2.0, -3.0], [-0.5, -0.5, 99.0]]), valid), hint=SUM_HINT, want=(_t([-6.0, -1.0]),),
             grad=(0,), want_grad=(_t([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]),)),
        Case(name="worked by hand: a completion with no valid token has log-prob 0 (an empty product is 1)",
             args=(_t([[-4.0, -4.0], [-1.0, -2.0]]), torch.tensor([[False, False], [True, True]])),
             hint=MASK_SUM_HINT, want=(_t([0.0, -3.0]),), grad=(0,)),
        Case(name="padding that holds −inf and NaN (the docstring's \"any number\"): the sums are still −3 and −1, "
                  "never NaN (−inf · 0 and NaN · 0 are NaN)",
             args=(_t([[-1.0, -2.0, -float("inf")], [-1.0, float("nan"), float("nan")]]),
                   torch.tensor([[True, True, False], [True, False, False]])),
             hint=MASK_SUM_HINT, want=(_t([-3.0, -1.0]),), grad=(0,),
             want_grad=(_t([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),))]
    for seed, (n, T, dtype) in enumerate([(4, 6, F64), (3, 10, F32), (8, 24, F64)]):
        g = torch.Generator().manual_seed(seed)
        lengths = torch.randint(1, T + 1, (n, 1), generator=g)                                 # (n, 1)
        mask = torch.arange(T) < lengths                                                       # (n, T) right-padded
        token_logps = torch.where(mask, -_rand(g, (n, T), F64, 3.0).abs(), 123.0).to(dtype)   # garbage in padding
        cases.append(Case(name=f"random: {n} completions of up to {T} tokens, right-padded with garbage, "
                               f"{str(dtype)[6:]} (seed {seed})", args=(token_logps, mask), hint=MASK_SUM_HINT,
                          grad=(0,)))
    return cases


BATTERIES = {"dpo_loss": _dpo_cases, "sequence_logps": _sequence_cases}


__all__ = ["BATTERIES", "BETA_HINT", "MASK_SUM_HINT", "MEAN_HINT", "NO_REF_HINT", "SIGN_HINT", "STABLE_HINT",
           "STATS_HINT", "SUM_HINT"]
