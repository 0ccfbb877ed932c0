"""Tests for the critic-free family's maths: group_advantages (GRPO, Dr. GRPO), rloo_advantages,
broadcast_to_tokens and losses.aggregate. Hand-worked values, slow reference loops, hypothesis properties, errors.
"""
from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.maths.advantages import broadcast_to_tokens, group_advantages, rloo_advantages
from ppo_lab.maths.losses import aggregate, masked_mean

F64 = torch.float64
SETTINGS = settings(max_examples=50, deadline=None)
MODES = ("token_mean", "sequence_mean", "constant")
NAN = math.nan


def t64(x):
    return torch.tensor(x, dtype=F64)


# ----------------------------------------------------------------------------------------------
# hand-worked values
# ----------------------------------------------------------------------------------------------

def test_group_advantages_by_hand():
    # scores (0, 1, 4 | 6, 6, 9), G = 3: two prompts
    # | group     | mean | r − mean          | var ÷ (G − 1)   | std_g        | A = (r − mean)/(std_g + 1e-4)    |
    # | (0, 1, 4) | 5/3  | (−5/3, −2/3, 7/3) | (78/9)/2 = 13/3 | 2.0816659995 | (−0.800602, −0.320241, 1.120843) |
    # | (6, 6, 9) | 7    | (−1, −1, 2)       | 6/2 = 3         | 1.7320508076 | (−0.577317, −0.577317, 1.154634) |
    # scale=False (Dr. GRPO) stops at r − mean.
    scores = t64([0.0, 1.0, 4.0, 6.0, 6.0, 9.0])
    want = t64([-0.8006023093, -0.3202409237, 1.1208432331, -0.5773169378, -0.5773169378, 1.1546338756])
    assert torch.allclose(group_advantages(scores, 3), want, atol=1e-10)
    assert torch.allclose(group_advantages(scores, 3, scale=False), t64([-5 / 3, -2 / 3, 7 / 3, -1, -1, 2]), atol=1e-15)
    # one group (1, 3, 5, 7): mean 4, r − mean = (−3, −1, 1, 3), sample std √(20/3) = 2.5819888975
    # (the population std √5 = 2.2360679775 would give ±1.3415 and ±0.4472 instead)
    want = t64([-1.1618500056, -0.3872833352, 0.3872833352, 1.1618500056])
    assert torch.allclose(group_advantages(t64([1.0, 3.0, 5.0, 7.0]), 4), want, atol=1e-10)


def test_an_all_equal_group_gets_exactly_zero_even_when_its_mean_rounds():
    # (0.1, 0.1, 0.1): the float mean is 0.10000000000000002, so r − mean = −1.4e−17, and ÷ (0 + 1e-4) would
    # leave −1.4e−13; in float32, (1000.1 ×4) would leave ±0.4. Both must be exactly 0; the (0, 1, 2) group
    # next to them is untouched: std 1, A = ±1/1.0001 = ±0.99990001.
    for scores, G in ((t64([0.1, 0.1, 0.1, 0.0, 1.0, 2.0]), 3), (torch.tensor([1000.1] * 4 + [0.0, 1.0, 2.0, 3.0]), 4)):
        for adv in (group_advantages(scores, G), group_advantages(scores, G, scale=False), rloo_advantages(scores, G)):
            assert torch.equal(adv[:G], torch.zeros(G, dtype=scores.dtype)), adv
    rest = group_advantages(t64([0.1, 0.1, 0.1, 0.0, 1.0, 2.0]), 3)[3:]
    assert torch.allclose(rest, t64([-0.99990001, 0, 0.99990001]))


def test_rloo_advantages_by_hand():
    # A_i = r_i − mean of the others
    # | group        | r_i | others       | mean_{j≠i} | A_i  |
    # | (0, 1, 4)    | 0   | 1, 4         | 5/2        | −2.5 |
    # |              | 1   | 0, 4         | 2          | −1   |
    # |              | 4   | 0, 1         | 1/2        | 3.5  |
    # | (6, 6, 9)    | 6   | 6, 9         | 15/2       | −1.5 | (twice)
    # |              | 9   | 6, 6         | 6          | 3    |
    # = G/(G−1)·(r − mean) = 3/2·(−5/3, −2/3, 7/3 | −1, −1, 2)
    got = rloo_advantages(t64([0.0, 1.0, 4.0, 6.0, 6.0, 9.0]), 3)
    assert torch.allclose(got, t64([-2.5, -1.0, 3.5, -1.5, -1.5, 3.0]), atol=1e-15)
    assert torch.equal(rloo_advantages(t64([3.0, 5.0]), 2), t64([-2.0, 2.0]))   # G = 2: each against the other


def test_broadcast_to_tokens_by_hand():
    # A = (2, −1, 5), rows of 3, 1 and 0 valid tokens → A on the valid tokens, 0 on padding
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])
    got = broadcast_to_tokens(t64([2.0, -1.0, 5.0]), mask)
    assert torch.equal(got, t64([[2.0, 2.0, 2.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_aggregate_by_hand():
    # per_token = [[1, 2, NaN], [3, NaN, NaN], [NaN, NaN, NaN]], 3 valid tokens, row lengths (2, 1, 0), N·T = 9
    # | mode          | computation                                             | value  |
    # | token_mean    | (1 + 2 + 3) / 3                                         | 2      |
    # | sequence_mean | ((1 + 2)/2 + 3/1) / 2  (the empty row is left out)      | 2.25   |
    # | constant      | (1 + 2 + 3) / (3·3)                                     | 0.6667 |
    x = t64([[1.0, 2.0, NAN], [3.0, NAN, NAN], [NAN, NAN, NAN]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    assert aggregate(x, mask, "token_mean").item() == 2.0
    assert aggregate(x, mask, "sequence_mean").item() == 2.25
    assert aggregate(x, mask, "constant").item() == pytest.approx(6 / 9, abs=1e-15)
    nothing = torch.zeros(2, 3, dtype=torch.bool)
    assert [aggregate(x[:2], nothing, m).item() for m in MODES] == [0.0, 0.0, 0.0]   # nothing valid: 0, not NaN


# ----------------------------------------------------------------------------------------------
# slow reference loops
# ----------------------------------------------------------------------------------------------

def slow_group(scores, G, scale):
    out = []
    for start in range(0, len(scores), G):
        group = [float(r) for r in scores[start:start + G]]
        mean = sum(group) / G
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (G - 1))
        out += [(r - mean) / (std + 1e-4) if scale else r - mean for r in group]
    return t64(out)


def slow_rloo(scores, G):
    out = []
    for start in range(0, len(scores), G):
        group = [float(r) for r in scores[start:start + G]]
        out += [r - sum(group[j] for j in range(G) if j != i) / (G - 1) for i, r in enumerate(group)]
    return t64(out)


def slow_aggregate(x, mask, mode):
    N, T = x.shape
    rows = [[float(x[i, t]) for t in range(T) if mask[i, t]] for i in range(N)]
    tokens = [v for row in rows for v in row]
    if mode == "token_mean":
        return sum(tokens) / max(len(tokens), 1)
    if mode == "constant":
        return sum(tokens) / (N * T)
    means = [sum(row) / len(row) for row in rows if row]
    return sum(means) / max(len(means), 1)


def test_against_slow_loops_on_random_groups_and_masks():
    g = torch.Generator().manual_seed(0)
    for groups, G in ((1, 2), (3, 4), (5, 3), (2, 16)):
        scores = torch.randn(groups * G, generator=g, dtype=F64) * 3                     # (N,)
        for scale in (True, False):
            assert torch.allclose(group_advantages(scores, G, scale), slow_group(scores, G, scale), atol=1e-12)
        assert torch.allclose(rloo_advantages(scores, G), slow_rloo(scores, G), atol=1e-12)
    for N, T in ((1, 1), (4, 6), (7, 3)):
        x, mask = torch.randn(N, T, generator=g, dtype=F64), torch.rand(N, T, generator=g) < 0.6   # (N, T)
        for mode in MODES:
            assert aggregate(x, mask, mode).item() == pytest.approx(slow_aggregate(x, mask, mode), abs=1e-12)
        adv = torch.randn(N, generator=g, dtype=F64)                                      # (N,)
        slow = [[float(adv[i]) if mask[i, t] else 0.0 for t in range(T)] for i in range(N)]
        assert torch.equal(broadcast_to_tokens(adv, mask), t64(slow))


# ----------------------------------------------------------------------------------------------
# hypothesis properties
# ----------------------------------------------------------------------------------------------

@st.composite
def grouped_scores(draw, lo=-100.0, hi=100.0):
    """(scores (N,), G): N/G groups of G floats."""
    G, groups = draw(st.integers(2, 6)), draw(st.integers(1, 4))
    vals = draw(st.lists(st.floats(lo, hi, allow_nan=False, allow_subnormal=False), min_size=G * groups,
                         max_size=G * groups))
    return t64(vals), G


@st.composite
def per_token_and_mask(draw, min_valid=0):
    """(x (N, T), mask (N, T)): a random boolean mask with at least `min_valid` valid tokens per row."""
    N, T = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    bits = draw(st.lists(st.booleans(), min_size=N * T, max_size=N * T))
    mask = torch.tensor(bits).reshape(N, T)
    if min_valid:
        mask[:, 0] |= ~mask.any(dim=1)
    vals = draw(st.lists(st.floats(-50, 50, allow_nan=False, allow_subnormal=False), min_size=N * T, max_size=N * T))
    return t64(vals).reshape(N, T), mask


@SETTINGS
@given(grouped_scores(), st.booleans())
def test_group_advantages_sum_to_zero_in_each_group(data, scale):
    scores, G = data
    sums = group_advantages(scores, G, scale).view(-1, G).sum(dim=1)
    assert torch.allclose(sums, torch.zeros_like(sums), atol=1e-8 * G)


@SETTINGS
@given(grouped_scores())
def test_rloo_is_g_over_g_minus_1_times_the_centred_score(data):
    scores, G = data
    centred = group_advantages(scores, G, scale=False)
    assert torch.allclose(rloo_advantages(scores, G), G / (G - 1) * centred, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(grouped_scores(), st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
       st.sampled_from([F64, torch.float32]))
def test_an_all_equal_group_gives_exactly_zero(data, level, dtype):
    scores, G = data
    scores = torch.cat([torch.full((G,), level, dtype=F64), scores]).to(dtype)          # (N + G,) the first all equal
    for adv in (group_advantages(scores, G), group_advantages(scores, G, scale=False), rloo_advantages(scores, G)):
        assert torch.equal(adv[:G], torch.zeros(G, dtype=dtype)) and not bool(adv.isnan().any())


@SETTINGS
@given(per_token_and_mask(min_valid=1), st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False))
def test_aggregate_of_a_constant_is_that_constant(data, c):
    _, mask = data
    x = torch.full(mask.shape, c, dtype=F64)                                              # (N, T)
    for mode in ("token_mean", "sequence_mean"):
        assert aggregate(x, mask, mode).item() == pytest.approx(c, rel=1e-12, abs=1e-12)


@SETTINGS
@given(per_token_and_mask(), st.sampled_from([NAN, math.inf, -math.inf, 1e30]))
def test_padded_garbage_never_leaks_into_aggregate(data, junk):
    x, mask = data
    for mode in MODES:
        clean, dirty = aggregate(x, mask, mode), aggregate(torch.where(mask, x, junk), mask, mode)
        assert torch.equal(clean, dirty) and bool(torch.isfinite(dirty))


@SETTINGS
@given(per_token_and_mask())
def test_token_mean_is_bitwise_masked_mean(data):
    x, mask = data
    assert torch.equal(aggregate(x, mask, "token_mean"), masked_mean(x, mask))


@SETTINGS
@given(per_token_and_mask(), st.sampled_from(MODES))
def test_gradients_reach_the_valid_tokens_only(data, mode):
    x, mask = data
    x = torch.where(mask, x, NAN).requires_grad_(True)                                   # (N, T) NaN on padding
    aggregate(x, mask, mode).backward()
    lengths = mask.sum(dim=1, keepdim=True).to(F64)                                       # (N, 1)
    weight = {"token_mean": 1 / max(int(mask.sum()), 1), "constant": 1 / mask.numel(),
              "sequence_mean": 1 / lengths.clamp(min=1) / max(int((lengths > 0).sum()), 1)}[mode]
    want = torch.where(mask, torch.as_tensor(weight, dtype=F64), torch.zeros((), dtype=F64))  # (N, T)
    assert torch.allclose(x.grad, want, rtol=1e-12, atol=0)
    assert not bool(x.grad.isnan().any())


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [group_advantages, rloo_advantages])
@pytest.mark.parametrize("G", [4, 1, 0, -2, 7])
def test_a_bad_group_size_names_itself_its_value_and_the_valid_range(fn, G):
    with pytest.raises(ValueError, match=re.escape(f"group_size={G} must be an integer G ≥ 2 that divides the "
                                                   "number of scores N = 6")) as e:
        fn(torch.zeros(6), G)
    assert "valid here: [2, 3, 6]" in str(e.value)


def test_an_unknown_aggregation_names_loss_aggregation_and_the_choices():
    with pytest.raises(ValueError, match=r"loss_aggregation='mean'.*'token_mean', 'sequence_mean' or 'constant'"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), "mean")


def test_broadcast_to_tokens_wants_one_advantage_per_completion():
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        broadcast_to_tokens(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))   # token-level, by mistake
