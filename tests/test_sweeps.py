"""Sweeps: every grid field takes effect or is refused up front; bands over runs of unequal length; Ctrl-C
writes the report of what finished and exits 130."""
import json
import os
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection

from ppo_lab.cli import main as cli, reports
from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.course import plots
from ppo_lab.course.dashboard import (
    HEALTHY,
    dashboard as lab_dashboard,
)
from ppo_lab.rl import cache, experiments
from ppo_lab.rl.loop import Run
from ppo_lab.world.models import AssetError

SMALL = ["--preset", "ci", "--set", "iterations=2", "--set", "batch_size=4", "--set", "minibatch_size=2",
         "--set", "ppo_epochs=1", "--set", "response_length=8", "--set", "sample_every=1", "--set", "num_samples=2"]
TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8)
METRICS = set(HEALTHY) | set(reports.SUMMARY) | {"gold/vader_mean"}
STOPPED = "stopped at iteration 1: loss/total became non-finite (NaN or inf). The last good weights …"


def fake_run(values, status="finished", seed=0, config=TINY):
    """A Run with a made-up history (every metric takes `values` in turn): plots without training."""
    history = [{**{m: float(v) for m in METRICS}, "iteration": i, "time/iteration": 1.0} for i, v in enumerate(values)]
    return Run(config.replace(seed=seed), None, history, status=status)


def escaped_ctrl_c(call, *args, **kwargs):
    """`call(...)`, with a KeyboardInterrupt that escapes it turned into a test failure (not pytest's own stop)."""
    try:
        return call(*args, **kwargs)
    except KeyboardInterrupt:
        pytest.fail(f"Ctrl-C escaped {call.__name__}: nothing was written and no exit code was chosen")


@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to train fails the test: proves a check happens before the first run."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run was trained before the bad setting was refused")
    monkeypatch.setattr(cache, "cached_train", refuse)


# ====================================================================== bands over ragged runs
def test_seed_band_over_runs_of_unequal_length_averages_the_runs_that_reached_each_iteration():
    fig, ax = plt.subplots()
    line = plots.seed_band(ax, [fake_run([0, 1, 2, 3]), fake_run([10, 11], STOPPED, seed=1)], "env/reward_mean", "g")
    assert np.allclose(line.get_ydata(), [5, 6, 2, 3])
    band, = [c for c in ax.collections if isinstance(c, PolyCollection)]
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (low, high) == (0, 11)
    assert line.get_label() == "g (mean of 2 seeds; 1 stopped at iteration 2)"
    plt.close(fig)


def test_one_seed_says_1_seed_and_draws_no_band():
    fig, ax = plt.subplots()
    line = plots.seed_band(ax, [fake_run([1, 2])], "env/reward_mean", "clip_eps=0.2")
    assert line.get_label() == "clip_eps=0.2 (1 seed)"
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    line = plots.seed_band(ax, [fake_run([1, 2]), fake_run([3, 4], seed=1)], "env/reward_mean", "both")
    assert line.get_label() == "both (mean of 2 seeds)"
    plt.close(fig)


def test_a_lone_run_that_stopped_early_says_so_and_its_one_point_is_visible():
    fig, ax = plt.subplots()
    line = plots.seed_band(ax, [fake_run([7], "interrupted: the run keeps its 1 completed iterations")],
                           "env/reward_mean", "clip_eps=0.2")
    assert line.get_label() == "clip_eps=0.2 (1 seed; 1 stopped at iteration 1)" and line.get_marker() == "o"
    plt.close(fig)
    fig = lab_dashboard(fake_run([7, 8], STOPPED))
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == "run (1 stopped at iteration 2)"
    plt.close(fig)


@pytest.mark.parametrize("status, shown", [("interrupted: the run keeps its 0 completed iterations", "interrupted"),
                                           ("stopped at iteration 0: advantages became non-finite (NaN or inf)",
                                            "stopped at iteration 0")])
def test_a_run_with_no_history_is_skipped_with_its_status(status, shown):
    fig, ax = plt.subplots()
    line = plots.seed_band(ax, [fake_run([1, 2, 3]), fake_run([], status, seed=1)], "objective/kl", "g")
    assert line.get_label() == f"g (1 seed; 1 skipped, no iterations: {shown})"
    assert np.allclose(line.get_ydata(), [1, 2, 3])
    line = plots.seed_band(ax, [fake_run([], status)], "objective/kl", "only")
    assert line.get_label() == f"only (1 skipped, no iterations: {shown})" and len(line.get_ydata()) == 0
    plt.close(fig)


def test_every_group_plot_takes_ragged_and_empty_runs():
    groups = {"a": [fake_run([0, 1, 2]), fake_run([5], STOPPED, seed=1), fake_run([], "interrupted: …", seed=2)],
              "b": [fake_run([1, 2])]}
    for x in ("iteration", "seconds", "objective/kl"):
        fig = plots.curves(groups, ["env/reward_mean", "objective/kl"], "c", x=x)
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert any("mean of 2 seeds; 1 stopped at iteration 1; 1 skipped, no iterations: interrupted" in t
                   for t in labels), (x, labels)
        plt.close(fig)


def test_curves_along_seconds_and_along_another_metric():
    a = [Run(TINY, None, [{"time/iteration": 2.0, "env/reward_mean": r, "objective/kl": 10 * r}
                          for r in (0.0, 1.0, 2.0)], status="finished")] * 2
    fig = plots.curves({"a": a}, ["env/reward_mean"], "title", x="seconds")
    x, y = fig.axes[0].lines[0].get_data()
    assert list(x) == [2.0, 4.0, 6.0] and list(y) == [0.0, 1.0, 2.0]        # cumulative seconds, mean over seeds
    assert fig.axes[0].get_xlabel().startswith("seconds") and fig._suptitle.get_text() == "title"
    plt.close(fig)
    fig = plots.curves({"a": a}, ["env/reward_mean"], "path", x="objective/kl")
    path, star = fig.axes[0].lines[:2]
    assert list(path.get_xdata()) == [0.0, 10.0, 20.0] and list(path.get_ydata()) == [0.0, 1.0, 2.0]
    assert list(star.get_xdata()) == [20.0] and star.get_marker() == "*"           # the last iteration
    assert "KL" in fig.axes[0].get_xlabel()
    assert "last iteration" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)


def test_pairwise_accuracy_curves_use_the_same_ragged_band():
    full = SimpleNamespace(history=[(0, 0.5), (10, 0.6), (20, 0.7)])
    short, empty = SimpleNamespace(history=[(0, 0.7)]), SimpleNamespace(history=[])
    fig = plots.pairwise_accuracy_curves({"clean": [full, short], "one": [full, empty]}, "acc")
    clean, one = fig.axes[0].get_lines()[:2]
    assert np.allclose(clean.get_xdata(), [0, 10, 20]) and np.allclose(clean.get_ydata(), [0.6, 0.6, 0.7])
    assert clean.get_label() == "clean (mean of 2 seeds; 1 stopped at evaluation 1)"
    assert one.get_label() == "one (1 seed; 1 skipped, no evaluations)"
    assert len([c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]) == 1
    plt.close(fig)


def test_summary_and_final_means_cope_with_ragged_and_empty_runs():
    runs = [fake_run([0, 1, 2]), fake_run([5, 6], STOPPED, seed=1), fake_run([], "interrupted: …", seed=2)]
    runs[0].history[-1].pop("val/explained_variance")                     # a metric an older run lacks
    runs[1].history[-1]["val/explained_variance"] = None                  # read back from a strict JSON
    assert reports.final_means(runs, "env/reward_mean") == 4.0                # (2 + 6) / 2: each run's last iteration
    assert np.isnan(reports.final_means(runs, "val/explained_variance"))
    summary = reports.summary_markdown({"clip_eps=0.2": runs}, "clip_eps")
    assert "| clip_eps=0.2 | 3 | 1 | 0–3 | 4.000 |" in summary
    assert f"- clip_eps=0.2, seed 1: {STOPPED}" in summary and "- clip_eps=0.2, seed 2: interrupted: …" in summary
    assert "interrupted (Ctrl-C)" not in summary


# ====================================================================== every grid field takes effect
def test_a_seed_grid_is_refused_with_the_way_to_set_seeds():
    with pytest.raises(ConfigError, match=r"field='seed'.*seeds are set with seeds=\(…\)"):
        experiments.ablation(TINY, "seed", [3, 4], seeds=(0,))


def test_model_and_device_groups_each_load_their_own_models(monkeypatch):
    loads = []

    def fake_load(config):
        loads.append((config.policy, config.reward_model, config.device))
        return SimpleNamespace(key=loads[-1])
    monkeypatch.setattr(experiments, "load_models", fake_load)
    monkeypatch.setattr(experiments, "ready_to_start", lambda models, config, prompts=None: [])
    monkeypatch.setattr(cache, "cached_train", lambda config, models, **kw: Run(config, models, status="finished"))
    groups = experiments.ablation(TINY, "reward_model", ["tiny-reward", "my/reward"], seeds=(0, 1), use_cache=False)
    assert loads == [("tiny-gpt2", "tiny-reward", "cpu"), ("tiny-gpt2", "my/reward", "cpu")]
    assert [r.models.key[1] for r in groups["reward_model=my/reward"]] == ["my/reward", "my/reward"]
    assert [r.config.seed for r in groups["reward_model=tiny-reward"]] == [0, 1]
    loads.clear()
    groups = experiments.ablation(TINY, "device", ["cpu", "auto"], seeds=(0,), use_cache=False)
    assert loads == [("tiny-gpt2", "tiny-reward", "cpu"), ("tiny-gpt2", "tiny-reward", "auto")]
    loads.clear()
    experiments.ablation(TINY, "clip_eps", [0.1, 0.2, None], seeds=(0,), use_cache=False)
    assert len(loads) == 1                                                 # other fields share one load


@pytest.mark.parametrize("field, values, message", [
    ("response_length", [8, 100], "response_length=100 with prompt_length=8 exceeds the policy's context of 64"),
    ("prompt_length", [8, 1], "prompt_length=1: no held-out prompt is that short"),
])
def test_a_group_that_cannot_start_fails_before_any_group_trains(field, values, message, monkeypatch):
    """Each value is valid alone, but the run cannot start: it used to fail after the groups before it."""
    def refuse(*args, **kwargs):
        raise AssertionError("a group trained before the bad one was refused")
    monkeypatch.setattr(cache, "cached_train", refuse)
    with pytest.raises(ConfigError, match=message):
        experiments.ablation(TINY, field, values, seeds=(0,), use_cache=False)


@pytest.mark.parametrize("field, values, error, message", [
    ("reward_model", ["tiny-reward", "/nonexistent"], AssetError, "reward_model='/nonexistent': no such folder"),
    ("policy", ["tiny-gpt2", "/nonexistent"], AssetError, "policy='/nonexistent': no such folder"),
    ("device", ["cpu", "cuda"], ConfigError, "device='cuda' but no CUDA GPU"),
    ("clip_eps", [0.2, 0.2], ConfigError, "clip_eps=0.2 is listed twice"),
    ("clip_eps", [0.2, -1.0], ConfigError, "clip_eps=-1.0 is out of range"),
    ("no_such_field", [1], ConfigError, "'no_such_field' is not a config field"),
    ("clip_eps", [0.2], ConfigError, r"seeds=\(\) is empty"),
])
def test_ablation_checks_every_group_before_any_training(field, values, error, message, monkeypatch, no_training):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(error, match=message):
        experiments.ablation(TINY, field, values, seeds=() if "empty" in message else (0,))


def test_ablation_checks_every_seed_before_any_training(no_training):
    with pytest.raises(ConfigError, match="seed=4294967296 is out of range"):
        experiments.ablation(TINY, "clip_eps", [0.2], seeds=(2**32 - 1, 2**32))


@pytest.mark.parametrize("grid, code, message", [
    ("reward_model=tiny-reward,/nonexistent", 1, "error: reward_model='/nonexistent': no such folder"),
    ("device=cpu,cuda", 2, "error: device='cuda' but no CUDA GPU is available here"),
    ("seed=3,4", 2, "error: --grid seed=3,4: seeds are set with --seed S --seeds N (runs S … S+N−1); grid another "
                    "field"),
])
def test_sweep_refuses_a_grid_value_that_cannot_take_effect(grid, code, message, tmp_path, capsys, monkeypatch,
                                                             no_training):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["sweep", *SMALL, "--grid", grid, "--seeds", "1", "--out", str(tmp_path / "s")]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "s" / "histories.json").exists()


# ====================================================================== Ctrl-C
def test_over_seeds_and_ablation_stop_launching_runs_after_ctrl_c(monkeypatch):
    calls = []

    def fake_train(config, models, **kwargs):
        calls.append(config.seed)
        if len(calls) == 2:
            return Run(config, models, [{"iteration": 0}], status="interrupted: the run keeps its 1 completed …")
        if len(calls) == 4:
            raise KeyboardInterrupt
        return Run(config, models, [{"iteration": 0}, {"iteration": 1}], status="finished")
    monkeypatch.setattr(cache, "cached_train", fake_train)
    runs = escaped_ctrl_c(experiments.over_seeds, TINY, (0, 1, 2), models=object(), use_cache=False)
    assert [r.status[:11] for r in runs] == ["finished", "interrupted"] and calls == [0, 1]
    groups = escaped_ctrl_c(experiments.ablation, TINY, "clip_eps", [0.1, 0.2, 0.3], seeds=(0,), use_cache=False)
    assert list(groups) == ["clip_eps=0.1", "clip_eps=0.2"] and calls == [0, 1, 0, 0]
    stopped, = groups["clip_eps=0.2"]
    assert stopped.history == [] and stopped.status.startswith("interrupted: before its first iteration")


def test_sweep_interrupted_inside_training_writes_the_report_and_exits_130(tmp_path, capsys, ctrl_c_at):
    calls = ctrl_c_at(4)                                # Ctrl-C in the second iteration of the second group
    out = tmp_path / "sweep"
    args = ["sweep", *SMALL, "--grid", "clip_eps=0.2,0.1,none", "--seeds", "1", "--no-cache", "--out", str(out)]
    assert cli.main(args) == 130
    assert len(calls) == 4                                                 # the third group never started
    assert sorted(os.listdir(out)) == ["comparison.png", "dashboard.png", "histories.json", "summary.md"]
    histories = json.loads((out / "histories.json").read_text())
    assert {k: [len(h) for h in v] for k, v in histories.items()} == {"clip_eps=0.2": [2], "clip_eps=0.1": [1]}
    summary = (out / "summary.md").read_text()
    assert "**The sweep was interrupted (Ctrl-C)**" in summary and "Missing (never trained): clip_eps=None." in summary
    assert "| clip_eps=0.1 | 1 | 0 | 1 |" in summary and "- clip_eps=0.1, seed 0: interrupted:" in summary
    err = capsys.readouterr().err
    assert f"interrupted (Ctrl-C): report of the runs trained so far in {out}: comparison.png dashboard.png " \
           "summary.md histories.json; missing: clip_eps=None" in err


def test_sweep_interrupted_outside_training_writes_what_it_has(tmp_path, capsys, monkeypatch):
    def loading(config):
        raise KeyboardInterrupt
    monkeypatch.setattr(experiments, "load_models", loading)
    out = tmp_path / "sweep"
    args = ["sweep", *SMALL, "--grid", "clip_eps=0.2,none", "--seeds", "2", "--out", str(out)]
    assert escaped_ctrl_c(cli.main, args) == 130
    assert sorted(os.listdir(out)) == ["histories.json", "summary.md"]    # no run: nothing to plot
    assert json.loads((out / "histories.json").read_text()) == {}
    assert "Missing (never trained): clip_eps=0.2, clip_eps=None." in (out / "summary.md").read_text()
    assert "missing: clip_eps=0.2, clip_eps=None" in capsys.readouterr().err


def test_ctrl_c_while_hashing_the_starting_weights_keeps_the_groups_already_trained(monkeypatch):
    calls = []

    def checksum(models):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return "sha"
    monkeypatch.setattr(experiments, "load_models", lambda config: object())
    monkeypatch.setattr(experiments, "ready_to_start", lambda models, config, prompts=None: [])
    monkeypatch.setattr(cache, "weights_checksum", checksum)
    monkeypatch.setattr(cache, "cached_train", lambda config, models, **kw: Run(config, models, [{}], "finished"))
    groups = escaped_ctrl_c(experiments.ablation, TINY, "vf_coef", [0.1, 1.0, 2.0], seeds=(5, 6))
    assert [len(runs) for runs in groups.values()] == [2, 1] and groups["vf_coef=1.0"][0].config.seed == 5
    assert groups["vf_coef=1.0"][0].status == experiments.OUTSIDE_TRAINING
