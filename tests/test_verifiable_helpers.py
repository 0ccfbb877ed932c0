"""Tests for notebook 11's helpers: held-out sums drawn by `prompts`, the table of sums and answers, a policy's
answers checked (`verifiable.Answers`, `metrics.sample_answers`), runs summed up over seeds (`eval_summary`) and
the figures' one colour per method. Values worked by hand; the model is the bundled 0.6 M-parameter tiny-arith."""
from __future__ import annotations

import math
import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest
import torch

from ppo_lab.config import PPOConfig
from ppo_lab.course.plots.style import BAND, method_colour
from ppo_lab.course.plots.verifiable import eval_curves, pass_at_k_curves
from ppo_lab.rl import metrics
from ppo_lab.rl.experiments import Spread, eval_points, eval_summary, logged_mean
from ppo_lab.rl.loop import Run
from ppo_lab.rl.rollout import complete
from ppo_lab.world import verifiable as v
from ppo_lab.world.models import load_models


# ------------------------------------------------------------------ the world: sums drawn, sums described
def test_prompts_draws_n_sums_without_replacement_a_fixed_draw_per_seed():
    every = v.prompts("held_out")
    drawn = v.prompts("held_out", n=5, seed=3)
    assert drawn == random.Random(3).sample(every, 5) and len(set(drawn)) == 5 and set(drawn) <= set(every)
    assert v.prompts("held_out", n=5, seed=3) == drawn != v.prompts("held_out", n=5, seed=4)
    assert sorted(v.prompts("train", n=len(v.prompts("train")))) == sorted(v.prompts("train"))
    for bad in (0, len(every) + 1):
        with pytest.raises(ValueError, match=f"n={bad}: valid 1 ≤ n ≤ {len(every)}"):
            v.prompts("held_out", n=bad)
    with pytest.raises(ValueError, match="n=2.5"):
        v.prompts("held_out", n=2.5)


def test_sum_rows_by_hand():
    rows = v.sum_rows(["47+68=", "23+45=", "99+1="], ["5", "68", ""])
    assert rows == [
        {"sum": "47+68=", "answer": "5", "right answer": "115", "needs a carry": True, "without the carry": "5"},
        {"sum": "23+45=", "answer": "68", "right answer": "68", "needs a carry": False, "without the carry": "68"},
        {"sum": "99+1=", "answer": "", "right answer": "100", "needs a carry": True, "without the carry": "90"}]
    with pytest.raises(ValueError):
        v.sum_rows(["47+68="], ["5", "6"])                      # one answer per sum
    with pytest.raises(ValueError, match="is not a sum"):
        v.sum_rows(["47-68="], ["5"])


# ------------------------------------------------------------------ a policy's answers, checked
ANSWERS = v.Answers(["47+68=", "2+2=", "99+1="], [["115", "5"], ["4", "4"], ["10", "100"]])


def test_answers_are_checked_by_hand():
    assert ANSWERS.correct.tolist() == [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    assert ANSWERS.solved().tolist() == [True, True, True]
    assert v.Answers(["2+2="], [["5", "3"]]).solved().tolist() == [False]
    assert ANSWERS.flat() == (["47+68=", "47+68=", "2+2=", "2+2=", "99+1=", "99+1="],
                              ["115", "5", "4", "4", "10", "100"])
    assert [r["answer"] for r in ANSWERS.rows()] == ["115", "4", "10"]        # each sum's first answer


def test_answers_scores_by_hand():
    # carried sums 47+68 and 99+1: answers 115 ✓, 5 ✗, 10 ✗, 100 ✓ → 1/2; 2+2 (no carry): 4 ✓, 4 ✓ → 1
    # sums past 99 (47+68, 99+1): "5" and "10" are at most two characters → 2 of 4
    # exact-match+format: 115 → 1 + 0, 5 → 0 + 1, 4 → 1 + 1 (twice), 10 → 0 + 1, 100 → 1 + 0: 8 over 6 answers
    scores = ANSWERS.scores(program="exact-match+format")
    assert scores == pytest.approx({"exact match": 4 / 6, "exact match, sums with a carry": 0.5,
                                    "exact match, sums without a carry": 1.0, "short answers to sums past 99": 0.5,
                                    "reward (exact-match+format)": 8 / 6})
    assert "reward (exact-match)" not in ANSWERS.scores() and ANSWERS.scores("exact-match")[
        "reward (exact-match)"] == pytest.approx(4 / 6)
    assert math.isnan(v.Answers(["2+2="], [["4"]]).scores()["exact match, sums with a carry"])   # no carried sum
    with pytest.raises(ValueError, match="reward_model='exact_match'"):
        ANSWERS.scores("exact_match")


def test_answers_pass_at_k_and_no_signal_by_hand():
    # n = 2: pass@1 = mean of c/2 = (1/2 + 1 + 1/2)/3 = 2/3; pass@2 = 1 (every sum has a right answer)
    assert ANSWERS.pass_at_k_curve((1, 2)) == pytest.approx({1: 2 / 3, 2: 1.0})
    seen = []
    ANSWERS.pass_at_k_curve((1,), estimator=lambda n, c, k: seen.append((n, c, k)) or 0.0)
    assert seen == [(2, 1, 1), (2, 2, 1), (2, 1, 1)]                            # a learner's own estimator
    # n = G = 2: the groups themselves, counted: only 2+2's two answers agree → 1 of 3
    assert ANSWERS.no_signal(2) == pytest.approx(1 / 3)
    assert ANSWERS.no_signal(1) == 1.0
    with pytest.raises(ValueError, match="group_size=3"):
        ANSWERS.no_signal(3)


def test_answers_refuse_a_ragged_or_empty_batch():
    with pytest.raises(ValueError, match="0 prompts and 0 lists"):
        v.Answers([], [])
    with pytest.raises(ValueError, match="2 prompts and 1 lists"):
        v.Answers(["2+2=", "1+1="], [["4"]])
    with pytest.raises(ValueError, match=r"completions per prompt \[1, 2\]"):
        v.Answers(["2+2=", "1+1="], [["4"], ["2", "2"]])
    with pytest.raises(ValueError, match=r"completions per prompt \[0\]"):
        v.Answers(["2+2="], [[]])


@pytest.fixture(scope="module")
def arith():
    config = PPOConfig.preset("arithmetic")
    return load_models(config), config


def test_sample_answers_samples_n_answers_per_sum_and_checks_them(arith):
    models, config = arith
    sums = v.prompts("held_out", n=6, seed=0)
    torch.manual_seed(0)
    answers = metrics.sample_answers(models.ref, models.tokenizer, sums, config, n=4)
    torch.manual_seed(0)
    slow = complete(models.ref, models.tokenizer, [p for p in sums for _ in range(4)], config.response_length,
                    config.temperature)
    assert answers.prompts == sums and answers.completions == [slow[i:i + 4] for i in range(0, 24, 4)]
    assert answers.correct.tolist() == [[float(v.parse_answer(c) == sum(v.operands(p))) for c in row]
                                        for p, row in zip(sums, answers.completions)]
    greedy = metrics.sample_answers(models.ref, models.tokenizer, sums, config, greedy=True)
    assert [c[0] for c in greedy.completions] == complete(models.ref, models.tokenizer, sums,
                                                          config.response_length, None)


def test_sample_answers_refuses_impossible_counts(arith):
    models, config = arith
    for n, greedy in ((0, False), (2, True)):
        with pytest.raises(ValueError, match=f"n={n} \\(greedy={greedy}\\)"):
            metrics.sample_answers(models.ref, models.tokenizer, ["2+2="], config, n=n, greedy=greedy)
    with pytest.raises(ValueError, match="n=1.5"):
        metrics.sample_answers(models.ref, models.tokenizer, ["2+2="], config, n=1.5)


# ------------------------------------------------------------------ runs summed up over seeds
def fake_run(seconds: float, accuracy: dict, greedy: float, **per_iteration) -> Run:
    """A run of 4 iterations, each `seconds` long: env/accuracy at the iterations `accuracy` names (greedy at
    the last), and each of `per_iteration`'s metrics at every iteration."""
    history = [{"iteration": i, "time/iteration": seconds, **{k: value for k, value in per_iteration.items()}}
               for i in range(4)]
    for i, value in accuracy.items():
        history[i]["env/accuracy"] = value
        history[i]["env/accuracy_greedy"] = greedy
    return Run(PPOConfig.preset("arithmetic", iterations=4), models=None, history=history)


def groups():
    fast = [fake_run(0.5, {1: 0.6, 3: 0.8}, 0.85, **{"env/zero_std_groups": 0.5}),
            fake_run(0.5, {1: 0.5, 3: 0.9}, 0.95, **{"env/zero_std_groups": 0.25})]
    slow = [fake_run(1.0, {0: 0.4, 3: 0.7}, 0.75, **{"env/zero_std_groups": 0.2, "env/zero_std_groups_sampled": 0.6})]
    return {"GRPO": fast, "GRPO + dynamic sampling (2×)": slow}


def test_eval_points_are_updates_and_seconds_of_training():
    run = fake_run(0.5, {1: 0.6, 3: 0.8}, 0.85)
    # measured after each iteration's update: 2 and 4 updates done, after 1.0 and 2.0 s of training
    assert eval_points(run) == ([2, 4], [1.0, 2.0], [0.6, 0.8])
    assert eval_points(run, start=0.3) == ([0, 2, 4], [0.0, 1.0, 2.0], [0.3, 0.6, 0.8])


def test_spread_and_logged_mean_by_hand():
    assert Spread.of([0.8, 0.9, 0.85]) == Spread(pytest.approx(0.85), pytest.approx(0.05))
    assert repr(Spread(0.823, 0.03)) == "0.823 ± 0.030" and str(Spread(35.24, 7.06)) == "35.2 ± 7.1"
    assert repr(Spread.of([math.nan, math.nan])) == "—" and Spread.of([math.nan, 0.5]) == Spread(0.5, 0.0)
    run = fake_run(0.5, {1: 0.6, 3: 0.8}, 0.85, **{"env/zero_std_groups": 0.25})
    assert logged_mean(run, "env/accuracy") == pytest.approx(0.7) and logged_mean(run, "env/zero_std_groups") == 0.25
    assert math.isnan(logged_mean(run, "env/zero_std_groups_sampled"))


def test_eval_summary_by_hand():
    table = eval_summary(groups(), start=0.4)
    fast, slow = table["GRPO"], table["GRPO + dynamic sampling (2×)"]
    mean = lambda row: {column: round(s.mean, 6) for column, s in row.items()}
    half = lambda row: {column: round(s.half, 6) for column, s in row.items() if not math.isnan(s.half)}
    # the quickest run trained 2.0 s: the slow run's evaluations at 1.0 s (0.4) and 4.0 s (0.7) give 0.5 there
    assert mean(fast) == pytest.approx({"held-out accuracy (end)": 0.85, "greedy (end)": 0.9, "gain (points)": 45,
                                        "seconds of training": 2.0, "mean accuracy over the evaluations": 0.7,
                                        "accuracy at equal seconds": 0.85, "groups with no signal": 0.375,
                                        "sampled groups with no signal": math.nan}, nan_ok=True)
    assert half(fast) == pytest.approx({"held-out accuracy (end)": 0.05, "greedy (end)": 0.05, "gain (points)": 5,
                                        "seconds of training": 0, "mean accuracy over the evaluations": 0,
                                        "accuracy at equal seconds": 0.05, "groups with no signal": 0.125})
    assert mean(slow) == pytest.approx({"held-out accuracy (end)": 0.7, "greedy (end)": 0.75, "gain (points)": 30,
                                        "seconds of training": 4.0, "mean accuracy over the evaluations": 0.55,
                                        "accuracy at equal seconds": 0.5, "groups with no signal": 0.2,
                                        "sampled groups with no signal": 0.6})
    # a column no run logged is left out: no start, no gain; no dynamic sampling, no sampled groups
    assert set(eval_summary({"GRPO": groups()["GRPO"]})["GRPO"]) == {
        "held-out accuracy (end)", "greedy (end)", "seconds of training", "mean accuracy over the evaluations",
        "accuracy at equal seconds", "groups with no signal"}


def test_eval_summary_refuses_groups_without_evaluations():
    with pytest.raises(ValueError, match=r"groups=\[\]"):
        eval_summary({})
    never = fake_run(0.5, {}, 0.0)
    with pytest.raises(ValueError, match=r"of which \['PPO', 'RLOO'\] hold no run or a run never evaluated"):
        eval_summary({"GRPO": groups()["GRPO"], "PPO": [], "RLOO": [never]})


# ------------------------------------------------------------------ one colour per method
def test_method_colour_names_the_method_a_label_names():
    assert method_colour("GRPO") == method_colour("after GRPO") == method_colour("GRPO on exact match") == "C0"
    assert (method_colour("after RLOO"), method_colour("PPO"), method_colour("starting model")) == ("C1", "C2", "grey")
    assert method_colour("GRPO + dynamic sampling (2×)") == "C3"          # its own method, not GRPO's colour
    assert method_colour("G = 2") is None


def same(a, b) -> bool:
    return mcolors.to_rgba(a) == mcolors.to_rgba(b)


def test_pass_at_k_curves_draw_each_method_in_its_colour_with_its_seeds_as_a_band():
    fig = pass_at_k_curves({"starting model": {1: 0.5, 2: 0.7},
                            "after GRPO": [{1: 0.8, 2: 0.9}, {1: 0.6, 2: 0.7}]}, "pass@k")
    ax = fig.axes[0]
    start, grpo = ax.get_lines()
    assert same(start.get_color(), "grey") and same(grpo.get_color(), "C0")
    assert grpo.get_label() == "after GRPO (mean of 2 seeds)" and list(grpo.get_ydata()) == pytest.approx([0.7, 0.8])
    assert [c.get_gid() for c in ax.collections] == [BAND]                 # one band: GRPO's two seeds
    plt.close(fig)


def test_eval_curves_keep_each_methods_colour_in_both_panels():
    runs = groups()
    fig = eval_curves({"RLOO": runs["GRPO"], "GRPO + dynamic sampling (2×)": runs["GRPO + dynamic sampling (2×)"]},
                      "accuracy", start=0.4)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("the starting")]
        assert [mcolors.to_hex(line.get_color()) for line in lines] == [mcolors.to_hex("C1"), mcolors.to_hex("C3")]
    plt.close(fig)
