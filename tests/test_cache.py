"""The run cache: identical runs load, anything changed or corrupted reruns, nothing broken is ever used."""
import copy
import json
import math
import os

import pytest
import torch

from ppo_lab.config import PPOConfig
from ppo_lab.rl import cache, experiments

TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8,
                        sample_every=1, num_samples=2)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path / "runs"))
    return tmp_path / "runs"


def entries(root):
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def same_numbers(a, b):
    """Histories/samples equal, NaN equal to NaN (explained variance can be NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_numbers(x, y) for x, y in zip(a, b))
    return a == b


def without_times(history):
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in history]


def same_weights(run_a, run_b):
    a, b = run_a.models.policy.state_dict(), run_b.models.policy.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_identical_ablation_loads_from_the_cache_and_is_equal(cache_root, capsys):
    first = experiments.ablation(TINY, "clip_eps", [0.2], seeds=(0,), progress=False)
    assert len(entries(cache_root)) == 1 and "loaded from the run cache" not in capsys.readouterr().out
    second = experiments.ablation(TINY, "clip_eps", [0.2], seeds=(0,), progress=False)
    assert capsys.readouterr().out.count("loaded from the run cache") == 1
    a, b = first["clip_eps=0.2"][0], second["clip_eps=0.2"][0]
    assert same_numbers(a.history, b.history) and same_numbers(a.samples, b.samples)
    assert a.status == b.status == "finished" and a.config == b.config
    assert same_weights(a, b)
    ref = b.models.ref.state_dict()                                      # trained weights, not the starting ones
    assert any(not torch.equal(ref[k], v) for k, v in b.models.policy.lm.state_dict().items() if k in ref)
    rows = experiments.before_after(b, ["This film was"])               # the loaded models still work
    assert rows[0]["before"] and rows[0]["after"]


def test_a_changed_config_reruns(cache_root, bundled, capsys):
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    experiments.over_seeds(TINY.replace(learning_rate=1e-4), (0,), bundled, progress=False)
    assert "loaded from the run cache" not in capsys.readouterr().out
    assert len(entries(cache_root)) == 2


def test_a_corrupted_entry_is_detected_and_rerun(cache_root, bundled, capsys):
    first, = experiments.over_seeds(TINY, (0,), bundled, progress=False)
    key, = entries(cache_root)
    weights = cache_root / key / cache.FILES["weights"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF                                         # flip one byte in the middle
    weights.write_bytes(bytes(data))
    again, = experiments.over_seeds(TINY, (0,), bundled, progress=False)
    out = capsys.readouterr().out
    assert f"cache entry {key[:12]}" in out and "is corrupted" in out and "rerunning" in out
    assert "loaded from the run cache" not in out
    assert same_numbers(without_times(first.history), without_times(again.history))
    assert cache.verify(str(cache_root / key), key) is None               # the rerun stored a whole entry again


def test_a_partial_entry_is_detected_and_rerun(cache_root, bundled, capsys):
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    key, = entries(cache_root)
    os.remove(cache_root / key / cache.MANIFEST)                          # as if a copy stopped half-way
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    out = capsys.readouterr().out
    assert "is corrupted (its manifest is unreadable" in out and "loaded from the run cache" not in out


def test_a_changed_asset_checksum_reruns(cache_root, bundled, capsys, monkeypatch):
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    real = cache.asset_checksums()
    rel = next(iter(real))
    monkeypatch.setattr(cache, "asset_checksums", lambda: {**real, rel: "0" * 64})
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    assert "loaded from the run cache" not in capsys.readouterr().out
    assert len(entries(cache_root)) == 2


def test_off_overrides_and_unfinished_runs_are_never_cached(cache_root, bundled, monkeypatch, capsys):
    from ppo_lab.maths import losses

    experiments.over_seeds(TINY, (0,), bundled, progress=False, use_cache=False)
    experiments.over_seeds(TINY, (0,), bundled, progress=False, overrides={"policy_loss": losses.policy_loss})
    assert entries(cache_root) == []
    monkeypatch.setenv("PPO_LAB_CACHE", "off")
    assert cache.cache_dir() is None
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    assert entries(cache_root) == []
    monkeypatch.setenv("PPO_LAB_CACHE", str(cache_root))
    broken = copy.deepcopy(bundled)
    with torch.no_grad():
        next(broken.reward_model.parameters()).fill_(float("nan"))         # NaN scores: the run stops
    run, = experiments.over_seeds(TINY, (0,), broken, progress=False)
    assert run.status.startswith("stopped at iteration 0")
    assert entries(cache_root) == []
    assert "loaded from the run cache" not in capsys.readouterr().out


def test_the_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("PPO_LAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == os.path.join(str(tmp_path), "ppo_lab", "runs")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "ppo_lab", "runs")


def test_the_stored_manifest_names_every_file_with_its_sha256(cache_root, bundled):
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    key, = entries(cache_root)
    manifest = json.loads((cache_root / key / cache.MANIFEST).read_text())
    assert manifest["key"] == key and set(manifest["files"]) == set(cache.FILES.values())
    assert all(len(d) == 64 for d in manifest["files"].values())


def test_the_code_checksum_covers_every_folder_of_the_package(tmp_path):
    """An edit anywhere in the package's source, in any subfolder, gives a new key; build/ (build time only) and
    files that are not source do not."""
    import pathlib
    import shutil

    import ppo_lab
    from ppo_lab.rl.cache import code_checksum

    copy = tmp_path / "ppo_lab"
    shutil.copytree(pathlib.Path(ppo_lab.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_checksum(str(copy))
    assert before == code_checksum()                                  # the copy is the package
    for deep in ("course/exercises/impl/losses.py", "maths/advantages.py", "rl/update.py"):
        path = copy / deep
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        assert code_checksum(str(copy)) != before, deep
        path.write_text(original)
    assert code_checksum(str(copy)) == before
    (copy / "build" / "assets.py").write_text("# rebuilt\n")
    (copy / "rl" / "notes.txt").write_text("not source")
    assert code_checksum(str(copy)) == before
    (copy / "rl" / "update.py").rename(copy / "rl" / "moved.py")      # the same text under another name
    assert code_checksum(str(copy)) != before
