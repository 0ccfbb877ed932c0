"""Build it yourself: check your own engine function against the package's (notebooks 02–06).

    lab.exercises.check_impl("policy_loss", my_policy_loss)

Your function takes the same arguments as the package's (`lab.losses.policy_loss`, ...) and returns
the same things. It runs on a battery of cases: worked by hand, random shapes and masks, garbage in
padded positions, numerically hostile inputs and gradients. Each failed case prints what was
expected, what came back and a hint, never the solution. A passing function can replace the
package's in training: `lab.train(config, overrides={"policy_loss": my_policy_loss})`.

Each call of the learner's function has a time limit (`TIME_LIMIT_S`, or `time_limit=`): one that does not
return in time is reported, never waited for forever. See `call_with_limit` for how, per platform.
"""
from __future__ import annotations

import inspect
import math
import signal
import threading
import time
from dataclasses import dataclass

import torch

from .trainer import ENGINE_FUNCTIONS

F64, F32, INF = torch.float64, torch.float32, math.inf
STATS = {"clipfrac": "fraction of valid tokens with |r − 1| > ε (0 when clip_eps is None)",
         "approx_kl": "mean over valid tokens of (r − 1) − log r",
         "ratio_mean": "mean of r over valid tokens",
         "vf_clipfrac": "fraction of valid tokens where (v_clip − R)² is strictly larger than (V − R)²"}
MASK_HINT = ("Padded tokens (mask=False) must not count: average over valid tokens only, "
             "Σ(x·mask)/Σmask, never .mean() over every entry.")


@dataclass
class Case:
    name: str                     # what the learner reads when it fails
    args: tuple                   # in the order of the package function's arguments
    hint: str
    want: tuple | None = None     # outputs worked by hand; None: the package's own outputs
    stats: dict | None = None     # stats worked by hand
    grad: tuple = ()              # arguments that carry gradient in training: ∂/∂ must match
    want_grad: tuple | None = None  # those gradients worked by hand
    const: tuple = ()             # rollout constants: their gradient must be 0 (or the package's)


class _Fail(Exception):
    """One failed case: what went wrong (expected vs got). `general`: not about this case's maths, so its
    message stands without the case's hint (a result of the wrong type, stats, inputs changed in place)."""

    def __init__(self, message: str, general: bool = False):
        super().__init__(message)
        self.general = general


def _t(x, dtype=F64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def _ones(n: int) -> torch.Tensor:
    return torch.ones(1, n, dtype=torch.bool)                       # (1, T) every token valid


def _zeros(n: int) -> torch.Tensor:
    return torch.zeros(1, n, dtype=F64)                             # (1, T)


def _lp(*ratios) -> torch.Tensor:
    """log π for the given ratios when log π_old = 0."""
    return torch.log(_t([ratios]))                                  # (1, T)


def _rand(gen, shape, dtype, scale=1.0) -> torch.Tensor:
    return (torch.randn(shape, generator=gen, dtype=F64) * scale).to(dtype)


def _mask(gen, shape, prefix=False) -> torch.Tensor:
    """Random valid tokens, at least one per batch; `prefix`: each row is its response then padding."""
    if prefix:
        lengths = torch.randint(0, shape[1] + 1, (shape[0],), generator=gen)  # (B,)
        lengths[0] = shape[1]
        return torch.arange(shape[1])[None, :] < lengths[:, None]           # (B, T)
    mask = torch.rand(shape, generator=gen) < 0.7                            # (B, T)
    mask.view(-1)[0] = True
    return mask


def _garble(x, mask, gen, low, high) -> torch.Tensor:
    """x with its padded positions replaced by garbage in [low, high]."""
    mask = mask if mask.dim() == x.dim() else mask[..., None].expand_as(x)
    junk = (low + (high - low) * torch.rand(x.shape, generator=gen, dtype=F64)).to(x.dtype)
    return torch.where(mask, x, junk)


# ====================================================================== the batteries
def _policy_cases() -> list[Case]:
    cases = [
        Case("worked by hand: ratio 1 (the first minibatch), so nothing is clipped",
             (_lp(1, 1, 1), _zeros(3), _t([[3.0, -1.0, 0.5]]), _ones(3), 0.2),
             "At r = 1 the loss is simply −mean(A): a loss is the negated objective. If this fails, check the "
             "sign, and that you clip the ratio r, not the advantage A.",
             want=(-0.8333333333,), stats={"clipfrac": 0.0, "approx_kl": 0.0, "ratio_mean": 1.0}),
        Case("worked by hand: A > 0 with r below the trust region, A < 0 with r above it",
             (_lp(0.5, 1.5), _zeros(2), _t([[1.0, -1.0]]), _ones(2), 0.2),
             "Here the pessimistic bound picks the UNclipped term. L_clip = min(r·A, clip(r)·A), and the package "
             "minimises the loss −L_clip; since −min(x, y) = max(−x, −y), take the max of the negated terms.",
             want=(0.5,), stats={"clipfrac": 1.0, "approx_kl": 0.14384103623, "ratio_mean": 1.0}),
        Case("worked by hand: r beyond the trust region in the direction A favours is clipped",
             (_lp(1.5, 0.5), _zeros(2), _t([[2.0, -1.0]]), _ones(2), 0.2),
             "For A > 0 and r > 1 + ε a token contributes −A·(1 + ε) however large r grows (for A < 0 and "
             "r < 1 − ε, −A·(1 − ε)): clip r to [1 − ε, 1 + ε], then multiply by A; keep the max of the negated terms."),
        Case("worked by hand: a padded token must not count", (_lp(1.5, 1.0, 0.7), _zeros(3), _t([[1.0, 2.0, 5.0]]),
             _t([[True, True, False]], torch.bool), 0.2), MASK_HINT, want=(-1.6,),
             stats={"clipfrac": 0.5, "approx_kl": 0.04726744595, "ratio_mean": 1.25}),
        Case("worked by hand: clip_eps=None switches clipping off", (_lp(1.5, 0.5), _zeros(2), _t([[2.0, -1.0]]), _ones(2),
             None), "With clip_eps=None the loss is the plain −mean(A·r), used by the clipping ablation; the "
             "clip fraction is then 0.", want=(-1.25,), stats={"clipfrac": 0.0}),
        Case("gradient worked by hand: zero outside the trust region in the advantage's favour",
             (_lp(1.5, 0.5, 0.5, 1.5), _zeros(4), _t([[1.0, -1.0, 1.0, -1.0]]), _ones(4), 0.2),
             "Tokens already past the trust region in the direction A favours get NO gradient (their clipped term "
             "is a constant); the others get ∂loss/∂log π = −A·r/N. All zero? Then log π was detached or turned "
             "into a number.", want=(0.15,), grad=(0,), want_grad=(_t([[0.0, 0.0, -0.125, 0.375]]),), const=(1,)),
    ]
    for seed, shape in enumerate([(3, 5), (1, 1), (4, 7), (2, 16)]):
        g = torch.Generator().manual_seed(seed)
        lp = -torch.rand(shape, generator=g, dtype=F64) * 5                 # (B, T) log π ≤ 0
        cases.append(Case(f"random {shape[0]}×{shape[1]} batch with a random mask (seed {seed})",
                          (lp, lp + _rand(g, shape, F64, 0.3), _rand(g, shape, F64), _mask(g, shape),
                           (0.1, 0.2, 0.3, 0.2)[seed]), "Compare with the worked cases above: sign, clip, max, mask.",
                          grad=(0,), const=(1,)))
    g = torch.Generator().manual_seed(10)
    lp, mask = -torch.rand(4, 6, generator=g, dtype=F64) * 5, _mask(g, (4, 6))
    old, adv = lp + _rand(g, (4, 6), F64, 0.3), _rand(g, (4, 6), F64)
    cases.append(Case("garbage in padded positions must not change anything",
                      (_garble(lp, mask, g, -20, 0), _garble(old, mask, g, -20, 0), _garble(adv, mask, g, -10, 10),
                       mask, 0.2), MASK_HINT, grad=(0,), const=(1,)))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    cases.append(Case("a batch with one fully padded row", (_garble(lp[:3, :4], mask, g, -20, 0), old[:3, :4],
                      _garble(adv[:3, :4], mask, g, -10, 10), mask, 0.2), MASK_HINT, grad=(0,)))
    lp = -1000 + _rand(g, (3, 8), F64, 0.3)
    cases.append(Case("very small log-probs (−1000, float32)", (lp.float(), (lp + _rand(g, (3, 8), F64, 0.3)).float(),
                      _rand(g, (3, 8), F32), torch.ones(3, 8, dtype=torch.bool), 0.2),
                      "exp(−1000) underflows to 0, so π/π_old becomes 0/0 = NaN: compute the ratio as "
                      "exp(log π − log π_old), from the difference of log-probs.", grad=(0,)))
    far = torch.where(torch.rand(3, 8, generator=g) < 0.5, 20.0, -20.0)     # (B, T) log r = ±20
    cases.append(Case("ratios far outside the clip range (r = e^±20, float32)",
                      ((-1.0 + far).float(), torch.full((3, 8), -1.0), _rand(g, (3, 8), F32),
                       torch.ones(3, 8, dtype=torch.bool), 0.2),
                      "Far outside the trust region only the unclipped term can grow; the clipped one stays at "
                      "A·(1 ± ε). Check which term the max keeps for each sign of A.", grad=(0,)))
    return cases


def _value_cases() -> list[Case]:
    clip_hint = ("v_clip = V_old + clip(V − V_old, −ε_v, ε_v); the loss is ½·mean over valid tokens of the LARGER "
                 "(pessimistic) of (V − R)² and (v_clip − R)².")
    cases = [
        Case("worked by hand: V_old = 0, R = 2, ε_v = 0.2, V = 1 (clipped) and V_old = 0, R = 1, V = 0.1",
             (_t([[1.0, 0.1]]), _t([[0.0, 0.0]]), _t([[2.0, 1.0]]), _ones(2), 0.2), clip_hint,
             want=(1.0125,), stats={"vf_clipfrac": 0.5}),
        Case("worked by hand: the clip is centred on V_old (V_old = 1, V = 1.5, R = 3)",
             (_t([[1.5]]), _t([[1.0]]), _t([[3.0]]), _ones(1), 0.2),
             "Clip the CHANGE V − V_old, then add it back to V_old; do not clip V itself to [−ε_v, ε_v].",
             want=(1.62,)),
        Case("worked by hand: a padded token must not count", (_t([[1.0, 3.0]]), _t([[1.0, 3.0]]), _t([[0.0, 0.0]]),
             _t([[True, False]], torch.bool), 0.2), MASK_HINT, want=(0.5,)),
        Case("worked by hand: clip_eps_value=None gives the plain ½·mean((V − R)²)",
             (_t([[1.0, 3.0]]), _t([[10.0, -10.0]]), _t([[0.0, 1.0]]), _ones(2), None),
             "With clip_eps_value=None there is no clipping and V_old is not used; the clip fraction is then 0.",
             want=(1.25,), stats={"vf_clipfrac": 0.0}),
        Case("gradient worked by hand: no gradient where the clipped error is the larger",
             (_t([[1.0, 0.1]]), _t([[0.0, 0.0]]), _t([[2.0, 1.0]]), _ones(2), 0.2),
             "Where (v_clip − R)² wins, v_clip is pinned at V_old ± ε_v, so V gets no gradient; elsewhere "
             "∂loss/∂V = (V − R)/N. All zero? Then V was detached. V_old and R come from the rollout: use V_old "
             "in the same way everywhere, so that no gradient leaks into it.",
             want=(1.0125,), grad=(0,), want_grad=(_t([[0.0, -0.45]]),), const=(1, 2)),
    ]
    for seed, shape in enumerate([(3, 5), (1, 1), (4, 7), (2, 16)]):
        g = torch.Generator().manual_seed(seed)
        v = _rand(g, shape, F64)
        cases.append(Case(f"random {shape[0]}×{shape[1]} batch with a random mask (seed {seed})",
                          (v, v + _rand(g, shape, F64, 0.3), _rand(g, shape, F64, 2.0), _mask(g, shape),
                           (0.1, 0.2, 0.5, None)[seed]), clip_hint, grad=(0,), const=(1, 2)))
    g = torch.Generator().manual_seed(10)
    v, mask = _rand(g, (4, 6), F64), _mask(g, (4, 6))
    cases.append(Case("garbage in padded positions must not change anything",
                      (_garble(v, mask, g, -50, 50), _garble(v + 0.1, mask, g, -50, 50),
                       _garble(v - 1, mask, g, -50, 50), mask, 0.2), MASK_HINT, grad=(0,), const=(1, 2)))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2] = False
    cases.append(Case("a batch with one fully padded row", (v[:3, :4], _garble(v[:3, :4] + 0.3, mask, g, -50, 50),
                      v[:3, :4] - 1, mask, 0.2), MASK_HINT, grad=(0,), const=(1, 2)))
    v = _rand(g, (3, 8), F32, 1e4)
    cases.append(Case("values of size 1e4, far outside ε_v (float32)", (v, v + _rand(g, (3, 8), F32, 1e3),
                      _rand(g, (3, 8), F32, 1e4), torch.ones(3, 8, dtype=torch.bool), 0.2), clip_hint, grad=(0,)))
    return cases


def _entropy_cases() -> list[Case]:
    l3, l2 = math.log(3), math.log(2)
    nan_hint = ("A token with p = 0 contributes 0·log 0 = 0, never NaN: take log p from torch.log_softmax (not the "
                "log of a softmax) and make sure p·log p is 0 wherever p is 0.")
    cases = [
        Case("worked by hand: uniform over 4 tokens (S = log 4) and p = (3, 1, 2, 2)/8",
             (_t([[[0.0, 0, 0, 0], [l3, 0, l2, l2]]]), torch.ones(1, 2, dtype=torch.bool)),
             "S = −Σ_v p_v log p_v: SUM over the vocabulary, then average over the valid tokens.",
             want=(1.3535913521,)),
        Case("worked by hand: a padded token must not count", (_t([[[0.0, 0, 0, 0], [l3, 0, l2, l2], [0, 50, -50, 3]]]),
             _t([[True, True, False]], torch.bool)), MASK_HINT, want=(1.3535913521,)),
        Case("worked by hand: peaked logits of ±1e4 (float32)",
             (_t([[[1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, -1e4]]], F32), torch.ones(1, 2, dtype=torch.bool)),
             nan_hint, want=(0.3465735903,)),
        Case("worked by hand: logits of −inf (banned tokens)", (_t([[[0.0, 0, -INF, -INF]]], F32),
             torch.ones(1, 1, dtype=torch.bool)), nan_hint, want=(0.6931471806,)),
    ]
    for seed, (shape, dtype) in enumerate([((3, 5, 7), F32), ((1, 1, 2), F64), ((2, 6, 50), F32), ((4, 3, 11), F64)]):
        g = torch.Generator().manual_seed(seed)
        cases.append(Case(f"random {'×'.join(map(str, shape))} logits, {str(dtype)[6:]}, random mask (seed {seed})",
                          (_rand(g, shape, dtype, 3.0), _mask(g, shape[:2])),
                          "S = −Σ_v p_v log p_v per token, averaged over valid tokens.", grad=(0,)))
    g = torch.Generator().manual_seed(10)
    mask = _mask(g, (3, 5))
    cases.append(Case("garbage in padded positions must not change anything",
                      (_garble(_rand(g, (3, 5, 9), F32, 3.0), mask, g, -1e3, 1e3), mask), MASK_HINT, grad=(0,)))
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0] = False
    cases.append(Case("a batch with one fully padded row", (_rand(g, (3, 4, 6), F32), mask), MASK_HINT, grad=(0,)))
    return cases


def _kl_cases() -> list[Case]:
    lp, ref = _t([[-1.0, -2.0]]), _t([[-1.5, -1.0]])
    k1_hint = "KL(π ‖ π_ref) per token: k1 = log π − log π_ref, the policy's log-prob first (k1 may be negative)."
    k3_hint = "k3 = (r − 1) − log r with r = π_ref/π = exp(log π_ref − log π): the reference over the policy; k3 ≥ 0."
    cases = [Case("worked by hand: k1", (lp, ref, "k1"), k1_hint, want=(_t([[0.5, -1.0]]),)),
             Case("worked by hand: k3", (lp, ref, "k3"), k3_hint, want=(_t([[0.1065306597, 0.7182818285]]),)),
             Case("worked by hand: π = π_ref gives 0", (lp, lp.clone(), "k3"), k3_hint, want=(_t([[0.0, 0.0]]),))]
    small = ("exp(−150) underflows to 0 in float32, so π/π_ref becomes 0/0: work with differences of log-probs, "
             "never with the probabilities themselves.")
    cases += [Case(f"very small log-probs (−150 vs −160, float32): {est}", (_t([[-150.0]], F32), _t([[-160.0]], F32),
                   est), small, want=(_t([[v]]),)) for est, v in (("k1", 10.0), ("k3", 9.0000453999))]
    for seed, (shape, est) in enumerate([((3, 5), "k1"), ((3, 5), "k3"), ((1, 1), "k3"), ((4, 9), "k1")]):
        g = torch.Generator().manual_seed(seed)
        lp = -torch.rand(shape, generator=g, dtype=F64) * 6
        cases.append(Case(f"random {shape[0]}×{shape[1]} log-probs, {est} (seed {seed})",
                          (lp, lp + _rand(g, shape, F64, 0.5), est), k1_hint if est == "k1" else k3_hint,
                          grad=(0,), const=(1,)))
    return cases


def _ppo_cases() -> list[Case]:
    sign = ("The loss to minimise is −(L_clip − c1·L_VF + c2·S); pg_loss is already −L_clip, so it is "
            "pg_loss + c1·vf_loss − c2·S. Keep every term a tensor: .item() or float() cuts its gradient.")
    cases = [Case("worked by hand: pg_loss 0.5, vf_loss 2, S 3, c1 0.1, c2 0.01", (_t(0.5), _t(2.0), _t(3.0), 0.1, 0.01),
                  sign, want=(0.67,), grad=(0, 1, 2), want_grad=(_t(1.0), _t(0.1), _t(-0.01))),
             Case("worked by hand: no entropy term (S = 0 without gradient, c2 = 0)", (_t(0.5), _t(2.0), _t(0.0), 0.1, 0.0),
                  sign, want=(0.7,), grad=(0, 1), want_grad=(_t(1.0), _t(0.1)))]
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        terms = _rand(g, (3,), F64, 3.0)
        cases.append(Case(f"random terms and coefficients ({i + 1})", (*terms.unbind(), 10 ** (i - 1), 0.05 * i),
                          sign, grad=(0, 1, 2)))
    return cases


def _gae_cases() -> list[Case]:
    pad_hint = ("After the last valid token the episode has ended: use V_{t+1} = 0 and A_{t+1} = 0 there (never "
                "bootstrap from padding), and give padded positions A = R = 0.")
    rec = "δ_t = r_t + γ·V_{t+1} − V_t, then backwards A_t = δ_t + γλ·A_{t+1} with A = 0 after the end; R_t = A_t + V_t."
    cases = [
        Case("worked by hand: γ = 1, λ = 1, V = 0: A_t is the sum of later rewards",
             (_t([[0.0, 0.0, 1.0]]), _t([[0.0, 0.0, 0.0]]), _ones(3), 1.0, 1.0), rec,
             want=(_t([[1.0, 1.0, 1.0]]), _t([[1.0, 1.0, 1.0]]))),
        Case("worked by hand: λ = 0 gives the one-step TD error", (_t([[0.0, 0.0, 1.0]]), _t([[0.5, 0.5, 0.5]]),
             _ones(3), 1.0, 0.0), rec, want=(_t([[0.0, 0.0, 0.5]]), _t([[0.5, 0.5, 1.0]]))),
        Case("worked by hand: γ = 0.9, λ = 0.95", (_t([[1.0, 0.0, 2.0]]), _t([[0.5, 1.0, 0.0]]), _ones(3), 0.9, 0.95),
             rec, want=(_t([[2.00705, 0.71, 2.0]]), _t([[2.50705, 1.71, 2.0]]))),
        Case("worked by hand: a response that ends before the last column", (_t([[0.0, 1.0, 5.0, 5.0]]),
             _t([[0.5, 0.5, 9.0, 9.0]]), _t([[True, True, False, False]], torch.bool), 1.0, 1.0), pad_hint,
             want=(_t([[0.5, 0.5, 0.0, 0.0]]), _t([[1.0, 1.0, 0.0, 0.0]]))),
    ]
    for seed, shape in enumerate([(4, 6), (2, 1), (3, 9)]):
        g = torch.Generator().manual_seed(seed)
        mask = _mask(g, shape, prefix=True)
        cases.append(Case(f"random {shape[0]}×{shape[1]} batch, responses of random length, garbage in the padding "
                          f"(seed {seed})", (_garble(_rand(g, shape, F32), mask, g, -9, 9),
                                             _garble(_rand(g, shape, F32), mask, g, -9, 9), mask,
                                             (1.0, 0.99, 0.9)[seed], (0.95, 1.0, 0.8)[seed]), pad_hint))
    g = torch.Generator().manual_seed(10)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1], mask[2, 3:] = False, False
    cases.append(Case("a batch with one fully padded row", (_garble(_rand(g, (3, 5), F32), mask, g, -9, 9),
                      _garble(_rand(g, (3, 5), F32), mask, g, -9, 9), mask, 1.0, 0.95), pad_hint))
    cases.append(Case("a long response (64 tokens, γ = λ = 1)", (_rand(g, (2, 64), F64), _rand(g, (2, 64), F64),
                      torch.ones(2, 64, dtype=torch.bool), 1.0, 1.0), rec))
    return cases


BATTERIES = {"gae": _gae_cases, "value_loss": _value_cases, "policy_loss": _policy_cases, "entropy": _entropy_cases,
             "kl_per_token": _kl_cases, "ppo_loss": _ppo_cases}


# ====================================================================== running one case
def _show(x: torch.Tensor, at=None) -> str:
    """A short excerpt of a tensor: a number, or its first values (and the first difference)."""
    x = x.detach().double()
    if x.dim() == 0:
        return f"{x.item():.6g}"
    flat = ", ".join(f"{v:.4g}" for v in x.flatten()[:6].tolist())
    more = ", …" if x.numel() > 6 else ""
    where = f" (first difference at {list(at)}: {x[tuple(at)].item():.6g})" if at is not None else ""
    return f"[{flat}{more}] shape {tuple(x.shape)}{where}"


def _compare(label: str, got, want: torch.Tensor, literal: bool, low: bool = False) -> None:
    """Raise _Fail unless `got` is a tensor of want's shape holding the same numbers.

    The tolerance fits the precision of the sums: float32 when either side is (`low`: the learner's function
    returned float32 results, so even its gradients w.r.t. float64 inputs carry float32 rounding)."""
    if not isinstance(got, torch.Tensor):
        raise _Fail(f"{label}: expected a tensor, got {type(got).__name__} {got!r:.60}. Keep results as tensors "
                    "(a Python number carries no gradient).", general=True)
    if got.shape != want.shape:
        raise _Fail(f"{label}: expected shape {tuple(want.shape)}, got shape {tuple(got.shape)}")
    low = low or want.dtype != F64 or got.dtype != F64
    rtol, atol = (1e-6, 1e-6) if literal else (1e-4, 1e-5) if low else (1e-7, 1e-9)
    got, want = got.detach().double(), want.detach().double()
    ok = torch.isclose(got, want, rtol=rtol, atol=atol) | (torch.isinf(want) & (got == want))
    if not bool(ok.all()):
        at = (~ok).nonzero()[0].tolist() if got.dim() else None
        nan = " (NaN: something like 0·∞, ∞ − ∞ or log 0 happened)" if bool(torch.isnan(got).any()) else ""
        raise _Fail(f"{label}: expected {_show(want, at)}, got {_show(got, at)}{nan}")


def _results(name: str, out) -> tuple[dict, dict | None]:
    """The tensors (and stats) a function returns, by name; raise _Fail if the result is shaped wrong."""
    if name in ("policy_loss", "value_loss"):
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise _Fail(f"expected a pair (loss, stats) with stats a dict, got {type(out).__name__}", general=True)
        return {"loss": out[0]}, out[1]
    if name == "gae":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise _Fail(f"expected a pair (advantages, returns), got {type(out).__name__}", general=True)
        return {"advantages": out[0], "returns": out[1]}, None
    return {"KL per token" if name == "kl_per_token" else name: out}, None


def _compare_stats(stats: dict, want: dict, literal: dict | None) -> None:
    for key in want:
        value = stats.get(key)
        if isinstance(value, torch.Tensor) or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Fail(f"stats[{key!r}]: expected a Python float ({STATS[key]}), got "
                        f"{'nothing' if value is None else type(value).__name__}. The trainer logs it; use "
                        ".item() (a tensor would also keep the autograd graph alive).", general=True)
        if literal and key in literal and not math.isclose(value, literal[key], abs_tol=1e-6):
            raise _Fail(f"stats[{key!r}] ({STATS[key]}): expected {literal[key]:.6g}, got {value:.6g}")


def _call(fn, case: Case):
    """Run fn on fresh copies of the inputs; returns (results, gradients of the case's inputs, inputs)."""
    args = [a.clone().requires_grad_(i in case.grad + case.const) if isinstance(a, torch.Tensor) else a
            for i, a in enumerate(case.args)]
    out = fn(*args)
    grads = {}
    if case.grad:
        total = _results_sum(out)
        inputs = [args[i] for i in case.grad + case.const]
        if total is None or not total.requires_grad:
            grads = {i: torch.zeros_like(args[i]) for i in case.grad + case.const}
        else:
            found = torch.autograd.grad(total, inputs, allow_unused=True)
            grads = {i: torch.zeros_like(args[i]) if d is None else d
                     for i, d in zip(case.grad + case.const, found)}
    return out, grads, args


def _results_sum(out):
    first = out[0] if isinstance(out, tuple) else out
    return first.sum() if isinstance(first, torch.Tensor) else None


def _check_grads(case: Case, got: dict, want: dict, names: list[str], low: bool) -> None:
    for k, i in enumerate(case.grad):
        w = case.want_grad[k] if case.want_grad else want[i]
        if not bool(got[i].any()) and bool(w.any()):
            raise _Fail(f"no gradient reaches `{names[i]}`: it was detached or turned into a Python number "
                        "(.item(), float(), .detach(), .numpy()) somewhere on its way to the result")
        _compare(f"gradient of the result w.r.t. `{names[i]}`", got[i], w, case.want_grad is not None, low)
    for i in case.const:
        g, w = got[i].detach().double(), want[i].detach().double()
        if bool(g.any()) and not torch.allclose(g, w, rtol=1e-4, atol=1e-6):
            raise _Fail(f"gradient leaks into `{names[i]}`, which comes from the rollout and is a constant: "
                        f"expected 0 there (or {_show(w)}), got {_show(g)}")


def _run_case(name: str, fn, case: Case) -> None:
    """Raise _Fail with expected vs got if `fn` disagrees with the package on this case."""
    ref, names = ENGINE_FUNCTIONS[name], list(inspect.signature(ENGINE_FUNCTIONS[name]).parameters)
    ref_out, ref_grads, _ = _call(ref, case)
    try:
        out, grads, args = _call(fn, case)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 — the learner's code may raise anything: this case fails, with why
        raise _Fail(f"your function raised {type(e).__name__}: {e}") from None
    got, stats = _results(name, out)
    want, ref_stats = _results(name, ref_out)
    low = any(isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != F64 for x in got.values())
    for label, w in want.items():
        literal = case.want[list(want).index(label)] if case.want else None
        _compare(label, got[label], _t(literal, w.dtype) if isinstance(literal, float) else
                 literal if literal is not None else w, literal is not None, low)
    if ref_stats is not None:
        _compare_stats(stats, ref_stats, case.stats)
    _check_grads(case, grads, ref_grads, names, low)
    for i, (before, after) in enumerate(zip(case.args, args)):
        if isinstance(before, torch.Tensor) and not torch.equal(before, after.detach()):
            raise _Fail(f"your function changed its input `{names[i]}` in place, but the caller still needs it as it "
                        "was (the trainer logs the rewards after GAE, for one). Make new tensors (x = x + 1, "
                        "torch.where, .clone()) instead of writing into an input (x += 1, x[i] = …).", general=True)


# ====================================================================== the time limit
TIME_LIMIT_S = 10.0   # seconds `check` and `check_impl` wait for one call of a learner's function


class TimeUp(BaseException):
    """A learner's function ran past the time limit. A BaseException, so that an `except Exception:` in the
    learner's own loop cannot swallow it. `running`: the function could not be stopped and still runs."""

    def __init__(self, limit: float = TIME_LIMIT_S, running: bool = False):
        super().__init__(limit)
        self.limit, self.running = limit, running

    def message(self) -> str:
        text = (f"your function did not return within {self.limit:g} s: is there an infinite loop? "
                "(check stopped waiting)")
        return text + (" It is still running in the background: restart the kernel to stop it."
                       if self.running else "")


def call_with_limit(fn, args: tuple, limit: float | None):
    """fn(*args), or raise TimeUp when it has not returned within `limit` seconds (None: no limit).

    On the main thread of a Unix Python (Jupyter runs cells there) a SIGALRM timer (`signal.setitimer`)
    interrupts the function, and the previous SIGALRM handler and timer are put back afterwards (a timer
    already running, pytest-timeout's say, cannot fire during the call: it fires when the call ends if it
    was due). Elsewhere (Windows, or a thread other than the main one) the function runs in a worker thread
    that is waited for `limit` seconds; then CPython is asked to stop it (`PyThreadState_SetAsyncExc`: a
    pure-Python loop stops, one long C call does not), and TimeUp says whether it still runs.
    """
    if limit is None:
        return fn(*args)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return _call_with_alarm(fn, args, limit)
    return _call_in_thread(fn, args, limit)


def _call_with_alarm(fn, args: tuple, limit: float):
    def ring(signum, frame):
        raise TimeUp(limit)

    previous = signal.signal(signal.SIGALRM, ring)
    delay, interval = signal.setitimer(signal.ITIMER_REAL, limit)  # (delay, interval): a timer already set
    start = time.monotonic()
    try:
        return fn(*args)
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
            if delay > 0:  # give the earlier timer back what was left of it
                signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - start), 1e-3), interval)


def _call_in_thread(fn, args: tuple, limit: float):
    box, grad = {}, torch.is_grad_enabled()  # grad mode is per thread: the worker gets the caller's

    def work():
        try:
            with torch.set_grad_enabled(grad):
                box["out"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 — handed back to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=work, name="ppo_lab check", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise TimeUp(limit, running=not _stop(worker))
    if "error" in box:
        raise box["error"]
    return box["out"]


def _stop(worker: threading.Thread, wait: float = 1.0) -> bool:
    """Raise TimeUp inside `worker` at its next bytecode; True when it has stopped within `wait` seconds."""
    try:
        import ctypes
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(TimeUp))
    except (ImportError, AttributeError):  # not CPython: nothing can stop it
        return False
    worker.join(wait)
    return not worker.is_alive()


def limited(fn, limit: float | None):
    """`fn` with a time limit on each call (`call_with_limit`)."""
    return lambda *args: call_with_limit(fn, args, limit)


# ====================================================================== the public checker
def check_impl(name: str, fn, *, time_limit: float | None = TIME_LIMIT_S) -> bool:
    """Run `fn` through the battery for engine function `name`; print the verdict; True when all pass.

    `time_limit`: seconds each call of `fn` may take (None: no limit); see `call_with_limit`."""
    if name not in BATTERIES:
        raise KeyError(f"check_impl: {name!r} is not an engine function; valid: {sorted(BATTERIES)}")
    ref = ENGINE_FUNCTIONS[name]
    params = inspect.signature(ref).parameters.values()
    signature = f"{name}({', '.join(p.name if p.default is p.empty else f'{p.name}={p.default!r}' for p in params)})"
    where = f"lab.{ref.__module__.rsplit('.', 1)[-1]}.{name}"
    if fn is None:
        print(f"[{name}] not implemented yet: write `{signature}` and pass it in.")
        return False
    if not callable(fn):
        print(f"[{name}] expected a function `{signature}`, got {type(fn).__name__}.")
        return False
    cases = BATTERIES[name]()
    try:
        inspect.signature(fn).bind(*cases[0].args)
    except TypeError as e:
        print(f"[{name}] your function cannot be called the way the trainer calls it, `{signature}`: {e}.")
        return False
    except ValueError:  # no signature to inspect (a builtin): calling it will tell
        pass
    failures = _run_battery(name, limited(fn, time_limit), cases, signature)
    if failures is None:
        return False
    if not failures:
        print(f"[{name}] all {len(cases)} checks passed! Your function agrees with {where}. "
              f"Try it in training: lab.train(config, overrides={{'{name}': your_function}})")
        return True
    print(f"[{name}] {len(cases) - len(failures)} of {len(cases)} checks passed; {len(failures)} failed:")
    _report(failures)
    return False


def _run_battery(name: str, fn, cases: list[Case], signature: str) -> list | None:
    """The failed cases as (case, what went wrong, hint); None when the battery had to stop (said why)."""
    failures = []
    for case in cases:
        try:
            _run_case(name, fn, case)
        except NotImplementedError:
            print(f"[{name}] not implemented yet: your function raises NotImplementedError. Replace that line "
                  f"with your code (same arguments as `{signature}`) and run this cell again.")
            return None
        except TimeUp as e:
            print(f"[{name}] {e.message()}\n  it was running the case: {case.name}")
            return None
        except _Fail as e:
            failures.append((case, str(e), None if e.general else case.hint))
        except Exception as e:  # noqa: BLE001 — a result too strange to compare fails the case, never crashes
            failures.append((case, f"your result could not be checked: {type(e).__name__}: {e}", None))
    return failures


def _report(failures: list, most: int = 6) -> None:
    """Print each failed case with expected vs got and its hint; the same message or hint only once."""
    messages, hints, shown = set(), set(), 0
    for case, what, hint in failures:
        if what in messages or shown == most:
            continue
        messages.add(what)
        shown += 1
        print(f"  ✗ {case.name}\n      {what}")
        if hint:
            print(f"      hint: {'(as above)' if hint in hints else hint}")
            hints.add(hint)
    if len(failures) > shown:
        print(f"  … and {len(failures) - shown} more failed checks (the same message, or more of them); "
              "fix the ones above first.")
