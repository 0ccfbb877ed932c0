"""`preference.dpo_loss`: hand-worked values, a slow reference loop, huge margins, its gradient and TRL's stats."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.maths.preference import dpo_loss


def reference(pc, pr, rc, rr, beta):
    """One pair at a time, in float64, with the textbook formula: −log σ(z) = log(1 + e^{−z})."""
    losses = []
    for a, b, c, d in zip(pc, pr, rc, rr):
        z = beta * ((a - c) - (b - d))
        losses.append(math.log1p(math.exp(-z)) if z > -30 else -z + math.log1p(math.exp(z)))
    return sum(losses) / len(losses)


def test_hand_worked_pair():
    # β = 0.5: chosen moved +2 from the reference, rejected −2, so z = 0.5·(2 − (−2)) = 2; −log σ(2) = log(1 + e^−2)
    t = torch.tensor
    loss, stats = dpo_loss(t([-8.0]), t([-12.0]), t([-10.0]), t([-10.0]), 0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2)), abs=1e-6)           # 0.126928
    assert stats == pytest.approx({"rewards/chosen": 1.0, "rewards/rejected": -1.0, "rewards/margins": 2.0,
                                   "rewards/accuracies": 1.0})


def test_at_the_reference_the_loss_is_log_2_and_accuracy_0():
    x = torch.tensor([-5.0, -7.0, -3.0])
    loss, stats = dpo_loss(x, x - 1, x, x - 1, 0.1)
    assert loss.item() == pytest.approx(math.log(2)) and stats["rewards/margins"] == 0.0
    assert stats["rewards/accuracies"] == 0.0                                           # z > 0 strictly


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-60, 0) for _ in range(4)]), min_size=1, max_size=8), st.floats(0.01, 2.0))
def test_equals_a_slow_reference_loop(rows, beta):
    pc, pr, rc, rr = (torch.tensor(col, dtype=torch.float64) for col in zip(*rows))
    loss, stats = dpo_loss(pc, pr, rc, rr, beta)
    assert loss.item() == pytest.approx(reference(*zip(*rows), beta), rel=1e-9, abs=1e-9)
    z = [beta * ((a - c) - (b - d)) for a, b, c, d in rows]
    assert stats["rewards/accuracies"] == pytest.approx(sum(v > 0 for v in z) / len(z))
    assert stats["rewards/margins"] == pytest.approx(sum(z) / len(z), rel=1e-9, abs=1e-9)


def test_huge_margins_stay_finite():
    t = torch.tensor
    big, _ = dpo_loss(t([0.0]), t([-1e6]), t([0.0]), t([0.0]), 10.0)                   # z = 1e7: loss → 0
    bad, _ = dpo_loss(t([-1e6]), t([0.0]), t([0.0]), t([0.0]), 10.0)                   # z = −1e7: loss ≈ 1e7
    assert big.item() == 0.0 and bad.item() == pytest.approx(1e7)


def test_the_gradient_raises_the_chosen_and_lowers_the_rejected():
    pc, pr = torch.tensor([-5.0, -6.0], requires_grad=True), torch.tensor([-5.0, -4.0], requires_grad=True)
    loss, _ = dpo_loss(pc, pr, torch.tensor([-5.0, -5.0]), torch.tensor([-5.0, -5.0]), 0.1)
    loss.backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()          # descent raises log π(y_w), lowers log π(y_l)
    assert torch.allclose(pc.grad, -pr.grad)                    # the pair's two pulls are equal and opposite


@pytest.mark.parametrize("beta", [0.0, -0.1, float("nan")])
def test_beta_must_be_positive(beta):
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta)


# ---------------------------------------------------------------- the optimum DPO is derived from (notebook 10, step 1)
def test_the_kl_regularised_optimum_by_hand():
    # π_ref = (½, ½), r = (0, log 3), β = 1: π* ∝ (½·1, ½·3) = (¼, ¾)
    from ppo_lab.maths.preference import kl_regularised_optimum

    got = kl_regularised_optimum(torch.tensor([0.5, 0.5], dtype=torch.float64),
                                 torch.tensor([0.0, math.log(3)], dtype=torch.float64), 1.0)
    assert got.tolist() == pytest.approx([0.25, 0.75])
    with pytest.raises(ValueError, match="beta=0"):
        kl_regularised_optimum(torch.ones(2) / 2, torch.zeros(2), 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=6), st.floats(0.05, 5.0), st.integers(0, 10_000))
def test_the_optimum_beats_every_other_policy_and_its_implicit_reward_is_r_up_to_a_constant(rewards, beta, seed):
    from ppo_lab.maths.preference import kl_regularised_optimum

    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(len(rewards), generator=g, dtype=torch.float64) + 0.05
    ref, r = ref / ref.sum(), torch.tensor(rewards, dtype=torch.float64)
    best = kl_regularised_optimum(ref, r, beta)
    J = lambda p: (p * r).sum() - beta * (p * (p / ref).log()).sum()
    others = torch.distributions.Dirichlet(torch.ones(len(r), dtype=torch.float64)).sample((200,))
    assert all(J(best) >= J(p) - 1e-9 for p in others)
    gap = r - beta * (best / ref).log()                                   # = β·log Z for every completion
    assert torch.allclose(gap, beta * torch.log((ref * (r / beta).exp()).sum()).expand_as(gap), atol=1e-9)
