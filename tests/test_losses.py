"""Tests for ppo_lab.maths.losses: hand-worked values, Hypothesis properties, padding invariance.

All hand-worked examples use float64 (except `entropy`, which computes in float32 by design)
so the arithmetic in the comments can be compared to tight tolerances.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.maths.losses import entropy, kl_per_token, masked_mean, masked_var, policy_loss, ppo_loss, value_loss

F64 = torch.float64
SETTINGS = settings(max_examples=50, deadline=None)


def t64(x):
    return torch.tensor(x, dtype=F64)


# ----------------------------------------------------------------------------------------------
# Hypothesis helpers
# ----------------------------------------------------------------------------------------------

@st.composite
def shapes_and_mask(draw, min_t: int = 1):
    """(B, T) with B in 1..4, T in 1..6, and a right-padded boolean mask (row lengths 0..T)."""
    B = draw(st.integers(1, 4))
    T = draw(st.integers(min_t, 6))
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return B, T, mask


def draw_tensor(draw, shape, lo, hi, dtype=F64):
    n = math.prod(shape)
    vals = draw(st.lists(st.floats(lo, hi, allow_nan=False, allow_infinity=False,
                                   allow_subnormal=False),
                         min_size=n, max_size=n))
    return torch.tensor(vals, dtype=dtype).reshape(shape)


def close(a, b, tol=1e-12):
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


# ----------------------------------------------------------------------------------------------
# masked_mean
# ----------------------------------------------------------------------------------------------

def test_masked_mean_by_hand():
    # x = [[1, 2, 100], [3, 50, 60]], mask = [[T, T, F], [T, F, F]]
    # valid values 1, 2, 3 -> sum 6, count 3 -> mean 2 (the 100, 50, 60 are ignored)
    x = t64([[1.0, 2.0, 100.0], [3.0, 50.0, 60.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert masked_mean(x, mask).item() == pytest.approx(2.0, abs=1e-15)


def test_masked_mean_no_valid_token_is_zero():
    x = t64([[1.0, 2.0]])
    mask = torch.tensor([[False, False]])
    assert masked_mean(x, mask).item() == 0.0


def test_masked_var_by_hand():
    # x = [[1, 2, nan], [3, 50, 60]], mask = [[T, T, F], [T, F, F]]
    # valid values 1, 2, 3 -> mean 2 -> squared deviations 1, 0, 1 -> var 2/3 (no Bessel correction);
    # the padded nan, 50 and 60 never leak in
    x = t64([[1.0, 2.0, float("nan")], [3.0, 50.0, 60.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert masked_var(x, mask).item() == pytest.approx(2.0 / 3.0, abs=1e-15)
    assert masked_var(t64([[4.0, 4.0]]), torch.tensor([[True, True]])).item() == 0.0


# ----------------------------------------------------------------------------------------------
# policy_loss: hand-worked
# ----------------------------------------------------------------------------------------------

def _policy_example():
    # eps = 0.2, so the trust range for the ratio is [0.8, 1.2].
    # token | ratio | A   | −A·ratio | −A·clip(ratio)   | max     | note
    #   0   | 1.5   | +2  | −3.0     | −2·1.2 = −2.4    | −2.4    | clipped (A>0, ratio>1.2)
    #   1   | 0.5   | +1  | −0.5     | −1·0.8 = −0.8    | −0.5    | outside range, NOT in A's favour -> unclipped
    #   2   | 0.9   | −1  | +0.9     | +0.9             | +0.9    | inside range
    #   3   | 7.0   | 100 |   –      |   –              |   –     | masked out (must be ignored)
    old = t64([[-1.0, -2.0, -0.5, -3.0]])
    ratios = t64([[1.5, 0.5, 0.9, 7.0]])
    logprobs = (old + torch.log(ratios)).requires_grad_(True)
    adv = t64([[2.0, 1.0, -1.0, 100.0]])
    mask = torch.tensor([[True, True, True, False]])
    return logprobs, old, adv, mask


def test_policy_loss_by_hand():
    logprobs, old, adv, mask = _policy_example()
    loss, stats = policy_loss(logprobs, old, adv, mask, clip_eps=0.2)
    # loss = (−2.4 − 0.5 + 0.9) / 3 = −2.0 / 3
    assert loss.item() == pytest.approx(-2.0 / 3.0, abs=1e-12)
    # clipfrac: |ratio − 1| > 0.2 for tokens 0 (0.5) and 1 (0.5), not token 2 (0.1) -> 2/3
    # (the fraction is computed in float32 via `.float()`, hence the looser tolerance)
    assert stats["clipfrac"] == pytest.approx(2.0 / 3.0, abs=1e-7)
    # approx_kl (k3) per token = (ratio − 1) − ln ratio:
    #   t0: 0.5 − ln 1.5 = 0.5 − 0.4054651081 = 0.0945348919
    #   t1: −0.5 − ln 0.5 = −0.5 + 0.6931471806 = 0.1931471806
    #   t2: −0.1 − ln 0.9 = −0.1 + 0.1053605157 = 0.0053605157
    #   mean = 0.2930425882 / 3 = 0.0976808627
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5)) + (-0.1 - math.log(0.9))) / 3
    assert stats["approx_kl"] == pytest.approx(expected_kl, abs=1e-12)
    assert stats["approx_kl"] == pytest.approx(0.0976808627, abs=1e-9)
    # ratio_mean = (1.5 + 0.5 + 0.9) / 3 = 0.9666...
    assert stats["ratio_mean"] == pytest.approx(2.9 / 3.0, abs=1e-12)
    assert all(isinstance(v, float) for v in stats.values())

    # Gradients d loss / d logprob (d ratio / d logprob = ratio):
    #   t0: clipped branch is constant -> 0
    #   t1: d(−A·ratio)/dlogp / 3 = −1·0.5 / 3 = −1/6
    #   t2: d(−A·ratio)/dlogp / 3 = +1·0.9 / 3 = 0.3
    #   t3: masked -> 0
    loss.backward()
    assert torch.allclose(logprobs.grad, t64([[0.0, -1.0 / 6.0, 0.3, 0.0]]), atol=1e-12)


def test_policy_loss_unclipped_by_hand():
    logprobs, old, adv, mask = _policy_example()
    loss, stats = policy_loss(logprobs, old, adv, mask, clip_eps=None)
    # No clip: (−3.0 − 0.5 + 0.9) / 3 = −2.6 / 3; nothing counts as clipped.
    assert loss.item() == pytest.approx(-2.6 / 3.0, abs=1e-12)
    assert stats["clipfrac"] == 0.0
    assert stats["ratio_mean"] == pytest.approx(2.9 / 3.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# value_loss: hand-worked
# ----------------------------------------------------------------------------------------------

def _value_example():
    # eps_v = 0.2
    # token | V_old | V   | R    | (V−R)² | v_clip = V_old + clip(V−V_old, ±0.2) | (v_clip−R)² | max  | clipped?
    #   0   | 1.0   | 1.5 | 2.0  | 0.25   | 1.0 + 0.2 = 1.2                      | 0.8² = 0.64 | 0.64 | yes
    #   1   | 1.0   | 1.5 | 0.0  | 2.25   | 1.2                                  | 1.2² = 1.44 | 2.25 | no
    #   2   | 0.0   | 0.1 | 1.0  | 0.81   | 0.1 (inside range)                   | 0.81        | 0.81 | no (tie)
    #   3   | 0.0   | 100 | −100 | masked out
    old = t64([[1.0, 1.0, 0.0, 0.0]])
    v = t64([[1.5, 1.5, 0.1, 100.0]])
    R = t64([[2.0, 0.0, 1.0, -100.0]])
    mask = torch.tensor([[True, True, True, False]])
    return v, old, R, mask


def test_value_loss_clipped_by_hand():
    v, old, R, mask = _value_example()
    loss, stats = value_loss(v, old, R, mask, clip_eps_value=0.2)
    # 0.5 · (0.64 + 2.25 + 0.81) / 3 = 0.5 · 3.70 / 3 = 0.616666...
    assert loss.item() == pytest.approx(0.5 * 3.70 / 3.0, abs=1e-12)
    # only token 0 takes the clipped branch -> 1/3
    # (computed in float32 via `.float()`, hence the looser tolerance)
    assert stats["vf_clipfrac"] == pytest.approx(1.0 / 3.0, abs=1e-7)
    assert isinstance(stats["vf_clipfrac"], float)


def test_value_loss_unclipped_by_hand():
    v, old, R, mask = _value_example()
    loss, stats = value_loss(v, old, R, mask, clip_eps_value=None)
    # 0.5 · (0.25 + 2.25 + 0.81) / 3 = 0.5 · 3.31 / 3 = 0.551666...
    assert loss.item() == pytest.approx(0.5 * 3.31 / 3.0, abs=1e-12)
    assert stats["vf_clipfrac"] == 0.0


# ----------------------------------------------------------------------------------------------
# entropy: hand-worked
# ----------------------------------------------------------------------------------------------

def test_entropy_by_hand():
    # V = 2, three tokens, the last one padded.
    #   t0 logits [0, 0]     -> p = [1/2, 1/2]  -> H = ln 2 = 0.6931471806
    #   t1 logits [ln 3, 0]  -> p = [3/4, 1/4]  -> H = −(0.75 ln 0.75 + 0.25 ln 0.25)
    #                                               = 0.75·0.2876820725 + 0.25·1.3862943611
    #                                               = 0.2157615543 + 0.3465735903 = 0.5623351446
    #   t2 logits [100, −100] (masked; H ≈ 0 would pull the mean down if it were counted)
    # mean over valid tokens = (0.6931471806 + 0.5623351446) / 2 = 0.6277411626
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [100.0, -100.0]]])
    mask = torch.tensor([[True, True, False]])
    h = entropy(logits, mask)
    assert h.dim() == 0
    assert h.item() == pytest.approx(0.6277411626, abs=1e-6)
    h_expected = (math.log(2) - (0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 2
    assert h.item() == pytest.approx(h_expected, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# kl_per_token: hand-worked
# ----------------------------------------------------------------------------------------------

def test_kl_by_hand():
    # π = [0.5, 0.25], π_ref = [0.25, 0.5]
    # k1 = log π − log π_ref = [ln 2, −ln 2] = [0.6931471806, −0.6931471806]
    # r = π_ref / π = [0.5, 2]
    # k3 = (r − 1) − ln r = [−0.5 + 0.6931471806, 1 − 0.6931471806] = [0.1931471806, 0.3068528194]
    lp = torch.log(t64([[0.5, 0.25]]))
    ref = torch.log(t64([[0.25, 0.5]]))
    k1 = kl_per_token(lp, ref, "k1")
    k3 = kl_per_token(lp, ref, "k3")
    assert k1.shape == lp.shape and k3.shape == lp.shape
    assert torch.allclose(k1, t64([[math.log(2), -math.log(2)]]), atol=1e-12)
    assert torch.allclose(k3, t64([[0.1931471806, 0.3068528194]]), atol=1e-9)
    # the default estimator is k1
    assert torch.equal(kl_per_token(lp, ref), k1)


def test_kl_unknown_estimator_raises_and_names_it():
    lp = t64([[-1.0]])
    with pytest.raises(ValueError, match="k2"):
        kl_per_token(lp, lp, "k2")
    with pytest.raises(ValueError, match="bogus_estimator"):
        kl_per_token(lp, lp, "bogus_estimator")


# ----------------------------------------------------------------------------------------------
# ppo_loss: hand-worked
# ----------------------------------------------------------------------------------------------

def test_ppo_loss_by_hand():
    # pg = −0.5, vf = 2.0, S = 1.5, c1 = 0.1, c2 = 0.01
    # loss = −0.5 + 0.1·2.0 − 0.01·1.5 = −0.5 + 0.2 − 0.015 = −0.315
    pg, vf, s = t64(-0.5), t64(2.0), t64(1.5)
    assert ppo_loss(pg, vf, s, vf_coef=0.1, ent_coef=0.01).item() == pytest.approx(-0.315, abs=1e-12)
    # the entropy bonus is subtracted: raising S lowers the loss
    assert ppo_loss(pg, vf, t64(2.5), 0.1, 0.01) < ppo_loss(pg, vf, s, 0.1, 0.01)
    # and it is differentiable in each input with the right coefficients
    pg_, vf_, s_ = (t64(x).requires_grad_(True) for x in (-0.5, 2.0, 1.5))
    ppo_loss(pg_, vf_, s_, 0.1, 0.01).backward()
    assert (pg_.grad.item(), vf_.grad.item(), s_.grad.item()) == pytest.approx((1.0, 0.1, -0.01))


# ----------------------------------------------------------------------------------------------
# policy_loss: properties
# ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), eps=st.floats(0.0, 0.5))
def test_policy_loss_at_ratio_one(data, eps):
    B, T, mask = data.draw(shapes_and_mask())
    lp = draw_tensor(data.draw, (B, T), -10.0, 0.0)
    adv = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    loss, stats = policy_loss(lp, lp.clone(), adv, mask, clip_eps=eps)
    assert close(loss, -masked_mean(adv, mask))
    assert stats["clipfrac"] == 0.0
    assert stats["approx_kl"] == 0.0
    assert stats["ratio_mean"] == (1.0 if mask.any() else 0.0)


@SETTINGS
@given(data=st.data(), eps=st.floats(0.05, 0.3))
def test_policy_loss_gradient_zero_when_clipped_in_favour(data, eps):
    B, T, mask = data.draw(shapes_and_mask())
    old = draw_tensor(data.draw, (B, T), -5.0, 0.0)
    log_ratio = draw_tensor(data.draw, (B, T), -1.0, 1.0)
    adv = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    lp = (old + log_ratio).requires_grad_(True)
    loss, _ = policy_loss(lp, old, adv, mask, clip_eps=eps)
    loss.backward()
    grad = lp.grad
    ratio = torch.exp(lp.detach() - old)
    n = max(int(mask.sum()), 1)

    # keep clear of the exact clip boundaries and of A ≈ 0 (ties make max() split its gradient)
    away = ((ratio - (1 + eps)).abs() > 1e-9) & ((ratio - (1 - eps)).abs() > 1e-9) & (adv.abs() > 1e-6)
    in_favour = ((adv > 0) & (ratio > 1 + eps)) | ((adv < 0) & (ratio < 1 - eps))
    inside = (ratio > 1 - eps) & (ratio < 1 + eps)

    sel = mask & away & in_favour
    assert torch.all(grad[sel] == 0.0)
    sel = mask & away & inside
    assert torch.all(grad[sel] != 0.0)
    # every unclipped valid token has the plain surrogate gradient −A·ratio / N
    sel = mask & away & ~in_favour
    assert torch.allclose(grad[sel], (-adv * ratio / n)[sel], rtol=1e-10, atol=1e-14)
    # padded tokens get no gradient at all
    assert torch.all(grad[~mask] == 0.0)


@SETTINGS
@given(data=st.data())
def test_policy_loss_without_clip_is_plain_surrogate(data):
    B, T, mask = data.draw(shapes_and_mask())
    old = draw_tensor(data.draw, (B, T), -5.0, 0.0)
    lp = old + draw_tensor(data.draw, (B, T), -2.0, 2.0)
    adv = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    loss, stats = policy_loss(lp, old, adv, mask, clip_eps=None)
    ratio = torch.exp(lp - old)
    assert close(loss, masked_mean(-adv * ratio, mask))
    assert stats["clipfrac"] == 0.0
    # clipping can only make the (pessimistic) loss larger or equal
    clipped_loss, _ = policy_loss(lp, old, adv, mask, clip_eps=0.2)
    assert clipped_loss.item() >= loss.item() - 1e-12


@SETTINGS
@given(data=st.data(), eps=st.one_of(st.none(), st.floats(0.0, 0.5)))
def test_policy_loss_ignores_padded_positions(data, eps):
    B, T, mask = data.draw(shapes_and_mask())
    old = draw_tensor(data.draw, (B, T), -5.0, 0.0)
    lp = old + draw_tensor(data.draw, (B, T), -2.0, 2.0)
    adv = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    # other values at the padded positions only; log-ratios up to ±2e4 there would overflow
    # exp() to inf (and inf·0 = NaN) if the padded log-ratio were not zeroed before exp()
    lp2 = torch.where(mask, lp, draw_tensor(data.draw, (B, T), -1e4, 1e4))
    old2 = torch.where(mask, old, draw_tensor(data.draw, (B, T), -1e4, 1e4))
    adv2 = torch.where(mask, adv, draw_tensor(data.draw, (B, T), -1e6, 1e6))

    lp_a, lp_b = lp.clone().requires_grad_(True), lp2.clone().requires_grad_(True)
    loss_a, stats_a = policy_loss(lp_a, old, adv, mask, eps)
    loss_b, stats_b = policy_loss(lp_b, old2, adv2, mask, eps)
    assert loss_a.item() == loss_b.item()
    assert stats_a == stats_b
    loss_a.backward()
    loss_b.backward()
    assert torch.equal(lp_a.grad, lp_b.grad)


# ----------------------------------------------------------------------------------------------
# value_loss: properties
# ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), eps=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_value_loss_matches_formula(data, eps):
    B, T, mask = data.draw(shapes_and_mask())
    v = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    old = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    R = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    loss, stats = value_loss(v, old, R, mask, eps)
    plain = 0.5 * masked_mean((v - R) ** 2, mask)
    if eps is None:
        assert close(loss, plain)
        assert stats["vf_clipfrac"] == 0.0
    else:
        vc = old + torch.clamp(v - old, -eps, eps)
        expected = 0.5 * masked_mean(torch.maximum((v - R) ** 2, (vc - R) ** 2), mask)
        assert close(loss, expected)
        assert loss.item() >= plain.item() - 1e-12
        assert 0.0 <= stats["vf_clipfrac"] <= 1.0


@SETTINGS
@given(data=st.data(), eps=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_value_loss_ignores_padded_positions(data, eps):
    B, T, mask = data.draw(shapes_and_mask())
    v = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    old = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    R = draw_tensor(data.draw, (B, T), -5.0, 5.0)
    v2 = torch.where(mask, v, draw_tensor(data.draw, (B, T), -1e3, 1e3))
    old2 = torch.where(mask, old, draw_tensor(data.draw, (B, T), -1e3, 1e3))
    R2 = torch.where(mask, R, draw_tensor(data.draw, (B, T), -1e3, 1e3))

    va, vb = v.clone().requires_grad_(True), v2.clone().requires_grad_(True)
    loss_a, stats_a = value_loss(va, old, R, mask, eps)
    loss_b, stats_b = value_loss(vb, old2, R2, mask, eps)
    assert loss_a.item() == loss_b.item()
    assert stats_a == stats_b
    loss_a.backward()
    loss_b.backward()
    assert torch.equal(va.grad, vb.grad)
    assert torch.all(va.grad[~mask] == 0.0)


# ----------------------------------------------------------------------------------------------
# entropy: properties
# ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), V=st.integers(1, 8))
def test_entropy_of_uniform_logits_is_log_v(data, V):
    B, T, mask = data.draw(shapes_and_mask())
    # every token's logits are one constant c (different per token) -> softmax is uniform
    c = draw_tensor(data.draw, (B, T, 1), -100.0, 100.0, dtype=torch.float32)
    logits = c.expand(B, T, V).clone()
    mask = mask.clone()
    mask[0, 0] = True  # at least one valid token (the mean over none is 0 by convention)
    h = entropy(logits, mask)
    assert h.item() == pytest.approx(math.log(V), rel=1e-5, abs=1e-6)


@SETTINGS
@given(data=st.data(), V=st.integers(1, 6))
def test_entropy_ignores_padded_positions(data, V):
    B, T, mask = data.draw(shapes_and_mask())
    logits = draw_tensor(data.draw, (B, T, V), -20.0, 20.0, dtype=torch.float32)
    other = draw_tensor(data.draw, (B, T, V), -1e4, 1e4, dtype=torch.float32)
    logits2 = torch.where(mask[..., None], logits, other)
    la, lb = logits.clone().requires_grad_(True), logits2.clone().requires_grad_(True)
    ha, hb = entropy(la, mask), entropy(lb, mask)
    assert ha.item() == hb.item()
    ha.backward()
    hb.backward()
    assert torch.equal(la.grad[mask], lb.grad[mask])
    assert torch.all(la.grad[~mask] == 0.0) and torch.all(lb.grad[~mask] == 0.0)
    # entropy lies in [0, log V]
    assert -1e-6 <= ha.item() <= math.log(V) + 1e-5


def test_entropy_gradient_finite_for_huge_logits():
    # ±1e4 logits: the softmax is exactly one-hot (or an exact 50/50 split) in float32.
    #   t0 [ 1e4, −1e4, −1e4] -> p = [1, 0, 0]      -> H = 0
    #   t1 [ 1e4,  1e4, −1e4] -> p = [1/2, 1/2, 0]  -> H = ln 2
    #   t2 [−1e4, −1e4,  1e4] -> p = [0, 0, 1]      -> H = 0
    # mean = ln 2 / 3 = 0.2310490602
    logits = torch.tensor([[[1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [-1e4, -1e4, 1e4]]],
                          requires_grad=True)
    mask = torch.tensor([[True, True, True]])
    h = entropy(logits, mask)
    assert torch.isfinite(h)
    assert h.item() == pytest.approx(math.log(2) / 3, abs=1e-6)
    h.backward()
    assert torch.isfinite(logits.grad).all()

    # and with half the tokens padded, in float64 and float16 input too
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        lg = (torch.tensor([[[1e4, -1e4], [-1e4, 1e4]]]) * 1.0).to(dtype).requires_grad_(True)
        h = entropy(lg, torch.tensor([[True, False]]))
        h.backward()
        assert torch.isfinite(h) and torch.isfinite(lg.grad).all()


# ----------------------------------------------------------------------------------------------
# kl_per_token: properties
# ----------------------------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), dtype=st.sampled_from([torch.float64, torch.float32]))
def test_k3_nonnegative_and_estimators_zero_when_equal(data, dtype):
    B, T, _ = data.draw(shapes_and_mask())
    lp = draw_tensor(data.draw, (B, T), -20.0, 0.0, dtype=dtype)
    ref = draw_tensor(data.draw, (B, T), -20.0, 0.0, dtype=dtype)
    k3 = kl_per_token(lp, ref, "k3")
    assert torch.all(k3 >= 0)
    # formulas, elementwise
    r = torch.exp((ref - lp).double())
    assert torch.allclose(kl_per_token(lp, ref, "k1"), lp - ref)
    assert torch.allclose(k3.double(), (r - 1) - torch.log(r), rtol=1e-4, atol=1e-5)
    # agreeing log-probs: both estimators are exactly 0
    assert torch.all(kl_per_token(lp, lp.clone(), "k1") == 0)
    assert torch.all(kl_per_token(lp, lp.clone(), "k3") == 0)


@SETTINGS
@given(data=st.data(), estimator=st.sampled_from(["k1", "k3"]))
def test_kl_per_token_ignores_padded_positions(data, estimator):
    # kl_per_token is elementwise, so garbage at padded positions cannot leak into valid ones
    B, T, mask = data.draw(shapes_and_mask())
    lp = draw_tensor(data.draw, (B, T), -20.0, 0.0)
    ref = draw_tensor(data.draw, (B, T), -20.0, 0.0)
    lp2 = torch.where(mask, lp, draw_tensor(data.draw, (B, T), -50.0, 0.0))
    ref2 = torch.where(mask, ref, draw_tensor(data.draw, (B, T), -50.0, 0.0))
    a = kl_per_token(lp, ref, estimator)
    b = kl_per_token(lp2, ref2, estimator)
    assert torch.equal(a[mask], b[mask])
    assert masked_mean(a, mask).item() == masked_mean(b, mask).item()
