"""Runs survive NaN and interrupts, resume exactly, load only safetensors, and never touch the network."""
import copy
import json
import pathlib
import shutil

import pytest
import torch

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import ppo as trainer
from ppo_lab.world import models as models_lib
from ppo_lab.world.models import AssetError

CI = PPOConfig.preset("ci", iterations=3)
PACKAGE = pathlib.Path(models_lib.__file__).parent


def without_times(history):
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in history]


class BreaksAfter(torch.nn.Module):
    """A reward model that returns NaN from its `n`-th call on: a non-finite reward, injected."""

    def __init__(self, inner, n):
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0
        self.config = inner.config

    def forward(self, **kwargs):
        self.calls += 1
        out = self.inner(**kwargs)
        if self.calls >= self.n:
            out.logits = out.logits * float("nan")
        return out


def test_nan_reward_stops_the_run_and_restores_the_last_good_weights(bundled):
    broken = copy.deepcopy(bundled)
    broken.reward_model = BreaksAfter(broken.reward_model, n=3)
    run = trainer.train(CI, broken, progress=False)
    assert len(run.history) == 2
    assert "iteration 2" in run.status and "env/reward" in run.status and "restored" in run.status
    good = trainer.train(CI.replace(iterations=2), copy.deepcopy(bundled), progress=False)
    assert without_times(good.history) == without_times(run.history)
    for (name, a), b in zip(good.models.policy.state_dict().items(), run.models.policy.state_dict().values()):
        assert torch.equal(a, b), name


def test_keyboard_interrupt_keeps_the_completed_iterations(bundled):
    calls = {"n": 0}

    def interrupting_gae(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return trainer.PPO_FUNCTIONS["gae"](*args, **kwargs)

    run = trainer.train(CI, copy.deepcopy(bundled), progress=False, overrides={"gae": interrupting_gae})
    assert len(run.history) == 2 and run.status.startswith("interrupted")
    assert run.samples and all(torch.isfinite(p).all() for p in run.models.policy.parameters())


def test_resume_from_a_checkpoint_gives_the_uninterrupted_history(bundled, tmp_path):
    config = CI.replace(iterations=4)
    full = trainer.train(config, copy.deepcopy(bundled), progress=False)
    first = trainer.train(config.replace(iterations=2), copy.deepcopy(bundled), progress=False, checkpoint_dir=tmp_path)
    assert len(first.history) == 2
    assert {p.name for p in tmp_path.iterdir()} == {"checkpoint.safetensors", "checkpoint.json"}
    resumed = trainer.train(config, copy.deepcopy(bundled), progress=False, checkpoint_dir=tmp_path, resume=True)
    assert without_times(resumed.history) == without_times(full.history)
    for a, b in zip(full.models.policy.parameters(), resumed.models.policy.parameters()):
        assert torch.equal(a, b)


def test_resume_with_other_settings_is_refused(bundled, tmp_path):
    trainer.train(CI.replace(iterations=1), copy.deepcopy(bundled), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="clip_eps"):
        trainer.train(CI.replace(clip_eps=0.1), copy.deepcopy(bundled), progress=False,
                      checkpoint_dir=tmp_path, resume=True)


def test_training_makes_no_network_call(bundled, no_network):
    from ppo_lab.world.models import load_models
    run = trainer.train(CI.replace(iterations=1), load_models(CI), progress=False)
    assert run.status == "finished"


def test_hub_name_offline_fails_fast_and_names_the_bundled_alternative(no_network):
    with pytest.raises(AssetError) as err:
        models_lib.load_policy("gpt2")
    assert "offline" in str(err.value).lower() and "tiny-gpt2" in str(err.value)
    with pytest.raises(AssetError, match="tiny-reward"):
        models_lib.load_reward_model("lvwerra/distilbert-imdb")


def test_pickle_only_checkpoint_is_refused(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=300))
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle, as old checkpoints are
    with pytest.raises(AssetError, match="safetensors"):
        models_lib.load_policy(str(tmp_path))


def test_no_remote_code_anywhere_in_the_package():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "trust_remote_code=True" not in text, path
        assert "torch.load(" not in text, path
        assert "pickle" not in text.replace("pickle-only", "").replace("pickled", ""), path



def test_missing_asset_folder_is_named(assets_copy):
    shutil.rmtree(assets_copy / "tiny-gpt2")
    with pytest.raises(AssetError, match=r"policy='tiny-gpt2'.*missing.*build\.assets"):
        models_lib.load_policy("tiny-gpt2")


def test_checksum_mismatch_is_detected(assets_copy):
    manifest = json.loads((assets_copy / "MANIFEST.json").read_text())
    manifest["files"]["tiny-reward/config.json"]["sha256"] = "0" * 64
    (assets_copy / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(AssetError, match=r"checksum mismatch.*tiny-reward/config.json"):
        models_lib.load_reward_model("tiny-reward")


def test_corrupted_safetensors_file_is_detected(assets_copy):
    path = assets_copy / "tiny-gpt2" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[1000:1010] = b"\xff" * 10
    path.write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"checksum mismatch.*model.safetensors"):
        models_lib.load_policy("tiny-gpt2")


def test_corrupted_safetensors_in_a_local_folder_is_a_clear_error(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=300)).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AssetError, match=r"policy=.*could not be loaded"):
        models_lib.load_policy(str(tmp_path))


def test_unknown_model_name_and_missing_folder_are_named():
    with pytest.raises(AssetError, match=r"policy='./no/such/folder'.*no such folder"):
        models_lib.load_policy("./no/such/folder")
    with pytest.raises(AssetError, match=r"reward_model=''"):
        models_lib.resolve("", "reward_model")


def test_cuda_without_a_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match=r"device='cuda'.*'cpu'.*'auto'"):
        models_lib.pick_device("cuda")


def test_bad_prompts_and_context_are_named(bundled):
    with pytest.raises(ConfigError, match=r"prompts=\[\]"):
        trainer.train(CI, bundled, prompts=[], progress=False)
    with pytest.raises(ConfigError, match=r"prompts: 'this film was .*tokens.*prompt_length=8"):
        trainer.train(CI, bundled, prompts=["this film was " * 10], progress=False)
    with pytest.raises(ConfigError, match=r"response_length=100.*context of 64"):
        trainer.train(CI.replace(response_length=100), bundled, progress=False)
    with pytest.raises(ConfigError, match=r"overrides: \['policy_los'\]"):
        trainer.train(CI, bundled, overrides={"policy_los": None}, progress=False)
