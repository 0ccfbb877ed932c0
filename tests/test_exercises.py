"""The auto-checked exercises accept right answers, reject wrong ones, and never reveal the answer; a check
cell shows only its feedback; stubs are "not answered yet"; every exercise has a difficulty, an expected time,
two tiered hints and a solution that open after a first try, and targeted hints for known slips."""
import math
import re

import numpy as np
import pytest
import torch

from ppo_lab.course import exercises
from ppo_lab.course.exercises import answers
from ppo_lab.course.plots import clip_objective
from ppo_lab.maths.losses import policy_loss


def trl_batch_args(batch_size, minibatch_size):
    return {"per_device_train_batch_size": minibatch_size, "gradient_accumulation_steps": 1,
            "steps_per_generation": batch_size // minibatch_size}


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
    "01.preference_probability": lambda c, r: 0.5 * (1 + math.tanh((c - r) / 2)),   # σ, stable for any gap
    "05.uniform8": 2.079,
    "05.temperature": "higher",
    "05.distinct_1": lambda texts: len({w for t in texts for w in t.split()}) / sum(len(t.split()) for t in texts),
    "06.total_loss": 0.67,
    "06.k1": 1.0,
    "06.adaptive": 0.105,
    "06.k3": lambda lp, ref: math.expm1(ref - lp) - (ref - lp),
    "08.adam_gb": 24.92,
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
    "01.bt_loss": 0.881,           # σ(2) itself: the −log forgotten
    "01.shift": 5,
    "01.preference_probability": lambda c, r: 1 / (1 + math.exp(c - r)),
    "05.uniform8": 3.0,            # log2(8): bits, not nats
    "05.temperature": "lower",
    "05.distinct_1": lambda texts: sum(len(set(t.split())) / len(t.split()) for t in texts) / len(texts),  # per text
    "06.total_loss": 0.73,         # + c2·S instead of − c2·S
    "06.k1": -1.0,                 # log π_ref − log π
    "06.adaptive": 0.125,          # the error left unclipped
    "06.k3": lambda lp, ref: math.expm1(lp - ref) - (lp - ref),  # r the wrong way round
    "08.adam_gb": 6.23,             # the weights alone
    "08.logits_mb": 39.4,           # 1 byte per number instead of 4
    # takes TRL's per-device batch for our whole rollout (TRL 1.12's PPO habit): one step would be 64, not 16
    "08.trl_batch_args": lambda b, m: {"per_device_train_batch_size": b, "gradient_accumulation_steps": 1,
                                       "steps_per_generation": b // m},
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answer_passes_and_wrong_answer_gets_a_hint(name, capsys):
    assert exercises.check(name, RIGHT[name])
    assert not exercises.check(name, WRONG[name])
    out = capsys.readouterr().out
    assert "right!" in out and "hint:" in out


def test_float_batch_args_are_refused():
    def floats(b, m):
        return {"per_device_train_batch_size": m, "gradient_accumulation_steps": 1, "steps_per_generation": b / m}
    assert not exercises.check("08.trl_batch_args", floats)


def test_hints_do_not_give_the_numbers_away():
    for name, answer in (("08.adam_gb", "24.9"), ("08.logits_mb", "157")):
        ex = exercises.EXERCISES[name]
        assert answer not in ex.hint and answer not in ex.question
    for name, answer in RIGHT.items():   # neither hint shows a numeric or text answer; its solution does
        shown = str(answer)
        if not callable(answer) and len(shown) >= 3 and shown not in ("0.0", "1.0"):
            assert all(shown not in h for h in exercises.EXERCISES[name].hints), name


def test_use_impl_picks_the_learners_function_once_implemented(capsys):
    from ppo_lab.maths.losses import entropy

    def not_yet(logits, mask):
        raise NotImplementedError("your code here")

    def mine(logits, mask):
        return entropy(logits, mask)

    def stub(logits, mask):
        return None  # your code here

    assert exercises.use_impl("entropy", not_yet) is entropy
    assert exercises.use_impl("entropy", stub) is entropy
    assert exercises.use_impl("entropy", mine) is mine
    out = capsys.readouterr().out
    assert out.count("package's own") == 2 and "YOUR mine" in out
    with pytest.raises(KeyError, match="valid"):
        exercises.use_impl("nothing", mine)


def test_unanswered_and_crashing_answers_do_not_raise(capsys):
    assert not exercises.check("00.steps", None)
    assert not exercises.check("00.fraction_positive", lambda s, t: 1 / 0)
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


# ---------------------------------------------------------------- what a check cell shows; stubs
@pytest.fixture(autouse=True)
def fresh_progress():
    """Each test starts in a kernel that has tried no exercise yet."""
    answers.PROGRESS.clear()
    yield
    answers.PROGRESS.clear()


FUNCTIONS = sorted(n for n, ex in exercises.EXERCISES.items() if ex.question.startswith("Write"))


def test_a_check_cell_shows_only_its_feedback(capsys):
    from IPython.core.formatters import DisplayFormatter

    shown = DisplayFormatter().format
    assert shown(True)[0] == {"text/plain": "True"}          # what a bool at the end of a cell would add
    right, wrong = exercises.check("00.steps", 16), exercises.check("00.steps", 4)
    assert right and not wrong and shown(right) == shown(wrong) == ({}, {})
    assert repr(right) == "Verdict(right=True)" and shown(exercises.check_impl("gae", None)) == ({}, {})
    out = capsys.readouterr().out
    assert "True" not in out and "False" not in out and "Verdict" not in out
    assert not answers.passed("00.steps")                   # the last answer was wrong
    exercises.check("00.steps", 16.0)
    assert answers.passed("00.steps") and not answers.passed("01.bt_loss")
    with pytest.raises(KeyError, match="valid"):
        answers.passed("99.none")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_untouched_stub_is_not_answered_yet(name, capsys):
    def stub(*args):
        return None  # your code here

    def todo(*args):
        raise NotImplementedError

    assert not exercises.check(name, stub) and not exercises.check(name, todo)
    out = capsys.readouterr().out
    assert out.count("not answered yet — replace `return None` with your code") == 2, out
    assert "raised" not in out and "hint:" not in out and "NoneType" not in out
    assert name not in answers.PROGRESS                     # no try counted: hints stay closed


def test_a_function_that_returns_none_for_some_inputs_is_told_so(capsys):
    def partial(scores, threshold):
        if len(scores) > 2:
            return (scores > threshold).float().mean().item()
        # forgot the return here

    assert not exercises.check("00.fraction_positive", partial)
    assert "returned None for some input: is a `return` missing" in capsys.readouterr().out


# ---------------------------------------------------------------- difficulty, tiered hints, solutions
def test_every_exercise_has_a_difficulty_a_time_two_hints_and_a_solution(capsys):
    for name, ex in exercises.EXERCISES.items():
        assert ex.stars in (1, 2, 3) and 1 <= ex.minutes <= 60, name
        assert len(ex.hints) == 2 and ex.hints[0] != ex.hints[1] and min(map(len, ex.hints)) > 30, name
        assert len(ex.solution) > 30, name
    assert exercises.EXERCISES["07.capstone"].stars == 3
    exercises.check("01.bt_loss", None)
    exercises.check("06.k3", lambda lp, ref: 1 / 0)
    out = capsys.readouterr().out
    assert "[01.bt_loss · ★☆☆ · ~3 min] not answered yet: r_chosen = 2" in out
    assert "[06.k3 · ★★☆ · ~5 min] your answer raised ZeroDivisionError" in out
    with pytest.raises(ValueError, match="stars must be 1–3"):
        answers.Exercise("q?", None, ("a", "b"), "s", stars=4)


def test_hints_open_after_a_try_then_grow_stronger_then_the_solution(capsys):
    name = "01.preference_probability"
    ex = exercises.EXERCISES[name]
    exercises.hint(name)
    exercises.solution(name)
    exercises.check(name, None)                               # not answered: no try
    exercises.hint(name)
    out = capsys.readouterr().out
    assert out.count("try it first: run the check with your answer") == 3
    assert ex.hints[0] not in out and ex.solution not in out

    exercises.check(name, lambda c, r: 1 / (1 + math.exp(-c)))   # wrong, and no known slip
    out = capsys.readouterr().out
    assert f"hint: {ex.hints[0]}" in out and f'lab.exercises.hint("{name}")' in out and ex.hints[1] not in out
    exercises.hint(name)
    out = capsys.readouterr().out
    assert f"hint 2 of 2: {ex.hints[1]}" in out and f'lab.exercises.solution("{name}")' in out
    exercises.check(name, lambda c, r: 0.5)
    out = capsys.readouterr().out
    assert f"hint: {ex.hints[1]}" in out and "still stuck?" in out
    exercises.solution(name)
    assert "def preference_probability(r_chosen, r_rejected):" in capsys.readouterr().out
    assert answers.PROGRESS[name] == {"tries": 2, "right": False, "hints": 2}


def test_an_overflowing_sigmoid_gets_its_targeted_hint_then_a_stronger_one(capsys):
    name = "01.preference_probability"
    answers.PROGRESS.pop(name, None)
    assert not exercises.check(name, lambda c, r: 1 / (1 + math.exp(-(c - r))))     # right until a gap of −800
    out = capsys.readouterr().out
    assert "OverflowError" in out and "a gap of −800 overflows" in out
    exercises.hint(name)                                        # the targeted hint stood for hint 1: now hint 2
    assert f"hint 2 of 2: {exercises.EXERCISES[name].hints[1]}" in capsys.readouterr().out
    answers.PROGRESS.pop(name, None)


def test_the_first_hint_is_a_nudge_the_second_the_formula():
    first, second = exercises.EXERCISES["01.preference_probability"].hints
    assert "sigmoid of something" in first and "r_chosen − r_rejected" not in first
    assert "σ(r_chosen − r_rejected)" in second


def test_a_right_answer_opens_the_hints_and_the_solution_too(capsys):
    exercises.check("00.steps", 16)
    exercises.hint("00.steps")
    exercises.solution("00.steps")
    out = capsys.readouterr().out
    assert "right!" in out and "hint 1 of 2" in out and "16 optimiser steps" in out and "try it first" not in out


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_code_solution_passes_its_own_check(name, capsys):
    namespace = {}
    exec(exercises.EXERCISES[name].solution, namespace)
    function = re.search(r"Write `?(\w+)\(", exercises.EXERCISES[name].question).group(1)
    assert exercises.check(name, namespace[function])


def test_every_worked_solution_reaches_the_answer():
    for name, answer in RIGHT.items():
        if not callable(answer):
            assert str(answer) in exercises.EXERCISES[name].solution, name


SLIPS = {  # exercise: [(a wrong answer that betrays a known slip, what its targeted first hint says)]
    "00.steps": [(4, "ONE epoch"), (64, "number of completions")],
    "00.fraction_positive": [(WRONG["00.fraction_positive"], "use >, not >="),
                             (lambda s, t: (s > t).float().sum().item(), "divides by the number of scores")],
    "01.bt_loss": [(0.881, "That is σ(2)"), (2.127, "That is −log σ(−2)"), (0.0551, "−log₁₀"), (0.1831, "−log₂ (bits)"),
                   (-0.127, "check the sign")],
    "01.shift": [(5, "fraction of pairs")],
    "01.preference_probability": [(lambda c, r: 1 / (1 + math.exp(-(c - r))), "a gap of −800 overflows"),
                                  (WRONG["01.preference_probability"], "σ(r_rejected − r_chosen)"),
                                  (lambda c, r: math.exp(c - r), "between 0 and 1")],
    "02.gae_sum": [(0, "answer for λ = 0")],
    "02.gae_td": [(1, "answer for λ = 1")],
    "02.td_errors": [(WRONG["02.td_errors"], "V after the end is 0"),
                     (lambda r, v, g: [-x for x in RIGHT["02.td_errors"](r, v, g)], "target minus the prediction")],
    "03.clipped_value": [(0.5, "without the clip"), (3.24, "HALF")],
    "03.ev_zero": [(1, "perfect value head")],
    "03.plain_value_loss": [(WRONG["03.plain_value_loss"], "forgot the ½"),
                            (lambda v, r: 0.5 * sum((a - b) ** 2 for a, b in zip(v, r)), "don't only add them up")],
    "04.grad_above": [(1, "inside the trust region")],
    "04.zero_case": [("A<0, r>1+eps", "UNclipped"), ("a>0,r<1-eps", "UNclipped")],
    "04.clipped_objective": [(lambda r, a, e: max(r * a, max(min(r, 1 + e), 1 - e) * a), "MIN of the two"),
                             (WRONG["04.clipped_objective"], "not the advantage")],
    "05.uniform8": [(3.0, "That is in bits (log₂); the course measures entropy in nats (natural log"),
                    (0.903, "log₁₀"), (0.125, "probability of one token"), (0.26, "one token's term")],
    "05.temperature": [("lower", "what T < 1 does")],
    "05.distinct_1": [(WRONG["05.distinct_1"], "one ratio per text"),
                      (lambda texts: len(set(texts)) / sum(len(t.split()) for t in texts), "not distinct texts")],
    "06.total_loss": [(0.73, "SUBTRACTED"), (2.47, "by c1 = 0.1"), (0.27, "ADDED")],
    "06.k1": [(-1, "the policy's log-prob first"), (2.718, "no exp")],
    "06.adaptive": [(0.125, "Clip the error"), (0.12, "n/H"), (0.095, "must grow")],
    "06.k3": [(WRONG["06.k3"], "the reference on top"),
              (lambda lp, ref: -(math.expm1(ref - lp) - (ref - lp)), "never negative")],
    "07.first_ratio": [(0, "log-ratio")],
    "08.adam_gb": [(6.23, "4N bytes, the weights alone"), (12.46, "8N bytes, weights and gradients"),
                   (18.69, "TWO moments"), (31.15, "frozen reference"), (23.21, "GiB"), (24_921_779_200, "in bytes")],
    "08.logits_mb": [(39.4, "1 byte per number"), (154.4, "49 positions"), (150.3, "MiB")],
    "08.trl_batch_args": [(WRONG["08.trl_batch_args"], "not the whole rollout"),
                          (lambda b, m: {"per_device_train_batch_size": m, "gradient_accumulation_steps": 1,
                                         "steps_per_generation": b / m}, "whole numbers")],
    "09.grpo_by_hand": [(0.75, "Dr. GRPO's advantage"), (1.732, "population std"), (1.0, "RLOO's advantage")],
    "09.zero_variance": [(0.2401, "only the all-fail"), (0.0081, "only the all-pass"), (0.7518, "DO give a signal")],
    "09.rloo_factor": [(0.75, "upside down"), (1.0, "changes the advantage")],
    "09.length_weight": [(1, "token_mean (or constant)"), (0.2, "Upside down")],
    "10.dpo_by_hand": [(0.6931, "the loss at z = 0"), (0.3, "the margin z"), (0.8544, "the sign is flipped"),
                       (0.6444, "subtracting it adds 1")],
    "10.optimal_ratio": [(1.649, "multiplies by β"), (2.0, "the exponent")],
    "10.gradient_weight": [(0.9526, "ranked WRONG by 3"), (0.5, "the weight at z = 0")],
    "10.implicit_preference": [(0.6, "the margin r_w − r_l"), (0.5498, "subtracting a negative adds")],
    "11.pass_at_k_by_hand": [(0.64, "WITH replacement"), (0.4, "pass@1 = c/n"), (0.3, "one minus it"),
                             (0.9, "both are WRONG")],
    "11.zero_variance": [(0.3289, "only 'all right'"), (0.2049, "only 'all wrong'"), (0.1325, "average accuracy")],
    "11.grpo_advantage": [(0.75, "before dividing"), (1.732, "divides by G = 8"), (-0.54, "a WRONG answer")],
    "11.forgot_carry": [(0.3, "only the carried sums"), (0.31, "the greedy accuracy")],
}


def test_every_known_slip_gets_its_targeted_hint(capsys):
    assert {n for n, ex in exercises.EXERCISES.items() if ex.mistakes} == set(SLIPS)
    for name, slips in SLIPS.items():
        assert len(slips) >= len(exercises.EXERCISES[name].mistakes), name   # a slip per detector (or more)
        for answer, says in slips:
            assert not exercises.check(name, answer), (name, answer)
            out = capsys.readouterr().out
            assert "  hint: " in out and says in out.split("  hint: ")[1].splitlines()[0], (name, answer, out)
            assert exercises.EXERCISES[name].hints[0] not in out, (name, answer)
