"""Notebook 08's exercises accept the right answers, reject typical wrong ones, and never print the answer."""
import pytest

from ppo_lab import exercises


def trl_batch_args(batch_size, minibatch_size):
    return {"per_device_train_batch_size": batch_size, "gradient_accumulation_steps": 1,
            "num_mini_batches": batch_size // minibatch_size}


RIGHT = {
    "08.adam_gb": 1.99,
    "08.logits_mb": 157.6,
    "08.trl_batch_args": trl_batch_args,
}
WRONG = {
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
