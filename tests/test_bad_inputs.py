"""Round two of bad inputs: assignments after construction, numpy numbers, prompts and arguments of the
wrong kind, NaN from the first iteration, NaN in the weights, and a progress bar that moves inside
long iterations. Each ends in a clear message or correct behaviour, never a library traceback."""
import copy

import numpy as np
import pytest
import torch

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import loop, ppo as trainer
from ppo_lab.rl.checks import NonFiniteError

TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8,
                        sample_every=1, num_samples=2)


# ---------------------------------------------------------------- the config after construction
@pytest.mark.parametrize("field, value, shown", [
    ("learning_rate", "abc", "learning_rate='abc' must be a number"),
    ("batch_size", 7, "does not divide batch_size=7"),
    ("minibatch_size", 0, "minibatch_size=0 is out of range"),
    ("clip_eps", -0.1, "clip_eps=-0.1 is out of range"),
    ("kl_estimator", "k2", "kl_estimator='k2' is not valid"),
    ("iterations", 2.0, "iterations=2.0 must be a whole number"),
    ("learnign_rate", 1e-4, "'learnign_rate' is not a PPOConfig field"),
])
def test_assigning_a_field_after_construction_is_validated(field, value, shown):
    config = PPOConfig()
    with pytest.raises(ConfigError) as err:
        setattr(config, field, value)
    assert shown in str(err.value)
    assert config == PPOConfig(), "a refused assignment leaves the config as it was"


def test_a_valid_assignment_is_kept_and_still_cross_checked():
    config = PPOConfig()
    config.batch_size = 32
    config.minibatch_size = 8
    assert (config.batch_size, config.minibatch_size) == (32, 8)
    assert config.replace(seed=3).seed == 3 and copy.deepcopy(config) == config


@pytest.mark.parametrize("value", [np.float32(3e-4), np.float64(3e-4), np.float16(3e-4), torch.tensor(3e-4).item()])
def test_numpy_floats_are_accepted_as_python_floats(value):
    config = PPOConfig(learning_rate=value)
    assert type(config.learning_rate) is float and config.learning_rate == pytest.approx(3e-4, rel=1e-3)


@pytest.mark.parametrize("value", [np.int64(32), np.int32(32), np.uint8(32)])
def test_numpy_integers_are_accepted_as_python_ints(value):
    config = PPOConfig(batch_size=value, minibatch_size=8)
    assert type(config.batch_size) is int and config.batch_size == 32
    assert PPOConfig(learning_rate=np.float32(1e-4)).to_dict()["learning_rate"] == float(np.float32(1e-4))


def test_numpy_bools_and_fractional_numbers_are_still_refused():
    with pytest.raises(ConfigError, match="whole number"):
        PPOConfig(iterations=np.float64(3.0))
    with pytest.raises(ConfigError, match="whiten_advantages"):
        PPOConfig(whiten_advantages=np.bool_(True))


# ---------------------------------------------------------------- train()'s arguments
@pytest.mark.parametrize("prompts, shown", [
    ("great film", "must be a list of texts"),
    (b"great film", "must be a list of texts"),
    ({"great film"}, "must be a list of texts"),
    ([123], "123 is not a text"),
    (["ok", None], "None is not a text"),
    (["   "], "is not a text"),
    ([], "is empty"),
])
def test_prompts_of_the_wrong_kind_are_named(bundled, prompts, shown):
    with pytest.raises(ConfigError, match=shown):
        trainer.train(TINY, copy.deepcopy(bundled), prompts=prompts, progress=False)


def test_a_dict_is_not_a_config_and_the_message_shows_the_fix():
    with pytest.raises(ConfigError, match=r"config must be a PPOConfig, not dict; e\.g\. lab\.PPOConfig\(\*\*"):
        trainer.train({"iterations": 1}, progress=False)
    with pytest.raises(ConfigError, match="models must be the Models"):
        trainer.train(TINY, models={"policy": None}, progress=False)


# ---------------------------------------------------------------- NaN: where, what was kept, why
class NaNReward(torch.nn.Module):
    """A reward model whose every score is NaN."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, **kwargs):
        out = self.inner(**kwargs)
        out.logits = out.logits * float("nan")
        return out


def test_nan_at_iteration_0_says_the_starting_weights_were_restored(bundled):
    broken = copy.deepcopy(bundled)
    broken.reward_model = NaNReward(broken.reward_model)
    before = copy.deepcopy(broken.policy.state_dict())
    run = trainer.train(TINY, broken, progress=False)
    assert run.history == [] and "iteration -1" not in run.status
    assert "stopped at iteration 0" in run.status and "starting weights were restored" in run.status
    assert "learning_rate" not in run.status, "a NaN before any update is not the learning rate's fault"
    assert "reward model" in run.status
    assert all(torch.equal(before[k], v) for k, v in run.models.policy.state_dict().items())


def test_a_near_zero_temperature_is_named_as_the_cause(bundled):
    run = trainer.train(TINY.replace(temperature=1e-30), copy.deepcopy(bundled), progress=False)
    assert run.status.startswith("stopped at iteration"), run.status
    assert "temperature=1e-30" in run.status and "learning_rate" not in run.status


def test_a_nan_starting_weight_is_named_before_training(bundled):
    broken = copy.deepcopy(bundled)
    with torch.no_grad():
        broken.policy.lm.transformer.h[0].mlp.c_fc.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"starting policy has non-finite weights.*h\.0\.mlp\.c_fc"):
        trainer.train(TINY, broken, progress=False)


def test_a_weight_turned_nan_mid_run_stops_the_run_and_keeps_it(bundled, monkeypatch):
    """Sampling from NaN weights used to end in torch.multinomial's RuntimeError and lose the run."""
    models = copy.deepcopy(bundled)
    record = loop.record_samples

    def poison_after_first(run, batch, it, threshold):
        record(run, batch, it, threshold)
        if it == 0:
            with torch.no_grad():
                models.policy.lm.transformer.h[1].attn.c_attn.weight.fill_(float("nan"))

    monkeypatch.setattr(loop, "record_samples", poison_after_first)
    run = trainer.train(TINY.replace(iterations=3), models, progress=False)
    assert len(run.history) == 1 and "stopped at iteration 1" in run.status
    assert "h.1.attn.c_attn.weight" in run.status and "after iteration 0" in run.status
    assert all(torch.isfinite(p).all() for p in run.models.policy.parameters()), "the good weights came back"


# ---------------------------------------------------------------- progress inside an iteration
def test_one_bar_per_run_its_label_following_phase_one_and_every_minibatch(bundled, monkeypatch):
    import tqdm.auto

    bars, labels = [], []

    class Recording(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

        def set_description_str(self, desc=None, refresh=True):
            labels.append(desc)
            super().set_description_str(desc, refresh)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    config = TINY.replace(iterations=2, batch_size=8, minibatch_size=4, ppo_epochs=2)
    trainer.train(config, copy.deepcopy(bundled), progress=True)
    assert len(bars) == 1, "one bar per run: no inner bar per iteration (a dead widget in a notebook once closed)"
    one = ["PPO · Phase I"] + [f"PPO · Phase II {k}/4" for k in range(4)] + ["PPO"]
    assert labels == one * 2 and bars[0].n == 2


def test_a_cli_run_stopped_on_nan_writes_its_report_and_exits_1(tmp_path, capsys):
    from ppo_lab.cli import main as cli

    small = ["--preset", "ci", "--set", "iterations=3", "--set", "batch_size=4", "--set", "minibatch_size=2",
             "--set", "ppo_epochs=1", "--set", "response_length=8", "--set", "temperature=1e-30", "--no-cache"]
    assert cli.main(["train", "--out", str(tmp_path / "nan"), "--prompts", "2"] + small) == 1
    err = capsys.readouterr().err
    assert "stopped at iteration" in err and "temperature=1e-30" in err and "report of the run up to there" in err
    assert (tmp_path / "nan" / "history.json").is_file() and (tmp_path / "nan" / "samples.md").is_file()
