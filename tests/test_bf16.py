"""`config.bf16`: the model passes under bfloat16 autocast, everything after them (log π, entropy, ratio, KL, losses)
in fp32, weights fp32; off, a run is exactly what it was. On CPU here; the CUDA test runs where a GPU is."""
import copy
import math

import pytest
import torch

from ppo_lab.config import PPOConfig
from ppo_lab.maths import losses
from ppo_lab.rl import ppo as trainer
from ppo_lab.rl.rollout import response_logprobs, rollout
from ppo_lab.world.models import load_models

# 2 iterations of the ci preset, with an entropy bonus so the entropy term is computed in Phase II too
CONFIG = PPOConfig.preset("ci", iterations=2, ent_coef=0.01)


def recorded_run(models, config):
    """A run whose policy_loss, value_loss and entropy note the dtypes they receive and, for the policy loss,
    max |ratio − 1| over the minibatch's valid tokens; returns (run, notes), one note per call."""
    notes = []

    def policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps, **kw):
        ratio = torch.exp(logprobs - old_logprobs)                                   # (b, L)
        notes.append({"policy": (logprobs.dtype, old_logprobs.dtype, advantages.dtype),
                      "ratio_error": (ratio - 1).abs()[mask].max().item()})
        return losses.policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps, **kw)

    def value_loss(values, old_values, returns, mask, clip_eps_value):
        notes.append({"value": (values.dtype, old_values.dtype, returns.dtype)})
        return losses.value_loss(values, old_values, returns, mask, clip_eps_value)

    def entropy(logits, mask):
        notes.append({"entropy": logits.dtype})
        return losses.entropy(logits, mask)

    fns = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
    return trainer.train(config, models, overrides=fns, progress=False), notes


@pytest.fixture(scope="module")
def runs(bundled):
    """The same 2 iterations in fp32 (the default), with bf16=False said out loud, and in bf16."""
    fp32 = recorded_run(copy.deepcopy(bundled), CONFIG)
    said = trainer.train(CONFIG.replace(bf16=False), copy.deepcopy(bundled), progress=False)
    bf16_models = copy.deepcopy(bundled)
    bf16 = recorded_run(bf16_models, CONFIG.replace(bf16=True))
    return {"fp32": fp32, "said": said, "bf16": bf16, "bf16_models": bf16_models}


def first_ratio_error(notes) -> float:
    """max |ratio − 1| at the first minibatch of the first epoch."""
    return next(n["ratio_error"] for n in notes if "ratio_error" in n)


def without_times(history):
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in history]


def test_bf16_false_is_the_default_run_exactly(runs):
    assert without_times(runs["said"].history) == without_times(runs["fp32"][0].history)   # every float, to the bit


def test_a_bf16_run_finishes_with_finite_losses(runs):
    run, _ = runs["bf16"]
    assert run.status == "finished" and len(run.history) == 2
    assert without_times(run.history) != without_times(runs["fp32"][0].history)            # bf16 did act
    for row in run.history:
        assert all(math.isfinite(row[k]) for k in ("loss/policy_avg", "loss/value_avg", "loss/total_avg"))


def test_under_bf16_everything_entering_the_losses_is_fp32(runs):
    _, notes = runs["bf16"]
    for kind in ("policy", "value", "entropy"):
        seen = {n[kind] for n in notes if kind in n}
        assert seen and seen <= {(torch.float32,) * 3, torch.float32}, (kind, seen)


def test_weights_stay_fp32_under_bf16(runs):
    policy = runs["bf16_models"].policy
    assert {p.dtype for p in policy.parameters()} == {torch.float32}


def test_the_first_ratio_is_one_in_fp32_and_close_to_one_in_bf16(runs):
    # measured on this 2-core CPU: 0.0 in both (max over the first minibatch's tokens). CPU kernels give a row the
    # same result whatever the batch, so π_θ = π_old holds exactly even in bf16; a GPU's bf16 kernels may be chosen
    # by batch size (64 rows in Phase I, 8 in a minibatch), hence the bound: bf16's 8-bit mantissa is ~4e-3 per op
    fp32_error, bf16_error = first_ratio_error(runs["fp32"][1]), first_ratio_error(runs["bf16"][1])
    assert fp32_error < 1e-5, fp32_error
    assert bf16_error < 1e-2, bf16_error


def test_bf16_changes_the_forward_and_by_little(bundled):
    """The switch does something: the same rollout scored in bf16 differs from fp32, within bf16's rounding
    (measured max |Δ log π| = 0.036 nats over the ci batch, mean 0.0085)."""
    models = copy.deepcopy(bundled)
    torch.manual_seed(0)
    batch = rollout(models, trainer.ready_to_start(models, CONFIG)[:CONFIG.batch_size], CONFIG)
    with torch.inference_mode():
        _, logprobs, values = response_logprobs(models.policy, batch.ids, batch.attention_mask, batch.response,
                                                CONFIG.replace(bf16=True))                     # (B, L)
    assert logprobs.dtype == values.dtype == torch.float32
    error = (logprobs - batch.logprobs).abs().max().item()
    assert 0 < error < 0.2, error


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_cuda():
    config = CONFIG.replace(device="cuda", bf16=True, iterations=1)
    run, notes = recorded_run(load_models(config), config)
    assert run.status == "finished" and math.isfinite(run.history[0]["loss/total_avg"])
    assert {n["policy"] for n in notes if "policy" in n} == {(torch.float32,) * 3}
    assert first_ratio_error(notes) < 1e-2
