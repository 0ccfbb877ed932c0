"""The auto-checked exercises accept right answers, reject wrong ones, and never reveal the answer."""
import math

import numpy as np
import pytest
import torch

from ppo_lab import exercises
from ppo_lab.losses import policy_loss
from ppo_lab.plots import clip_objective

def trl_batch_args(batch_size, minibatch_size):
    return {"per_device_train_batch_size": batch_size, "gradient_accumulation_steps": 1,
            "num_mini_batches": batch_size // minibatch_size}


RIGHT = {
    "00.phase": "I",
    "00.steps": 16,
    "00.fraction_positive": lambda s, t: (s > t).float().mean().item(),
    "04.grad_above": 0.0,
    "04.zero_case": "A>0, r>1+eps",
    "04.clipped_objective": lambda r, a, e: min(r * a, max(min(r, 1 + e), 1 - e) * a),
    "03.clipped_value": 1.62,
    "03.ev_zero": 0,
    "03.plain_value_loss": lambda v, r: 0.5 * sum((a - b) ** 2 for a, b in zip(v, r)) / len(v),
    "02.gae_sum": 1.0,
    "02.gae_td": 0.0,
    "02.td_errors": lambda r, v, g: [r[t] + g * (v[t + 1] if t + 1 < len(v) else 0.0) - v[t] for t in range(len(r))],
    "01.bt_loss": 0.127,
    "01.shift": 0,
    "01.preference_probability": lambda c, r: 1 / (1 + math.exp(r - c)),
    "05.uniform8": 2.079,
    "05.temperature": "higher",
    "05.distinct_1": lambda texts: len({w for t in texts for w in t.split()}) / sum(len(t.split()) for t in texts),
    "06.total_loss": 0.67,
    "06.k1": 1.0,
    "06.adaptive": 0.105,
    "06.k3": lambda lp, ref: math.expm1(ref - lp) - (ref - lp),
    "08.adam_gb": 1.99,
    "08.logits_mb": 157.6,
    "08.trl_batch_args": trl_batch_args,
}
WRONG = {
    "00.phase": "II",
    "00.steps": 4,
    "00.fraction_positive": lambda s, t: (s >= t).float().mean().item(),  # counts a tie as positive
    "04.grad_above": 1.0,
    "04.zero_case": "A<0, r>1+eps",
    "04.clipped_objective": lambda r, a, e: min(r * a, r * max(min(a, 1 + e), 1 - e)),  # clips A, not r
    "03.clipped_value": 0.5,       # the plain loss, unclipped
    "03.ev_zero": 1,
    "03.plain_value_loss": lambda v, r: sum((a - b) ** 2 for a, b in zip(v, r)) / len(v),  # no ½
    "02.gae_sum": 0.0,
    "02.gae_td": 1.0,
    "02.td_errors": lambda r, v, g: [r[t] + g * (v[t + 1] if t + 1 < len(v) else v[t]) - v[t] for t in range(len(r))],
    "01.bt_loss": 0.881,           # −log σ(−2): the sign the wrong way round
    "01.shift": 5,
    "01.preference_probability": lambda c, r: 1 / (1 + math.exp(c - r)),
    "05.uniform8": 3.0,            # log2(8): bits, not nats
    "05.temperature": "lower",
    "05.distinct_1": lambda texts: sum(len(set(t.split())) / len(t.split()) for t in texts) / len(texts),  # per text
    "06.total_loss": 0.73,         # + c2·S instead of − c2·S
    "06.k1": -1.0,                 # log π_ref − log π
    "06.adaptive": 0.125,          # the error left unclipped
    "06.k3": lambda lp, ref: math.expm1(lp - ref) - (lp - ref),  # r the wrong way round
    "08.adam_gb": 0.498,            # the weights alone
    "08.logits_mb": 39.4,           # 1 byte per number instead of 4
    # takes TRL's per-device batch for our minibatch: the rollout would be 16, not 64, completions
    "08.trl_batch_args": lambda b, m: {"per_device_train_batch_size": m, "gradient_accumulation_steps": 1,
                                       "num_mini_batches": b // m},
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answer_passes_and_wrong_answer_gets_a_hint(name, capsys):
    assert exercises.check(name, RIGHT[name]) is True
    assert exercises.check(name, WRONG[name]) is False
    out = capsys.readouterr().out
    assert "right!" in out and "hint:" in out


def test_float_batch_args_are_refused():
    def floats(b, m):
        return {"per_device_train_batch_size": b, "gradient_accumulation_steps": 1, "num_mini_batches": b / m}
    assert exercises.check("08.trl_batch_args", floats) is False


def test_hints_do_not_give_the_numbers_away():
    for name, answer in (("08.adam_gb", "1.99"), ("08.logits_mb", "157")):
        ex = exercises.EXERCISES[name]
        assert answer not in ex.hint and answer not in ex.question


def test_use_impl_picks_the_learners_function_once_implemented(capsys):
    from ppo_lab.losses import entropy

    def not_yet(logits, mask):
        raise NotImplementedError("your code here")

    def mine(logits, mask):
        return entropy(logits, mask)

    assert exercises.use_impl("entropy", not_yet) is entropy
    assert exercises.use_impl("entropy", mine) is mine
    out = capsys.readouterr().out
    assert "package's own" in out and "YOUR mine" in out
    with pytest.raises(KeyError, match="valid"):
        exercises.use_impl("nothing", mine)


def test_unanswered_and_crashing_answers_do_not_raise(capsys):
    assert exercises.check("00.steps", None) is False
    assert exercises.check("00.fraction_positive", lambda s, t: 1 / 0) is False
    assert "not answered yet" in capsys.readouterr().out
    with pytest.raises(KeyError, match="valid"):
        exercises.check("99.none", 1)


def test_clip_explorer_curve_matches_the_engine_loss():
    ratios = np.linspace(0.3, 1.8, 16)
    for advantage in (1.0, -1.0):
        objective, grad = clip_objective(ratios, advantage, 0.2)
        logprobs = torch.tensor(np.log(ratios), dtype=torch.float64).view(1, -1).requires_grad_()
        adv = torch.full_like(logprobs, advantage)
        mask = torch.ones_like(logprobs, dtype=torch.bool)
        for t in range(len(ratios)):  # one token at a time: loss = −L_clip of that token
            one = torch.zeros_like(mask)
            one[0, t] = True
            loss, _ = policy_loss(logprobs, torch.zeros_like(logprobs), adv, one, 0.2)
            assert -loss.item() == pytest.approx(objective[t])
        full, _ = policy_loss(logprobs, torch.zeros_like(logprobs), adv, mask, 0.2)
        full.backward()
        # d(−loss)/d logprob = ratio · dL/dr / T
        assert np.allclose(-logprobs.grad.numpy()[0] * len(ratios), ratios * grad)
