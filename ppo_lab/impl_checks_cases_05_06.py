"""The batteries of `check_impl` for notebooks 05–06: entropy, kl_per_token and ppo_loss (see `impl_checks_cases`)."""
from __future__ import annotations

import math

import torch

from .impl_checks_cases import F32, F64, INF, MASK_HINT, Case, _garble, _mask, _rand, _t

NAN_HINT = ("A token with p = 0 contributes 0·log 0 = 0, never NaN: take log p from torch.log_softmax (not the log "
            "of a softmax) and make sure p·log p is 0 wherever p is 0.")


def _entropy_worked() -> list[Case]:
    l3, l2 = math.log(3), math.log(2)
    return [
        Case(name="worked by hand: uniform over 4 tokens (S = log 4) and p = (3, 1, 2, 2)/8",
             args=(_t([[[0.0, 0, 0, 0], [l3, 0, l2, l2]]]), torch.ones(1, 2, dtype=torch.bool)),
             hint="S = −Σ_v p_v log p_v: SUM over the vocabulary, then average over the valid tokens.",
             want=(1.3535913521,)),
        Case(name="worked by hand: a padded token must not count",
             args=(_t([[[0.0, 0, 0, 0], [l3, 0, l2, l2], [0, 50, -50, 3]]]), _t([[True, True, False]], torch.bool)),
             hint=MASK_HINT, want=(1.3535913521,)),
        Case(name="worked by hand: peaked logits of ±1e4 (float32)",
             args=(_t([[[1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, -1e4]]], F32), torch.ones(1, 2, dtype=torch.bool)),
             hint=NAN_HINT, want=(0.3465735903,)),
        Case(name="worked by hand: logits of −inf (banned tokens)",
             args=(_t([[[0.0, 0, -INF, -INF]]], F32), torch.ones(1, 1, dtype=torch.bool)),
             hint=NAN_HINT, want=(0.6931471806,)),
    ]


def _entropy_cases() -> list[Case]:
    cases = _entropy_worked()
    for seed, (shape, dtype) in enumerate([((3, 5, 7), F32), ((1, 1, 2), F64), ((2, 6, 50), F32), ((4, 3, 11), F64)]):
        g = torch.Generator().manual_seed(seed)
        name = f"random {'×'.join(map(str, shape))} logits, {str(dtype)[6:]}, random mask (seed {seed})"
        cases.append(Case(name=name, args=(_rand(g, shape, dtype, 3.0), _mask(g, shape[:2])),
                          hint="S = −Σ_v p_v log p_v per token, averaged over valid tokens.", grad=(0,)))
    g = torch.Generator().manual_seed(10)
    mask = _mask(g, (3, 5))
    cases.append(Case(name="garbage in padded positions must not change anything",
                      args=(_garble(_rand(g, (3, 5, 9), F32, 3.0), mask, g, -1e3, 1e3), mask), hint=MASK_HINT,
                      grad=(0,)))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0] = False
    cases.append(Case(name="a batch with one fully padded row", args=(_rand(g, (3, 4, 6), F32), mask), hint=MASK_HINT,
                      grad=(0,)))
    return cases


def _kl_cases() -> list[Case]:
    lp, ref = _t([[-1.0, -2.0]]), _t([[-1.5, -1.0]])
    k1_hint = "KL(π ‖ π_ref) per token: k1 = log π − log π_ref, the policy's log-prob first (k1 may be negative)."
    k3_hint = "k3 = (r − 1) − log r with r = π_ref/π = exp(log π_ref − log π): the reference over the policy; k3 ≥ 0."
    cases = [Case(name="worked by hand: k1", args=(lp, ref, "k1"), hint=k1_hint, want=(_t([[0.5, -1.0]]),)),
             Case(name="worked by hand: k3", args=(lp, ref, "k3"), hint=k3_hint,
                  want=(_t([[0.1065306597, 0.7182818285]]),)),
             Case(name="worked by hand: π = π_ref gives 0", args=(lp, lp.clone(), "k3"), hint=k3_hint,
                  want=(_t([[0.0, 0.0]]),))]
    small = ("exp(−150) underflows to 0 in float32, so π/π_ref becomes 0/0: work with differences of log-probs, "
             "never with the probabilities themselves.")
    cases += [Case(name=f"very small log-probs (−150 vs −160, float32): {est}",
                   args=(_t([[-150.0]], F32), _t([[-160.0]], F32), est), hint=small, want=(_t([[v]]),))
              for est, v in (("k1", 10.0), ("k3", 9.0000453999))]
    for seed, (shape, est) in enumerate([((3, 5), "k1"), ((3, 5), "k3"), ((1, 1), "k3"), ((4, 9), "k1")]):
        g = torch.Generator().manual_seed(seed)
        lp = -torch.rand(shape, generator=g, dtype=F64) * 6
        cases.append(Case(name=f"random {shape[0]}×{shape[1]} log-probs, {est} (seed {seed})",
                          args=(lp, lp + _rand(g, shape, F64, 0.5), est), hint=k1_hint if est == "k1" else k3_hint,
                          grad=(0,), const=(1,)))
    return cases


def _ppo_cases() -> list[Case]:
    sign = ("The loss to minimise is −(L_clip − c1·L_VF + c2·S); pg_loss is already −L_clip, so it is "
            "pg_loss + c1·vf_loss − c2·S. Keep every term a tensor: .item() or float() cuts its gradient.")
    cases = [Case(name="worked by hand: pg_loss 0.5, vf_loss 2, S 3, c1 0.1, c2 0.01",
                  args=(_t(0.5), _t(2.0), _t(3.0), 0.1, 0.01), hint=sign,
                  want=(0.67,), grad=(0, 1, 2), want_grad=(_t(1.0), _t(0.1), _t(-0.01))),
             Case(name="worked by hand: no entropy term (S = 0 without gradient, c2 = 0)",
                  args=(_t(0.5), _t(2.0), _t(0.0), 0.1, 0.0), hint=sign,
                  want=(0.7,), grad=(0, 1), want_grad=(_t(1.0), _t(0.1)))]
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        terms = _rand(g, (3,), F64, 3.0)
        cases.append(Case(name=f"random terms and coefficients ({i + 1})",
                          args=(*terms.unbind(), 10 ** (i - 1), 0.05 * i), hint=sign, grad=(0, 1, 2)))
    return cases


BATTERIES = {"entropy": _entropy_cases, "kl_per_token": _kl_cases, "ppo_loss": _ppo_cases}
