"""The failure recipes: each breaks exactly what it says, and `signature` reads the right number."""
import pytest
import torch

import ppo_lab as lab
from ppo_lab.course import failures
from ppo_lab.maths import advantages
from ppo_lab.rl import ppo as trainer

TINY = lab.PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8)


def test_recipes_name_real_fields_engine_functions_and_metrics(bundled):
    run = lab.Run(TINY, bundled, history=[{k: 1.0 for k in ("val/first_ratio",)}])
    for name, bug in failures.FAILURES.items():
        failures.broken_config(name, TINY)                                  # valid fields and values
        assert set(bug.overrides) <= set(trainer.PPO_FUNCTIONS), name
        assert bug.direction in ("above", "below") and bug.what and bug.symptom, name
        failures.read_metric([run], "val/first_ratio_error", bug.reduce)    # the reducer exists
    with pytest.raises(ValueError, match="valid"):
        failures.recipe("no_such_bug")


def test_flipped_gae_negates_the_advantage_and_keeps_the_returns():
    r, v = torch.randn(3, 5), torch.randn(3, 5)
    mask = torch.ones(3, 5, dtype=torch.bool)
    a, ret = advantages.gae(r, v, mask, 1.0, 0.95)
    fa, fret = failures.flipped_gae(r, v, mask, 1.0, 0.95)
    assert torch.equal(fa, -a) and torch.equal(fret, ret)


def test_dropout_recipe_breaks_the_first_ratio_and_healthy_does_not(bundled):
    healthy = lab.rl.experiments.over_seeds(TINY, (0,), bundled, use_cache=False, progress=False)
    broken = failures.broken_runs("dropout_on", TINY, (0,), bundled, progress=False)
    assert healthy[0].metric("val/first_ratio") == pytest.approx([1.0, 1.0], abs=1e-5)
    assert all(m.p == 0.0 for m in bundled.policy.modules() if isinstance(m, torch.nn.Dropout))  # caller's untouched
    assert not bundled.policy.training
    sig = failures.signature("dropout_on", broken, healthy)
    assert sig["shows"] and sig["broken"] > 1e-3 and sig["healthy"] < 1e-5


def test_signature_compares_in_the_recipe_direction(bundled):
    def fake(values):
        return lab.Run(TINY, bundled, history=[{"env/reward_mean": v} for v in values])
    sig = failures.signature("sign_flipped", [fake([0.0, -1.0]), fake([0.0, -0.5])], [fake([0.0, 0.5])])
    assert sig["broken"] == pytest.approx(-0.75) and sig["healthy"] == pytest.approx(0.5) and sig["shows"]
    assert not failures.signature("sign_flipped", [fake([0.0, 1.0])], [fake([0.0, 0.5])])["shows"]
