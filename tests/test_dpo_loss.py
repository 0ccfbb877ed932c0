"""`losses.dpo_loss`: hand-worked values, a slow reference loop, huge margins, its gradient and TRL's stats."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ppo_lab.losses import dpo_loss


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
