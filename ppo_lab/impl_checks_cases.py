"""The batteries of `check_impl` for notebooks 02–04 (gae, value_loss, policy_loss), and what a case is.

Each `Case` names what it tests, the arguments of one call (in the order of the package function's arguments)
and a hint for when it fails, always by keyword: cases worked by hand (with their expected outputs, stats and
gradients), random shapes and masks, garbage in padded positions, and numerically hostile inputs.
`impl_checks` runs them; the batteries of notebooks 05–06 are in `impl_checks_cases_05_06`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

F64, F32, INF = torch.float64, torch.float32, math.inf
MASK_HINT = ("Padded tokens (mask=False) must not count: average over valid tokens only, "
             "Σ(x·mask)/Σmask, never .mean() over every entry.")


@dataclass(kw_only=True)
class Case:
    """One check of a learner's engine function; built by keyword, so that each case reads as what it tests."""
    name: str                     # what the learner reads when it fails
    args: tuple                   # in the order of the package function's arguments
    hint: str                     # shown when the case fails
    want: tuple | None = None     # outputs worked by hand; None: the package's own outputs
    stats: dict | None = None     # stats worked by hand
    grad: tuple = ()              # arguments that carry gradient in training: ∂/∂ must match
    want_grad: tuple | None = None  # those gradients worked by hand
    const: tuple = ()             # rollout constants: their gradient must be 0 (or the package's)


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


# ====================================================================== policy_loss
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


BATTERIES = {"gae": _gae_cases, "value_loss": _value_cases, "policy_loss": _policy_cases}
