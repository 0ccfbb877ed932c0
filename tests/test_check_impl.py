"""`lab.exercises.check_impl`: accepts the package's functions and a learner's, catches every typical mistake.

Training with a learner's function in place of the package's gives the same run (and `train_yours` says that
training cannot show a slip on padding); a sign-flipped policy loss aligns the policy the wrong way.
"""
import copy

import numpy as np
import pytest
import torch
from mistakes import MISTAKES
from solutions import SOLUTIONS

from ppo_lab.config import PPOConfig
from ppo_lab.course import exercises
from ppo_lab.course.exercises import answers
from ppo_lab.course.exercises.impl import checker as impl_checks
from ppo_lab.rl import ppo as trainer

NAMES = sorted(impl_checks.REFERENCES)  # the engine functions and the critic-free family's advantages


@pytest.mark.parametrize("name", NAMES)
def test_the_package_functions_pass(name, capsys):
    assert exercises.check_impl(name, impl_checks.REFERENCES[name])
    out = capsys.readouterr().out
    assert f"[{name}] all " in out and "checks passed!" in out and "✗" not in out


@pytest.mark.parametrize("name", NAMES)
def test_a_learners_own_solution_passes(name, capsys):
    assert exercises.check_impl(name, SOLUTIONS[name])
    assert "checks passed!" in capsys.readouterr().out


@pytest.mark.parametrize("name,mistake,shown", MISTAKES, ids=[m.__name__ for _, m, _ in MISTAKES])
def test_every_typical_mistake_is_caught_with_its_targeted_hint(name, mistake, shown, capsys):
    assert not exercises.check_impl(name, mistake)
    out = capsys.readouterr().out
    assert "checks passed;" in out and "✗" in out and shown in out, out
    assert "all " not in out.splitlines()[0]
    assert out.count("  hint: ") <= 1, out                             # one hint, never one per failed case
    others = {phrase for _, _, phrase in MISTAKES if phrase not in out}
    hint = out.split("  hint: ")[1] if "  hint: " in out else ""
    assert not [p for p in others if p in hint], out                   # and not another slip's


SAME_SLIPS_WRITTEN_ANOTHER_WAY = [  # a learner's own wording of a known slip: matched by its numbers, not its code
    ("dpo_loss", lambda pc, pr, rc, rr, beta: (torch.nn.functional.softplus(-beta * (pc - pr)).mean(), {
        "rewards/chosen": (beta * pc).mean().item(), "rewards/rejected": (beta * pr).mean().item(),
        "rewards/margins": (beta * (pc - pr)).mean().item(),
        "rewards/accuracies": (pc > pr).float().mean().item()}), "MINUS the reference's"),
    ("sequence_logps", lambda token_logps, mask: (token_logps * mask).sum(dim=-1), "leave them out of the sum"),
    ("entropy", lambda logits, mask: -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1).mean(),
     "Padded tokens (mask=False) must not count"),
]


@pytest.mark.parametrize("name,mine,shown", SAME_SLIPS_WRITTEN_ANOTHER_WAY, ids=[s for _, _, s in
                                                                              SAME_SLIPS_WRITTEN_ANOTHER_WAY])
def test_a_known_slip_written_another_way_gets_that_slips_hint_alone(name, mine, shown, capsys):
    assert not exercises.check_impl(name, mine)
    out = capsys.readouterr().out
    assert out.count("  hint: ") == 1 and shown in out.split("  hint: ")[1], out


def test_an_unknown_bug_gets_the_hint_of_its_first_failed_check(capsys):
    from ppo_lab.course.exercises.impl.checker import BATTERIES, REFERENCES, slip_hint

    def halved(*args):                                                 # no known slip halves the loss
        loss, stats = REFERENCES["dpo_loss"](*args)
        return loss / 2, stats

    assert not exercises.check_impl("dpo_loss", halved)
    out = capsys.readouterr().out
    cases = BATTERIES["dpo_loss"]()
    first = next(c for c in cases if c.name in out)
    assert out.count("  hint: ") == 1 and f"  hint: {first.hint}" in out
    assert slip_hint("dpo_loss", cases, []) is None


def test_not_implemented_unanswered_and_broken_functions_never_raise(capsys):
    def todo(rewards, values, mask, gamma, lam):
        raise NotImplementedError

    assert not exercises.check_impl("gae", todo)
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Traceback" not in out and "✗" not in out

    assert not exercises.check_impl("gae", None)
    assert "not implemented yet" in capsys.readouterr().out

    assert not exercises.check_impl("entropy", lambda logits, mask: 1 / 0)
    assert "your function raised ZeroDivisionError: division by zero" in capsys.readouterr().out

    assert not exercises.check_impl("entropy", lambda logits: logits)       # one argument short
    assert "cannot be called the way the trainer calls it, `entropy(logits, mask)`" in capsys.readouterr().out

    for strange in (lambda *a: "loss", lambda *a: [1, 2], lambda *a: (torch.zeros(3), {}), lambda *a: None):
        assert not exercises.check_impl("value_loss", strange)
    assert not exercises.check_impl("ppo_loss", lambda *a: 0.67)            # a number, not a tensor
    assert "expected a tensor, got float" in capsys.readouterr().out

    assert not exercises.check_impl("policy_loss", 3)
    assert "expected a function" in capsys.readouterr().out
    with pytest.raises(KeyError, match="valid"):
        exercises.check_impl("policy_los", SOLUTIONS["policy_loss"])


@pytest.mark.parametrize("name", NAMES)
def test_an_untouched_return_none_stub_is_not_implemented_yet(name, capsys):
    def stub(*args):
        return None  # your code here

    verdict = exercises.check_impl(name, stub)
    out = capsys.readouterr().out
    assert not verdict and f"[{name}] not implemented yet: your function returns None. Replace `return None`" in out
    assert "✗" not in out and "checks passed" not in out and "NoneType" not in out


def test_a_function_that_returns_none_on_some_case_fails_that_case(capsys):
    def sometimes(logits, mask):
        return SOLUTIONS["entropy"](logits, mask) if logits.shape[0] == 1 else None

    assert not exercises.check_impl("entropy", sometimes)
    out = capsys.readouterr().out
    assert "checks passed;" in out and "your function returned None here: is a `return` missing" in out


def test_a_failure_shows_the_case_expected_got_and_a_hint_but_not_the_solution(capsys):
    from ppo_lab.course.exercises.impl import slips

    exercises.check_impl("policy_loss", slips.policy_min)
    out = capsys.readouterr().out
    assert "worked by hand: A > 0 with r below the trust region" in out
    assert "loss: expected 0.5, got 0.2" in out and "hint:" in out
    assert "torch.max(" not in out and "def " not in out


# ---------------------------------------------------------------- the learner's functions in training
SMALL = PPOConfig.preset("ci", iterations=2, batch_size=8, minibatch_size=4, ppo_epochs=2, response_length=8,
                         ent_coef=0.01)  # c2 > 0, or the entropy function is never called


def metrics(run) -> dict:
    return {k: np.array([h[k] for h in run.history], dtype=float) for k in run.history[0] if not k.startswith("time/")}


def test_training_with_a_learners_solutions_gives_the_reference_run(models):
    reference = trainer.train(SMALL, copy.deepcopy(models), progress=False)
    engine = {name: SOLUTIONS[name] for name in trainer.PPO_FUNCTIONS}
    mine = trainer.train(SMALL, models, overrides=engine, progress=False)  # all six swapped in at once
    assert mine.status == reference.status == "finished"
    want, got = metrics(reference), metrics(mine)
    assert want.keys() == got.keys()
    for key in want:
        assert np.allclose(got[key], want[key], rtol=1e-5, atol=1e-8, equal_nan=True), (key, got[key], want[key])
    assert [s["completion"] for s in mine.samples] == [s["completion"] for s in reference.samples]


class _Run:
    def __init__(self, reward):
        self.history, self.samples = [{"env/reward_mean": reward, "time/iteration": reward}], []


@pytest.mark.parametrize("same", [True, False])
def test_train_yours_says_padding_slips_cannot_show_in_training(same, monkeypatch, capsys):
    runs = iter([_Run(1.0), _Run(1.0 if same else 2.0)])
    monkeypatch.setattr(answers, "train", lambda config, overrides=None, progress=True: next(runs))
    monkeypatch.setattr(answers, "curves", lambda *args, **kwargs: None)
    config = PPOConfig.preset("ci")
    exercises.train_yours(config, {"gae": SOLUTIONS["gae"]})
    out = capsys.readouterr().out
    assert "[gae] using YOUR" in out
    assert ("identical to the reference run" in out) is same and ("differs" in out) is not same
    assert ("padding" in out and f"response_length={config.response_length}" in out and "check_impl" in out) is same


def test_train_yours_trains_the_package_function_until_yours_is_written(monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(answers, "train", lambda config, overrides=None, progress=True:
                        trained.append(overrides) or _Run(1.0 if overrides is None else 1.0 + len(trained)))
    monkeypatch.setattr(answers, "curves", lambda *args, **kwargs: None)

    def my_gae(rewards, values, mask, gamma, lam):
        return None  # your code here

    with pytest.raises(RuntimeError, match="did not reproduce the reference run: a bug in ppo_lab"):
        exercises.train_yours(PPOConfig.preset("ci"), {"gae": my_gae})   # the package's own, yet a different run
    assert trained[1] == {"gae": trainer.PPO_FUNCTIONS["gae"]}
    assert "[gae] using the package's own" in capsys.readouterr().out


class _Logged:
    def __init__(self, rows, texts=("a good film",)):
        self.history = [{**r, "time/iteration": 1.0 + i} for i, r in enumerate(rows)]
        self.samples = [{"completion": t} for t in texts]


def test_same_run_allows_float_rounding_and_says_what_differs_by_how_much():
    reference = _Logged([{"loss/policy_avg": 0.25, "env/reward_mean": 1.0}, {"loss/policy_avg": 0.5,
                                                                           "env/reward_mean": 2.0}])
    rounding = _Logged([{"loss/policy_avg": 0.25 + 4e-9, "env/reward_mean": 1.0}, {"loss/policy_avg": 0.5,
                                                                                 "env/reward_mean": 2.0}])
    assert answers.run_differences(reference, reference) == {}
    assert answers.run_differences(reference, rounding) == {"loss/policy_avg": (0, pytest.approx(4e-9))}
    assert answers.same_run(reference, rounding) and not answers.same_run(reference, rounding, rtol=0, atol=0)
    said = answers._comparison(reference, rounding)
    assert "up to float rounding" in said and "4.0e-09" in said and "loss/policy_avg" in said
    assert "does not matter" in said

    wrong = _Logged([{"loss/policy_avg": 0.25, "env/reward_mean": 1.0}, {"loss/policy_avg": 0.5,
                                                                       "env/reward_mean": 2.5}])
    assert not answers.same_run(reference, wrong)
    said = answers._comparison(reference, wrong)
    assert "differs" in said and "iteration 1 (env/reward_mean)" in said and "0.5" in said

    other_text = _Logged([{"loss/policy_avg": 0.25, "env/reward_mean": 1.0}, {"loss/policy_avg": 0.5,
                                                                            "env/reward_mean": 2.0}], ("a bad film",))
    assert not answers.same_run(reference, other_text)
    assert "completions differ" in answers._comparison(reference, other_text)
    assert not answers.same_run(reference, _Logged([{"loss/policy_avg": 0.25, "env/reward_mean": 1.0}]))
    nan = _Logged([{"loss/policy_avg": 0.25, "env/reward_mean": float("nan")}, {"loss/policy_avg": 0.5,
                                                                                  "env/reward_mean": 2.0}])
    assert answers.run_differences(reference, nan) == {"env/reward_mean": (0, float("inf"))}
    assert answers.same_run(nan, nan) and not answers.same_run(reference, nan)
