"""Figures against wall-clock time compare runs timed under the same conditions (issue 32, point 3):
`timed_together` retimes each group's first iterations now, side by side, and rescales each run's seconds."""
import dataclasses

import pytest

from ppo_lab.config import PPOConfig
from ppo_lab.rl import cache, experiments
from ppo_lab.rl.loop import Run

CI = dict(iterations=3, batch_size=8, minibatch_size=4, response_length=6, ppo_epochs=1)


def fake_run(seconds, method="ppo", **config) -> Run:
    history = [{"iteration": i, "time/iteration": s, "env/reward_mean": 0.1 * i} for i, s in enumerate(seconds)]
    return Run(PPOConfig.preset("ci", **{**CI, **config}), models=None, history=history, status="finished",
               method=method)


@pytest.fixture
def clock(monkeypatch):
    """Retraining answers with fixed seconds per iteration by method: PPO 1.0 s now, DPO 0.25 s now."""
    now = {"ppo": 1.0, "dpo": 0.25}
    calls = []

    def retrain(config, models, *, use_cache=True, method="ppo", **kwargs):
        calls.append((config.iterations, method, use_cache))
        return fake_run([9.0] + [now[method]] * (config.iterations - 1), method)   # a slow first iteration

    monkeypatch.setattr(cache, "cached_train", retrain)
    return calls


def test_runs_trained_under_other_loads_come_back_on_one_clock(clock):
    # PPO from a cache warmed under 4x the load (4 s an iteration), DPO trained now (0.25 s): as logged, DPO
    # looks 16x cheaper; timed together, 4x, what the fresh iterations show
    # PPO's second seed trained at yet another moment (2 s an iteration): each run comes to the same clock
    groups = {"PPO": [fake_run([5.0, 4.0, 4.0]), fake_run([3.0, 2.0, 2.0], seed=1)],
              "DPO": [fake_run([3.0, 0.25, 0.25], "dpo")]}
    timed = experiments.timed_together(groups, models=None, iterations=1, repeats=2)
    assert [r.metric("time/iteration") for r in timed["PPO"]] == [[1.25, 1.0, 1.0], [1.5, 1.0, 1.0]]
    assert timed["DPO"][0].metric("time/iteration") == [3.0, 0.25, 0.25]
    assert timed["PPO"][0].metric(experiments.AS_TRAINED) == [5.0, 4.0, 4.0]       # the logged seconds are kept
    assert groups["PPO"][0].metric("time/iteration") == [5.0, 4.0, 4.0]          # the runs given are unchanged
    assert "time/iteration (as trained)" not in groups["PPO"][0].history[0]
    # each group's first run, 2 iterations, never from the cache, the groups interleaved, twice
    assert clock == [(2, "ppo", False), (2, "dpo", False)] * 2


def test_retiming_twice_rescales_from_the_seconds_as_trained(clock):
    groups = {"PPO": [fake_run([5.0, 4.0, 4.0])]}
    once = experiments.timed_together(groups, models=None)
    twice = experiments.timed_together(once, models=None)
    assert twice["PPO"][0].metric("time/iteration") == once["PPO"][0].metric("time/iteration")
    assert twice["PPO"][0].metric(experiments.AS_TRAINED) == [5.0, 4.0, 4.0]


def test_a_one_iteration_run_is_timed_by_that_iteration(clock):
    timed = experiments.timed_together({"PPO": [fake_run([2.0])]}, models=None, iterations=3)
    assert timed["PPO"][0].metric("time/iteration") == [9.0]          # 1 iteration retrained: 9 s now, 2 s logged × 4.5
    assert clock[0] == (1, "ppo", False)


@pytest.mark.parametrize("groups", [{}, {"PPO": []}, {"PPO": [dataclasses.replace(fake_run([1.0]), history=[])]},
                                    {"PPO": [fake_run([1.0]), dataclasses.replace(fake_run([1.0]), history=[])]}])
def test_groups_without_a_trained_run_are_refused_by_name(groups):
    with pytest.raises(ValueError, match="timed_together: groups="):
        experiments.timed_together(groups, models=None)


def test_a_run_keeps_the_way_it_trained_through_the_cache(models, tmp_path, monkeypatch):
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path))
    config = PPOConfig.preset("ci", **{**CI, "iterations": 1})
    trained = cache.cached_train(config, models, method="dpo", progress=False)
    loaded = cache.cached_train(config, models, method="dpo", progress=False)
    assert trained.method == loaded.method == "dpo"
    assert cache.cached_train(config, models, progress=False).method == "ppo"
