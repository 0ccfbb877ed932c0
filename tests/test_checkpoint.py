"""Checkpoints are whole or refused: a crash mid-save, a damaged file or half a checkpoint never mixes
iterations, never restarts silently over the history, and always says which file and what to do."""
import copy
import json
import os
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import checkpoint, ppo as trainer
from ppo_lab.world.assets import sha256

TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8,
                        sample_every=1, num_samples=2)
TENSORS, STATE = checkpoint.TENSORS, checkpoint.STATE
WHAT_TO_DO = r"The run cannot resume from it: delete the folder '.*' to train again from iteration 0, or give"


class Crash(BaseException):
    """The process dies here: not an Exception and not a KeyboardInterrupt, so nothing in `train` catches it."""


def without_times(history):
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in history]


@pytest.fixture(scope="module")
def saved(bundled, tmp_path_factory):
    """A whole checkpoint after iteration 1 (of 2)."""
    folder = tmp_path_factory.mktemp("saved")
    trainer.train(TINY, copy.deepcopy(bundled), progress=False, checkpoint_dir=folder)
    return folder


@pytest.fixture(scope="module")
def crashed(bundled, tmp_path_factory):
    """The save after iteration 1 died between its two renames: new tensors, the previous JSON."""
    folder = tmp_path_factory.mktemp("crashed")
    (folder / "notes.txt").write_text("the learner's own file")
    real, renames = os.replace, []

    def dying_replace(src, dst, *args, **kwargs):
        renames.append(dst)
        if len(renames) == 4:                       # iteration 0: 2 renames; iteration 1: tensors, then JSON
            raise Crash
        return real(src, dst, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint.os, "replace", dying_replace)
        with pytest.raises(Crash):
            trainer.train(TINY, copy.deepcopy(bundled), progress=False, checkpoint_dir=folder)
    return folder


@pytest.fixture
def no_training(monkeypatch):
    """Any iteration fails the test: proves an error comes before training starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("an iteration was trained")
    monkeypatch.setattr(trainer, "iteration", refuse)


def copy_of(folder, tmp_path):
    """A private copy of a module-wide checkpoint that one test may break."""
    shutil.copytree(folder, tmp_path / "checkpoint")
    return tmp_path / "checkpoint"


def test_a_crash_between_the_two_renames_resumes_from_the_whole_newer_checkpoint(crashed, bundled, tmp_path):
    folder = copy_of(crashed, tmp_path)
    on_disk = json.loads((folder / STATE).read_text())
    assert on_disk["iteration"] == 0 and (folder / checkpoint.PENDING).exists()   # tensors of 1, JSON of 0
    config = TINY.replace(iterations=3)
    full = trainer.train(config, copy.deepcopy(bundled), progress=False)
    resumed = trainer.train(config, copy.deepcopy(bundled), progress=False, checkpoint_dir=folder, resume=True)
    assert without_times(resumed.history) == without_times(full.history)          # never mixed
    for a, b in zip(full.models.policy.parameters(), resumed.models.policy.parameters()):
        assert torch.equal(a, b)
    assert (folder / "notes.txt").read_text() == "the learner's own file"
    assert json.loads((folder / STATE).read_text())["iteration"] == 2


def test_a_crash_between_the_renames_without_its_pending_json_is_refused(crashed, bundled, tmp_path, no_training):
    folder = copy_of(crashed, tmp_path)
    os.remove(folder / checkpoint.PENDING)
    with pytest.raises(checkpoint.CheckpointError,
                       match=rf"{TENSORS} does not match the sha256 recorded in {STATE}.*{WHAT_TO_DO}"):
        trainer.train(TINY.replace(iterations=3), copy.deepcopy(bundled), progress=False,
                      checkpoint_dir=folder, resume=True)


def test_half_written_files_of_an_interrupted_save_are_ignored(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / (TENSORS + ".tmp")).write_bytes(b"\x00" * 10)                     # died while writing these
    (folder / checkpoint.PENDING).write_text('{"iteration": 2, "hist')
    state, _ = checkpoint.read(folder)
    assert state["iteration"] == 1 and len(state["history"]) == 2


def rewrite_json(folder, change):
    meta = json.loads((folder / STATE).read_text())
    change(meta)
    (folder / STATE).write_text(json.dumps(meta))


def drop_rng_tensor(folder):
    """Tensors without `rng.torch`, with a JSON whose checksum matches them: whole, yet not a checkpoint."""
    tensors = load_file(str(folder / TENSORS))
    del tensors["rng.torch"]
    save_file(tensors, str(folder / TENSORS))
    rewrite_json(folder, lambda meta: meta.update(tensors_sha256=sha256(folder / TENSORS)))


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {  # name: (what happens to a whole checkpoint, what the error says)
    "truncated": (lambda f: (f / TENSORS).write_bytes((f / TENSORS).read_bytes()[:5000]),
                  rf"{TENSORS} cannot be read \(truncated or not a safetensors file"),
    "empty tensors": (lambda f: (f / TENSORS).write_bytes(b""), rf"{TENSORS} cannot be read"),
    "one flipped byte": (lambda f: flip_last_byte(f / TENSORS), rf"{TENSORS} does not match the sha256"),
    "bad json": (lambda f: (f / STATE).write_text('{"iteration": 1, "hist'), rf"{STATE} is not valid JSON"),
    "json list": (lambda f: (f / STATE).write_text("[]"), rf"{STATE} holds a list, not a JSON object"),
    "missing key": (lambda f: rewrite_json(f, lambda m: m.pop("history")), rf"{STATE} has no valid 'history'"),
    "no checksum": (lambda f: rewrite_json(f, lambda m: m.pop("tensors_sha256")),
                    rf"{STATE} has no valid 'tensors_sha256'"),
    "cut history": (lambda f: rewrite_json(f, lambda m: m.update(history=m["history"][:1])),
                    rf"{STATE} holds 1 iterations of history for iteration 1"),
    "missing tensor": (drop_rng_tensor, rf"{TENSORS} does not fit this run's policy .*'rng.torch'"),
    "only the json": (lambda f: os.remove(f / TENSORS), rf"{TENSORS} is missing \(only {STATE} is there\)"),
    "only the tensors": (lambda f: os.remove(f / STATE), rf"{STATE} is missing \(only {TENSORS} is there\)"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_a_clear_error_before_any_training(damage, saved, bundled, tmp_path, no_training):
    folder = copy_of(saved, tmp_path)
    spoil, message = DAMAGE[damage]
    spoil(folder)
    where = re.escape(str(folder))
    models = copy.deepcopy(bundled)
    with pytest.raises(checkpoint.CheckpointError, match=rf"checkpoint {where}.*{message}.*{WHAT_TO_DO}"):
        trainer.train(TINY.replace(iterations=3), models, progress=False, checkpoint_dir=folder, resume=True)
    assert issubclass(checkpoint.CheckpointError, ValueError)
    for (name, a), b in zip(bundled.policy.state_dict().items(), models.policy.state_dict().values()):
        assert torch.equal(a, b), f"a refused resume changed the caller's {name}"


@pytest.mark.parametrize("resume", [False, True])
def test_a_file_as_checkpoint_dir_is_refused_before_training(resume, bundled, tmp_path, no_training):
    blocker = tmp_path / "runs.txt"
    blocker.write_text("not a folder")
    where = re.escape(str(blocker))
    with pytest.raises(ConfigError, match=rf"checkpoint_dir='{where}' is a file, not a folder; valid: a folder"):
        trainer.train(TINY, copy.deepcopy(bundled), progress=False, checkpoint_dir=blocker, resume=resume)
    with pytest.raises(ConfigError, match=rf"checkpoint_dir='{where}/sub' cannot be created "
                                          r"\(NotADirectoryError: Not a directory\); valid: a folder you can write"):
        trainer.train(TINY, copy.deepcopy(bundled), progress=False, checkpoint_dir=blocker / "sub", resume=resume)
    assert blocker.read_text() == "not a folder"


def test_a_new_run_never_overwrites_a_checkpoint_silently(saved, bundled, tmp_path, no_training):
    folder = copy_of(saved, tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ConfigError, match=r"already holds a checkpoint, which a new run would overwrite; "
                                          r"valid: resume=True to continue it"):
        trainer.train(TINY, copy.deepcopy(bundled), progress=False, checkpoint_dir=folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
