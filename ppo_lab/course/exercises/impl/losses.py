"""The batteries of `check_impl` for `maths.losses`: policy_loss (notebook 04), value_loss (03), entropy (05),
kl_per_token and ppo_loss (06)."""
from __future__ import annotations

import math

import torch

from .case import F32, F64, INF, MASK_HINT, Case, _garble, _lp, _mask, _ones, _rand, _t, _zeros


def _policy_row(ratios, adv, mask=None, clip_eps=0.2) -> tuple:
    """policy_loss's arguments for one row of tokens with these ratios π/π_old (log π_old = 0) and advantages;
    `mask`: which tokens are valid (default: all)."""
    n = len(ratios)
    return _lp(*ratios), _zeros(n), _t([adv]), _ones(n) if mask is None else _t([mask], torch.bool), clip_eps


def _policy_worked() -> list[Case]:
    return [
        Case(name="worked by hand: ratio 1 (the first minibatch), so nothing is clipped",
             args=_policy_row(ratios=(1, 1, 1), adv=(3.0, -1.0, 0.5)),
             hint="At r = 1 the loss is simply −mean(A): a loss is the negated objective. If this fails, check the "
                  "sign, and that you clip the ratio r, not the advantage A.",
             want=(-0.8333333333,), stats={"clipfrac": 0.0, "approx_kl": 0.0, "ratio_mean": 1.0}),
        Case(name="worked by hand: A > 0 with r below the trust region, A < 0 with r above it",
             args=_policy_row(ratios=(0.5, 1.5), adv=(1.0, -1.0)),
             hint="Here the pessimistic bound picks the UNclipped term. L_clip = min(r·A, clip(r)·A), and the package "
                  "minimises the loss −L_clip; since −min(x, y) = max(−x, −y), take the max of the negated terms.",
             want=(0.5,), stats={"clipfrac": 1.0, "approx_kl": 0.14384103623, "ratio_mean": 1.0}),
        Case(name="worked by hand: r beyond the trust region in the direction A favours is clipped",
             args=_policy_row(ratios=(1.5, 0.5), adv=(2.0, -1.0)),
             hint="For A > 0 and r > 1 + ε a token contributes −A·(1 + ε) however large r grows (for A < 0 and "
                  "r < 1 − ε, −A·(1 − ε)): clip r to [1 − ε, 1 + ε], then multiply by A; keep the max of the negated "
                  "terms."),
        Case(name="worked by hand: a padded token must not count",
             args=_policy_row(ratios=(1.5, 1.0, 0.7), adv=(1.0, 2.0, 5.0), mask=(True, True, False)), hint=MASK_HINT,
             want=(-1.6,), stats={"clipfrac": 0.5, "approx_kl": 0.04726744595, "ratio_mean": 1.25}),
        Case(name="worked by hand: clip_eps=None switches clipping off",
             args=_policy_row(ratios=(1.5, 0.5), adv=(2.0, -1.0), clip_eps=None),
             hint="With clip_eps=None the loss is the plain −mean(A·r), used by the clipping ablation; the clip "
                  "fraction is then 0.",
             want=(-1.25,), stats={"clipfrac": 0.0}),
        Case(name="gradient worked by hand: zero outside the trust region in the advantage's favour",
             args=_policy_row(ratios=(1.5, 0.5, 0.5, 1.5), adv=(1.0, -1.0, 1.0, -1.0)),
             hint="Tokens already past the trust region in the direction A favours get NO gradient (their clipped "
                  "term is a constant); the others get ∂loss/∂log π = −A·r/N. All zero? Then log π was detached or "
                  "turned into a number.",
             want=(0.15,), grad=(0,), want_grad=(_t([[0.0, 0.0, -0.125, 0.375]]),), const=(1,)),
    ]


def _policy_random() -> list[Case]:
    cases = []
    for seed, shape in enumerate([(3, 5), (1, 1), (4, 7), (2, 16)]):
        g = torch.Generator().manual_seed(seed)
        lp = -torch.rand(shape, generator=g, dtype=F64) * 5                 # (B, T) log π ≤ 0
        args = (lp, lp + _rand(g, shape, F64, 0.3), _rand(g, shape, F64), _mask(g, shape), (0.1, 0.2, 0.3, 0.2)[seed])
        cases.append(Case(name=f"random {shape[0]}×{shape[1]} batch with a random mask (seed {seed})", args=args,
                          hint="Compare with the worked cases above: sign, clip, max, mask.", grad=(0,), const=(1,)))
    return cases


def _policy_padded(g) -> list[Case]:
    lp, mask = -torch.rand(4, 6, generator=g, dtype=F64) * 5, _mask(g, (4, 6))   # (B, T)
    old, adv = lp + _rand(g, (4, 6), F64, 0.3), _rand(g, (4, 6), F64)
    garbage = Case(name="garbage in padded positions must not change anything",
                   args=(_garble(lp, mask, g, -20, 0), _garble(old, mask, g, -20, 0), _garble(adv, mask, g, -10, 10),
                         mask, 0.2),
                   hint=MASK_HINT, grad=(0,), const=(1,))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    padded_row = Case(name="a batch with one fully padded row",
                      args=(_garble(lp[:3, :4], mask, g, -20, 0), old[:3, :4], _garble(adv[:3, :4], mask, g, -10, 10),
                            mask, 0.2),
                      hint=MASK_HINT, grad=(0,))
    return [garbage, padded_row]


def _policy_hostile(g) -> list[Case]:
    lp = -1000 + _rand(g, (3, 8), F64, 0.3)                                  # (B, T)
    tiny = Case(name="very small log-probs (−1000, float32)",
                args=(lp.float(), (lp + _rand(g, (3, 8), F64, 0.3)).float(), _rand(g, (3, 8), F32),
                      torch.ones(3, 8, dtype=torch.bool), 0.2),
                hint="exp(−1000) underflows to 0, so π/π_old becomes 0/0 = NaN: compute the ratio as "
                     "exp(log π − log π_old), from the difference of log-probs.",
                grad=(0,))
    far = torch.where(torch.rand(3, 8, generator=g) < 0.5, 20.0, -20.0)     # (B, T) log r = ±20
    beyond = Case(name="ratios far outside the clip range (r = e^±20, float32)",
                  args=((-1.0 + far).float(), torch.full((3, 8), -1.0), _rand(g, (3, 8), F32),
                        torch.ones(3, 8, dtype=torch.bool), 0.2),
                  hint="Far outside the trust region only the unclipped term can grow; the clipped one stays at "
                       "A·(1 ± ε). Check which term the max keeps for each sign of A.",
                  grad=(0,))
    return [tiny, beyond]


def _policy_cases() -> list[Case]:
    g = torch.Generator().manual_seed(10)    # one stream for the padding and hostile cases, in this order
    return _policy_worked() + _policy_random() + _policy_padded(g) + _policy_hostile(g)


# ====================================================================== value_loss


VALUE_CLIP_HINT = ("v_clip = V_old + clip(V − V_old, −ε_v, ε_v); the loss is ½·mean over valid tokens of the LARGER "
                   "(pessimistic) of (V − R)² and (v_clip − R)².")


def _value_row(values, old, returns, mask=None, clip_eps=0.2) -> tuple:
    """value_loss's arguments for one row of tokens: new values V, the rollout's V_old and the returns R;
    `mask`: which tokens are valid (default: all)."""
    n = len(values)
    return _t([values]), _t([old]), _t([returns]), _ones(n) if mask is None else _t([mask], torch.bool), clip_eps


def _value_worked() -> list[Case]:
    return [
        Case(name="worked by hand: V_old = 0, R = 2, ε_v = 0.2, V = 1 (clipped) and V_old = 0, R = 1, V = 0.1",
             args=_value_row(values=(1.0, 0.1), old=(0.0, 0.0), returns=(2.0, 1.0)), hint=VALUE_CLIP_HINT,
             want=(1.0125,), stats={"vf_clipfrac": 0.5}),
        Case(name="worked by hand: the clip is centred on V_old (V_old = 1, V = 1.5, R = 3)",
             args=_value_row(values=(1.5,), old=(1.0,), returns=(3.0,)),
             hint="Clip the CHANGE V − V_old, then add it back to V_old; do not clip V itself to [−ε_v, ε_v].",
             want=(1.62,)),
        Case(name="worked by hand: a padded token must not count",
             args=_value_row(values=(1.0, 3.0), old=(1.0, 3.0), returns=(0.0, 0.0), mask=(True, False)),
             hint=MASK_HINT, want=(0.5,)),
        Case(name="worked by hand: clip_eps_value=None gives the plain ½·mean((V − R)²)",
             args=_value_row(values=(1.0, 3.0), old=(10.0, -10.0), returns=(0.0, 1.0), clip_eps=None),
             hint="With clip_eps_value=None there is no clipping and V_old is not used; the clip fraction is then 0.",
             want=(1.25,), stats={"vf_clipfrac": 0.0}),
        Case(name="gradient worked by hand: no gradient where the clipped error is the larger",
             args=_value_row(values=(1.0, 0.1), old=(0.0, 0.0), returns=(2.0, 1.0)),
             hint="Where (v_clip − R)² wins, v_clip is pinned at V_old ± ε_v, so V gets no gradient; elsewhere "
                  "∂loss/∂V = (V − R)/N. All zero? Then V was detached. V_old and R come from the rollout: use V_old "
                  "in the same way everywhere, so that no gradient leaks into it.",
             want=(1.0125,), grad=(0,), want_grad=(_t([[0.0, -0.45]]),), const=(1, 2)),
    ]


def _value_random() -> list[Case]:
    cases = []
    for seed, shape in enumerate([(3, 5), (1, 1), (4, 7), (2, 16)]):
        g = torch.Generator().manual_seed(seed)
        v = _rand(g, shape, F64)                                             # (B, T)
        args = (v, v + _rand(g, shape, F64, 0.3), _rand(g, shape, F64, 2.0), _mask(g, shape),
                (0.1, 0.2, 0.5, None)[seed])
        cases.append(Case(name=f"random {shape[0]}×{shape[1]} batch with a random mask (seed {seed})", args=args,
                          hint=VALUE_CLIP_HINT, grad=(0,), const=(1, 2)))
    return cases


def _value_padded_and_hostile() -> list[Case]:
    g = torch.Generator().manual_seed(10)
    v, mask = _rand(g, (4, 6), F64), _mask(g, (4, 6))                         # (B, T)
    garbage = Case(name="garbage in padded positions must not change anything",
                   args=(_garble(v, mask, g, -50, 50), _garble(v + 0.1, mask, g, -50, 50),
                         _garble(v - 1, mask, g, -50, 50), mask, 0.2),
                   hint=MASK_HINT, grad=(0,), const=(1, 2))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2] = False
    padded_row = Case(name="a batch with one fully padded row",
                      args=(v[:3, :4], _garble(v[:3, :4] + 0.3, mask, g, -50, 50), v[:3, :4] - 1, mask, 0.2),
                      hint=MASK_HINT, grad=(0,), const=(1, 2))
    v = _rand(g, (3, 8), F32, 1e4)                                            # (B, T)
    large = Case(name="values of size 1e4, far outside ε_v (float32)",
                 args=(v, v + _rand(g, (3, 8), F32, 1e3), _rand(g, (3, 8), F32, 1e4),
                       torch.ones(3, 8, dtype=torch.bool), 0.2),
                 hint=VALUE_CLIP_HINT, grad=(0,))
    return [garbage, padded_row, large]


def _value_cases() -> list[Case]:
    return _value_worked() + _value_random() + _value_padded_and_hostile()


# ====================================================================== gae


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


BATTERIES = {"policy_loss": _policy_cases, "value_loss": _value_cases, "entropy": _entropy_cases,
             "kl_per_token": _kl_cases, "ppo_loss": _ppo_cases}


__all__ = ["BATTERIES", "NAN_HINT", "VALUE_CLIP_HINT"]
