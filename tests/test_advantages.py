"""Tests for ppo_lab.maths.advantages: GAE by hand and against a slow reference, whiten, padding."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.maths.advantages import gae, whiten

F64 = torch.float64
SETTINGS = settings(max_examples=50, deadline=None)


def t64(x):
    return torch.tensor(x, dtype=F64)


@st.composite
def shapes_and_mask(draw):
    """(B, T) with B in 1..4, T in 1..6, and a right-padded boolean mask (row lengths 0..T)."""
    B = draw(st.integers(1, 4))
    T = draw(st.integers(1, 6))
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return B, T, mask


def draw_tensor(draw, shape, lo, hi):
    n = math.prod(shape)
    vals = draw(st.lists(st.floats(lo, hi, allow_nan=False, allow_infinity=False,
                                   allow_subnormal=False),
                         min_size=n, max_size=n))
    return torch.tensor(vals, dtype=F64).reshape(shape)


# ----------------------------------------------------------------------------------------------
# gae: hand-worked
# ----------------------------------------------------------------------------------------------

def test_gae_by_hand():
    gamma, lam = 0.9, 0.8          # γλ = 0.72
    # Row 0, full length T = 3: r = [0, 0, 1], V = [0.5, 0.4, 0.6]
    #   δ_2 = r_2 + γ·0   − V_2 = 1 + 0         − 0.6 = 0.4     (bootstrap 0 after the last token)
    #   δ_1 = r_1 + γ·V_2 − V_1 = 0 + 0.9·0.6   − 0.4 = 0.14
    #   δ_0 = r_0 + γ·V_1 − V_0 = 0 + 0.9·0.4   − 0.5 = −0.14
    #   A_2 = δ_2                 = 0.4
    #   A_1 = δ_1 + 0.72·A_2      = 0.14 + 0.288       = 0.428
    #   A_0 = δ_0 + 0.72·A_1      = −0.14 + 0.30816    = 0.16816
    #   R   = A + V               = [0.66816, 0.828, 1.0]
    # Row 1, length 2 (last position padded with junk r = 99, V = 50):
    #   δ_1 = 2 + γ·0   − 1.0 = 1.0                       (bootstrap 0, the junk V = 50 is not used)
    #   δ_0 = 1 + 0.9·1.0 − 0.5 = 1.4
    #   A_1 = 1.0;  A_0 = 1.4 + 0.72·1.0 = 2.12;  A_2 = 0 (padded)
    #   R   = [2.12 + 0.5, 1.0 + 1.0, 0] = [2.62, 2.0, 0]
    rewards = t64([[0.0, 0.0, 1.0], [1.0, 2.0, 99.0]])
    values = t64([[0.5, 0.4, 0.6], [0.5, 1.0, 50.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    adv, ret = gae(rewards, values, mask, gamma, lam)
    assert torch.allclose(adv, t64([[0.16816, 0.428, 0.4], [2.12, 1.0, 0.0]]), atol=1e-12)
    assert torch.allclose(ret, t64([[0.66816, 0.828, 1.0], [2.62, 2.0, 0.0]]), atol=1e-12)


def test_gae_special_cases_by_hand():
    # λ = 0: A_t = δ_t (one-step TD error).  λ = 1, γ = 1: A_t = Σ_{k≥t} r_k − V_t (Monte Carlo).
    rewards = t64([[1.0, 2.0, 3.0]])
    values = t64([[0.5, 0.25, 2.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    # γ = 1, λ = 0: δ = [1 + 0.25 − 0.5, 2 + 2.0 − 0.25, 3 + 0 − 2.0] = [0.75, 3.75, 1.0]
    adv, _ = gae(rewards, values, mask, 1.0, 0.0)
    assert torch.allclose(adv, t64([[0.75, 3.75, 1.0]]), atol=1e-12)
    # γ = 1, λ = 1: reward-to-go = [6, 5, 3]; A = [6 − 0.5, 5 − 0.25, 3 − 2] = [5.5, 4.75, 1.0]
    adv, ret = gae(rewards, values, mask, 1.0, 1.0)
    assert torch.allclose(adv, t64([[5.5, 4.75, 1.0]]), atol=1e-12)
    assert torch.allclose(ret, t64([[6.0, 5.0, 3.0]]), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# gae: against a slow pure-Python reference
# ----------------------------------------------------------------------------------------------

def gae_reference(rewards, values, lengths, gamma, lam):
    """Double loop straight from the definition: A_t = Σ_{l=0}^{L−1−t} (γλ)^l δ_{t+l}."""
    B, T = len(rewards), len(rewards[0])
    adv = [[0.0] * T for _ in range(B)]
    ret = [[0.0] * T for _ in range(B)]
    for b in range(B):
        L = lengths[b]

        def V(t, b=b, L=L):
            return values[b][t] if t < L else 0.0     # 0 after the last valid token

        deltas = [rewards[b][t] + gamma * V(t + 1) - V(t) for t in range(L)]
        for t in range(L):
            a = 0.0
            for k in range(L - t):
                a += (gamma * lam) ** k * deltas[t + k]
            adv[b][t] = a
            ret[b][t] = a + values[b][t]
    return adv, ret


@pytest.mark.parametrize("gamma, lam", list(itertools.product([0.0, 0.5, 0.9, 1.0],
                                                              [0.0, 0.5, 0.95, 1.0])))
def test_gae_matches_reference(gamma, lam):
    g = torch.Generator().manual_seed(1234)
    B, T = 6, 7
    lengths = [0, T, 1, 3, T - 1, 5]                   # includes empty and full-length rows
    rewards = torch.randn(B, T, generator=g, dtype=F64)
    values = torch.randn(B, T, generator=g, dtype=F64)
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    adv, ret = gae(rewards, values, mask, gamma, lam)
    adv_ref, ret_ref = gae_reference(rewards.tolist(), values.tolist(), lengths, gamma, lam)
    assert torch.allclose(adv, t64(adv_ref), atol=1e-10, rtol=1e-10)
    assert torch.allclose(ret, t64(ret_ref), atol=1e-10, rtol=1e-10)
    # padded positions are exactly 0
    assert torch.all(adv[~mask] == 0) and torch.all(ret[~mask] == 0)
    # float32 input gives the same answer to float32 precision
    adv32, ret32 = gae(rewards.float(), values.float(), mask, gamma, lam)
    assert adv32.dtype == torch.float32
    assert torch.allclose(adv32.double(), adv, atol=1e-4, rtol=1e-4)
    assert torch.allclose(ret32.double(), ret, atol=1e-4, rtol=1e-4)


@SETTINGS
@given(data=st.data(), gamma=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       lam=st.sampled_from([0.0, 0.5, 0.95, 1.0]))
def test_gae_matches_reference_hypothesis(data, gamma, lam):
    B, T, mask = data.draw(shapes_and_mask())
    rewards = draw_tensor(data.draw, (B, T), -10.0, 10.0)
    values = draw_tensor(data.draw, (B, T), -10.0, 10.0)
    lengths = mask.sum(1).tolist()
    adv, ret = gae(rewards, values, mask, gamma, lam)
    adv_ref, ret_ref = gae_reference(rewards.tolist(), values.tolist(), lengths, gamma, lam)
    assert torch.allclose(adv, t64(adv_ref), atol=1e-9, rtol=1e-9)
    assert torch.allclose(ret, t64(ret_ref), atol=1e-9, rtol=1e-9)


@SETTINGS
@given(data=st.data(), gamma=st.floats(0.0, 1.0), lam=st.floats(0.0, 1.0))
def test_gae_ignores_padded_positions(data, gamma, lam):
    B, T, mask = data.draw(shapes_and_mask())
    rewards = draw_tensor(data.draw, (B, T), -10.0, 10.0)
    values = draw_tensor(data.draw, (B, T), -10.0, 10.0)
    rewards2 = torch.where(mask, rewards, draw_tensor(data.draw, (B, T), -1e3, 1e3))
    values2 = torch.where(mask, values, draw_tensor(data.draw, (B, T), -1e3, 1e3))
    adv_a, ret_a = gae(rewards, values, mask, gamma, lam)
    adv_b, ret_b = gae(rewards2, values2, mask, gamma, lam)
    assert torch.equal(adv_a, adv_b)
    assert torch.equal(ret_a, ret_b)
    assert torch.all(adv_a[~mask] == 0) and torch.all(ret_a[~mask] == 0)


def test_gae_does_not_modify_inputs():
    rewards = t64([[1.0, 2.0, 3.0]])
    values = t64([[0.5, 0.5, 9.0]])
    mask = torch.tensor([[True, True, False]])
    r0, v0, m0 = rewards.clone(), values.clone(), mask.clone()
    gae(rewards, values, mask, 0.9, 0.95)
    assert torch.equal(rewards, r0) and torch.equal(values, v0) and torch.equal(mask, m0)


# ----------------------------------------------------------------------------------------------
# whiten
# ----------------------------------------------------------------------------------------------

def test_whiten_by_hand():
    # x = [1, 2, 3, (100 padded)]
    # mean = (1 + 2 + 3) / 3 = 2
    # biased var = ((−1)² + 0² + 1²) / 3 = 2/3;  std = sqrt(2/3 + 1e-8) ≈ 0.8164966
    # whitened = [−1, 0, 1] / 0.8164966 = [−1.2247449, 0, 1.2247449], padded -> 0
    # shift_mean=False adds the mean 2 back: [0.7752551, 2, 3.2247449], padded -> 0
    x = t64([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[True, True, True, False]])
    s = math.sqrt(2.0 / 3.0 + 1e-8)
    out = whiten(x, mask)
    assert torch.allclose(out, t64([[-1 / s, 0.0, 1 / s, 0.0]]), atol=1e-12)
    assert torch.allclose(out, t64([[-1.2247449, 0.0, 1.2247449, 0.0]]), atol=1e-6)
    out = whiten(x, mask, shift_mean=False)
    assert torch.allclose(out, t64([[2 - 1 / s, 2.0, 2 + 1 / s, 0.0]]), atol=1e-12)
    assert torch.allclose(out, t64([[0.7752551, 2.0, 3.2247449, 0.0]]), atol=1e-6)


def test_whiten_across_rows_by_hand():
    # Statistics are over all valid tokens of the batch, not per row:
    # x = [[0, 4], [2, junk]] valid {0, 4, 2}: mean 2, var (4 + 4 + 0)/3 = 8/3
    x = t64([[0.0, 4.0], [2.0, -7.0]])
    mask = torch.tensor([[True, True], [True, False]])
    s = math.sqrt(8.0 / 3.0 + 1e-8)
    assert torch.allclose(whiten(x, mask), t64([[-2 / s, 2 / s], [0.0, 0.0]]), atol=1e-12)


def test_whiten_constant_input_is_finite():
    # zero variance: the 1e-8 keeps it finite, the result is 0 (or the mean, unshifted)
    x = t64([[3.0, 3.0, 3.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert torch.allclose(whiten(x, mask), torch.zeros(1, 3, dtype=F64))
    assert torch.allclose(whiten(x, mask, shift_mean=False), x)
    # nothing valid: everything is 0, nothing NaN
    assert torch.equal(whiten(x, torch.zeros(1, 3, dtype=torch.bool)), torch.zeros(1, 3, dtype=F64))


@SETTINGS
@given(data=st.data(), shift_mean=st.booleans())
def test_whiten_properties_and_padding(data, shift_mean):
    B, T, mask = data.draw(shapes_and_mask())
    x = draw_tensor(data.draw, (B, T), -10.0, 10.0)
    x2 = torch.where(mask, x, draw_tensor(data.draw, (B, T), -1e3, 1e3))
    out = whiten(x, mask, shift_mean=shift_mean)
    out2 = whiten(x2, mask, shift_mean=shift_mean)
    assert torch.equal(out, out2)
    assert torch.all(out[~mask] == 0)

    n = int(mask.sum())
    if n == 0:
        return
    xs = x[mask]
    mean = xs.mean()
    var = ((xs - mean) ** 2).mean()                    # biased
    expected = (xs - mean) / torch.sqrt(var + 1e-8)
    if not shift_mean:
        expected = expected + mean
    assert torch.allclose(out[mask], expected, atol=1e-9, rtol=1e-9)
    if var > 1e-3:                                     # well away from the 1e-8 floor
        w = whiten(x, mask)[mask]
        assert w.mean().item() == pytest.approx(0.0, abs=1e-9)
        assert ((w ** 2).mean()).item() == pytest.approx(1.0, rel=1e-5)
