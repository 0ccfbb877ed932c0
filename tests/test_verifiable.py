"""Tests for the arithmetic world's program reward and pass@k (notebook 11): hand-worked values, a slow
reference, hypothesis properties, the split's guarantees and clear errors. No model is loaded here."""
from __future__ import annotations

import itertools
import math
import random

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.world import verifiable as v

SETTINGS = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------ the world
def test_prompts_and_operands_round_trip():
    assert v.prompt(47, 68) == "47+68="
    assert v.operands("47+68=") == (47, 68)
    for bad in ("47+68", "47-68=", "a+b=", " 47+68=", ""):
        with pytest.raises(ValueError, match="is not a sum"):
            v.operands(bad)


def test_forgot_carry_by_hand():
    # 47+68: 7+8 = 15 → 5, 4+6 = 10 → 0: "05" is 5.  99+1: 9+1 → 0, 9+0 → 9: 90.  23+45 has no carry: 68.
    assert v.forgot_carry(47, 68) == 5
    assert v.forgot_carry(99, 1) == 90
    assert v.forgot_carry(23, 45) == 68 == 23 + 45
    assert v.forgot_carry(0, 0) == 0
    assert v.has_carry(47, 68) and v.has_carry(99, 1) and not v.has_carry(23, 45)


@SETTINGS
@given(st.integers(0, 9999), st.integers(0, 9999))
def test_forgot_carry_is_the_sum_exactly_when_no_column_overflows(a, b):
    columns_overflow = any((a // 10 ** i) % 10 + (b // 10 ** i) % 10 >= 10 for i in range(5))
    assert (v.forgot_carry(a, b) == a + b) == (not columns_overflow)
    assert v.forgot_carry(a, b) <= a + b


def test_the_split_is_disjoint_complete_deterministic_and_keeps_both_orders_together():
    train, held_out = v.problems("train"), v.problems("held_out")
    assert not set(train) & set(held_out)
    assert len(train) + len(held_out) == (v.OPERAND_MAX + 1) ** 2
    assert all((b, a) in set(held_out) for a, b in held_out)
    assert 0.08 < len(held_out) / (len(train) + len(held_out)) < 0.12
    assert v.problems("held_out") == held_out and v.prompts("held_out")[0] == v.prompt(*held_out[0])
    with pytest.raises(ValueError, match="split='test'"):
        v.problems("test")


# ------------------------------------------------------------------ the reward is a program
def test_parse_answer_reads_only_a_well_formed_number():
    assert v.parse_answer("115") == 115 and v.parse_answer("0") == 0
    for bad in ("", " 115", "11 5", "115+", "+115", "1155555", "=115", "007", "0115", "١١٥"):
        assert v.parse_answer(bad) is None, bad


def test_exact_match_and_format_by_hand():
    prompts = ["47+68=", "47+68=", "47+68=", "2+2=", "2+2="]
    completions = ["115", "5", "11x", "4", ""]
    assert v.exact_match(prompts, completions).tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert v.format_reward(completions).tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]        # at most two digits
    assert v.ProgramReward("exact-match").score(prompts, completions).tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    # the format component is separate: a wrong but short answer collects FORMAT_WEIGHT, as much as the right
    # three-digit one
    hacked = v.ProgramReward("exact-match+format").score(prompts, completions).tolist()
    assert hacked == [1.0, 1.0, 0.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="exact-match"):
        v.ProgramReward("exact_match")
    with pytest.raises(ValueError):
        v.exact_match(["2+2="], ["4", "5"])         # one completion per prompt, or a clear error


def test_is_program_names_only_the_programs():
    assert v.is_program("exact-match") and v.is_program("exact-match+format")
    assert not v.is_program("tiny-reward") and not v.is_program(None)


# ------------------------------------------------------------------ pass@k
def test_pass_at_k_by_hand():
    # n = 4 samples, c = 1 right: pass@1 = 1/4; pass@2 = 1 − C(3,2)/C(4,2) = 1 − 3/6 = 1/2; pass@4 = 1
    assert v.pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert v.pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert v.pass_at_k(4, 1, 4) == 1.0
    # n = 10, c = 3, k = 5: 1 − C(7,5)/C(10,5) = 1 − 21/252 = 0.9166…
    assert v.pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert v.pass_at_k(10, 0, 10) == 0.0 and v.pass_at_k(10, 10, 1) == 1.0


def slow_pass_at_k(n, c, k):
    """Every k-subset of the n samples, counted: the fraction holding at least one right sample."""
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_counting_subsets(nck):
    n, c, k = nck
    assert v.pass_at_k(n, c, k) == pytest.approx(slow_pass_at_k(n, c, k), abs=1e-12)


@SETTINGS
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_is_c_over_n_at_one_and_never_falls_with_k(nc):
    n, c = nc
    assert v.pass_at_k(n, c, 1) == pytest.approx(c / n)
    values = [v.pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:]))
    assert all(0.0 <= x <= 1.0 for x in values)


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    # C(2000, 1000) is ~1e600: the product form stays finite and matches the log-gamma form
    exact = 1 - math.exp(math.lgamma(1501) - math.lgamma(501) - math.lgamma(2001) + math.lgamma(1001))
    assert v.pass_at_k(2000, 500, 1000) == pytest.approx(exact, rel=1e-9)


def test_pass_at_k_rejects_impossible_counts():
    for n, c, k in ((4, 5, 1), (4, -1, 1), (4, 1, 0), (4, 1, 5)):
        with pytest.raises(ValueError, match=f"n={n}, c={c}, k={k}"):
            v.pass_at_k(n, c, k)


def test_pass_at_k_curve_averages_problems():
    correct = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.float32)
    curve = v.pass_at_k_curve(correct, (1, 2, 4))
    assert curve[1] == pytest.approx((0.25 + 1 + 0) / 3)
    assert curve[2] == pytest.approx((0.5 + 1 + 0) / 3)
    assert curve[4] == pytest.approx(2 / 3)


def test_pass_at_k_curve_estimates_the_chance_a_sample_of_k_holds_a_right_one():
    # 300 problems whose per-sample success rates are known: the estimate is unbiased for 1 − (1 − p)^k
    rng = random.Random(0)
    rates = [rng.random() for _ in range(300)]
    gen = torch.Generator().manual_seed(0)
    correct = torch.stack([(torch.rand(32, generator=gen) < p).float() for p in rates])      # (300, 32)
    curve = v.pass_at_k_curve(correct, (1, 8))
    for k in (1, 8):
        truth = sum(1 - (1 - p) ** k for p in rates) / len(rates)
        assert curve[k] == pytest.approx(truth, abs=0.03)


def test_no_signal_chance_by_hand_and_against_the_formula():
    # one problem, n = 4 answers, c = 2 right, G = 2: pairs that agree = C(2,2) + C(2,2) = 2 of C(4,2) = 6
    assert v.no_signal_chance(torch.tensor([[1.0, 1.0, 0.0, 0.0]]), 2) == pytest.approx(1 / 3)
    # all right or all wrong: every group agrees; G = 1: a single answer always "agrees"
    assert v.no_signal_chance(torch.tensor([[1.0] * 4, [0.0] * 4]), 3) == 1.0
    assert v.no_signal_chance(torch.tensor([[1.0, 0.0, 1.0]]), 1) == 1.0
    # unbiased for p^G + (1 − p)^G: 400 problems with known p, 32 answers each
    gen = torch.Generator().manual_seed(0)
    rates = torch.rand(400, generator=gen)
    correct = (torch.rand(400, 32, generator=gen) < rates[:, None]).float()
    for G in (2, 8):
        assert v.no_signal_chance(correct, G) == pytest.approx((rates ** G + (1 - rates) ** G).mean().item(), abs=0.03)
    with pytest.raises(ValueError, match="group_size=5"):
        v.no_signal_chance(torch.ones(2, 4), 5)
