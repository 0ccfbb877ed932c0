"""The arithmetic world end to end (notebook 11): the bundled tiny-arith, its starting accuracy, the program
reward inside `train`, the metrics, the estimators by one field, the CLI and the clear errors."""
from __future__ import annotations

import json
import os

import pytest
import torch

from ppo_lab.build.arithmetic import NAME, RESPONSE_LENGTH, TEMPERATURE
from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import metrics
from ppo_lab.rl.ppo import train
from ppo_lab.world import assets as bundled, verifiable
from ppo_lab.world.assets import load_tokenizer
from ppo_lab.world.models import load_models

FIGURES = bundled.build_figures()["arithmetic"]


@pytest.fixture(scope="module")
def arith_models():
    return load_models(PPOConfig.preset("arithmetic"))


def short(**changes) -> PPOConfig:
    return PPOConfig.preset("arithmetic", **{"iterations": 2, "batch_size": 32, "minibatch_size": 16, **changes})


def test_tiny_arith_is_small_character_level_and_in_the_manifest():
    files = [rel for rel in bundled.read_manifest() if rel.startswith(NAME + "/")]
    assert f"{NAME}/model.safetensors" in files and not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]
    tok = load_tokenizer(NAME)
    assert tok.convert_ids_to_tokens(tok("47+68=")["input_ids"]) == [tok.eos_token, "4", "7", "+", "6", "8", "="]
    assert tok.decode(tok("47+68=")["input_ids"], skip_special_tokens=True) == "47+68="
    assert tok.pad_token_id != tok.eos_token_id
    assert FIGURES["parameters"] < 2e6 and FIGURES["build_minutes"] <= 15


def test_starting_accuracy_leaves_room_for_rl(arith_models):
    """Held-out exact match at the preset's temperature, measured here (not read from the manifest): 20–60 %."""
    torch.manual_seed(0)
    lm, tok = arith_models.policy.lm, arith_models.tokenizer
    held_out = verifiable.prompts("held_out")
    sampled = metrics.accuracy(lm, tok, held_out, RESPONSE_LENGTH, TEMPERATURE)
    assert 0.2 <= sampled <= 0.6
    assert abs(sampled - FIGURES["held_out_accuracy_sampled"]) < 0.05        # the manifest's figure, any CPU
    greedy = metrics.accuracy(lm, tok, held_out, RESPONSE_LENGTH, None)
    assert abs(greedy - FIGURES["held_out_accuracy_greedy"]) < 0.02


def test_the_preset_trains_with_the_program_as_reward(arith_models):
    run = train(short(), models=arith_models, progress=False)
    h = run.history[-1]
    assert run.status == "finished" and len(run.history) == 2
    for key in ("env/accuracy", "env/accuracy_greedy", "gold/exact_match", "env/zero_std_groups",
                "env/response_length", "objective/kl"):
        assert key in h and 0 <= h[key] or key == "objective/kl", key
    assert "gold/vader_mean" not in h                       # sums are judged by exact match, not sentiment
    # exact match: the reward is the fraction right, and the gold judge agrees with it
    assert h["env/reward_mean"] == pytest.approx(h["gold/exact_match"]) == pytest.approx(h["env/fraction_positive"])
    assert 1 <= h["env/response_length"] <= RESPONSE_LENGTH
    assert all(s["prompt"].endswith("=") for s in run.samples)


@pytest.mark.parametrize("estimator", ["gae", "rloo", "grpo"])
def test_ppo_rloo_and_grpo_run_by_changing_one_field(arith_models, estimator):
    run = train(short(advantage_estimator=estimator), models=arith_models, progress=False)
    assert run.status == "finished" and 0 <= run.history[-1]["env/accuracy"] <= 1


def test_same_seed_same_numbers(arith_models):
    histories = []
    for _ in range(2):
        start = {k: v.clone() for k, v in arith_models.policy.state_dict().items()}
        run = train(short(), models=arith_models, progress=False)
        timeless = [{k: v for k, v in h.items() if not k.startswith("time/")} for h in run.history]
        histories.append(json.dumps(timeless))          # NaN (no value head: explained variance) reads "NaN"
        arith_models.policy.load_state_dict(start)
    assert histories[0] == histories[1]


def test_the_format_reward_is_partial_credit_and_the_gold_judge_ignores_it():
    config = short(reward_model="exact-match+format")
    run = train(config, models=load_models(config), progress=False)
    h = run.history[-1]
    # every well-formed answer earns FORMAT_WEIGHT, so the reward runs ahead of what exact match sees
    assert h["env/reward_mean"] > h["gold/exact_match"]
    assert h["env/reward_mean"] <= h["gold/exact_match"] + verifiable.FORMAT_WEIGHT + 1e-6


def test_a_program_reward_needs_completions_that_stop():
    with pytest.raises(ConfigError, match="stop_at_eos=True"):
        PPOConfig.preset("arithmetic", stop_at_eos=False)


def test_cli_trains_the_arithmetic_preset(tmp_path, capsys):
    from ppo_lab.cli.main import main

    out = tmp_path / "arith"
    assert main(["train", "--preset", "arithmetic", "--set", "iterations=2", "--set", "batch_size=32", "--no-cache",
                 "--out", str(out)]) == 0
    history = json.load(open(os.path.join(out, "history.json")))
    assert len(history) == 2 and "env/accuracy" in history[-1]
    assert os.path.isfile(os.path.join(out, "samples.md"))


# ------------------------------------------------------------------ DAPO's dynamic sampling
def fake_rollout(scores: list[float]):
    from ppo_lab.rl.rollout import Rollout

    B = len(scores)
    rows = torch.arange(B, dtype=torch.float32)[:, None].expand(B, 3)                  # row i holds i everywhere
    return Rollout([f"{i}+0=" for i in range(B)], [str(i) for i in range(B)], rows.long(), torch.ones(B, 3),
                   rows.long(), torch.ones(B, 3, dtype=torch.bool), rows, rows, rows, torch.tensor(scores), 0.5,
                   [str(i) for i in range(B)], [float(s) for s in scores], "exact_match")


def test_dynamic_sampling_keeps_the_groups_with_signal_first_in_sampling_order():
    from ppo_lab.rl.ppo import informative_groups

    # G = 2, four groups sampled, two kept: (1,1) no signal, (0,1) signal, (0,0) no signal, (1,0) signal
    config = PPOConfig.preset("arithmetic", batch_size=4, minibatch_size=2, group_size=2, dynamic_sampling=2)
    kept = informative_groups(fake_rollout([1, 1, 0, 1, 0, 0, 1, 0]), config)
    assert kept.scores.tolist() == [0, 1, 1, 0]
    assert kept.prompts == ["2+0=", "3+0=", "6+0=", "7+0="] and kept.gold == [0.0, 1.0, 1.0, 0.0]
    assert kept.logprobs[:, 0].tolist() == [2, 3, 6, 7] and kept.response[:, 0].tolist() == [2, 3, 6, 7]
    # only one group with signal: the batch is filled with the first no-signal group
    kept = informative_groups(fake_rollout([1, 1, 0, 0, 0, 1, 1, 1]), config)
    assert kept.prompts == ["0+0=", "1+0=", "4+0=", "5+0="]


def test_dynamic_sampling_needs_groups():
    with pytest.raises(ConfigError, match="dynamic_sampling=2 .*group_size ≥ 2"):
        PPOConfig.preset("arithmetic", advantage_estimator="gae", group_size=1, dynamic_sampling=2)


def test_a_dynamic_sampling_run_trains_on_fewer_no_signal_groups(arith_models):
    run = train(short(iterations=3, dynamic_sampling=4), models=arith_models, progress=False)
    for h in run.history:
        assert h["env/zero_std_groups"] <= h["env/zero_std_groups_sampled"]
    assert sum(h["env/zero_std_groups"] for h in run.history) < sum(h["env/zero_std_groups_sampled"]
                                                                    for h in run.history)


# ------------------------------------------------------------------ the figures' numbers
def test_evaluations_read_back_with_updates_and_seconds_of_training():
    from ppo_lab.rl.experiments import eval_points
    from ppo_lab.rl.loop import Run

    history = [{"iteration": i, "time/iteration": 0.5} for i in range(5)]
    for i, acc in ((0, 0.4), (2, 0.6), (4, 0.7)):
        history[i]["env/accuracy"] = acc
    run = Run(PPOConfig.preset("arithmetic", iterations=5), models=None, history=history)
    assert run.evaluations("env/accuracy") == ([0, 2, 4], [0.4, 0.6, 0.7])
    # measured after each iteration's update: 1, 3 and 5 updates done, after 0.5, 1.5 and 2.5 s of training
    assert eval_points(run) == ([1, 3, 5], [0.5, 1.5, 2.5], [0.4, 0.6, 0.7])
    assert eval_points(run, start=0.3) == ([0, 1, 3, 5], [0.0, 0.5, 1.5, 2.5], [0.3, 0.4, 0.6, 0.7])


def test_the_run_cache_gives_back_an_arithmetic_run(tmp_path, monkeypatch, arith_models):
    from ppo_lab.rl import experiments

    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path))
    first = experiments.over_seeds(short(), (0,), arith_models, progress=False)[0]
    again = experiments.over_seeds(short(), (0,), arith_models, progress=False)[0]
    assert json.dumps(first.history) == json.dumps(again.history)      # NaN-safe: GRPO has no explained variance
    assert any(os.scandir(tmp_path)), "the run was stored"
    for a, b in zip(first.models.policy.state_dict().values(), again.models.policy.state_dict().values()):
        assert torch.equal(a, b)
