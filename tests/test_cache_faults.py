"""The run cache under faults: a cache that cannot be written or read never costs a run, shared entries
stay readable, a crash's leftovers are cleaned up, and the key sees the thread count."""
import os
import stat
import time

import pytest

from ppo_lab.config import PPOConfig
from ppo_lab.rl import cache, experiments
from ppo_lab.rl.loop import Run

TINY = PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8,
                        sample_every=1, num_samples=2)
WRITE_FAILED = "run cache: cannot write to"


def deny(path, *args, **kwargs):
    """What the OS answers on a folder we may not write to (as root, chmod alone would not stop us)."""
    raise PermissionError(13, "Permission denied", str(path))


def denied_under(folder, real):
    """`real`, except that any path inside `folder` is refused as unreadable."""
    return lambda path, *a, **k: deny(path) if str(path).startswith(str(folder)) else real(path, *a, **k)


@pytest.fixture
def fast_train(monkeypatch):
    """`cache.train` replaced by an instant finished run; the seeds it was called with."""
    calls = []

    def fake(config, models, **kwargs):
        calls.append(config.seed)
        return Run(config, models, [{"iteration": 0, "seed": config.seed}], [], "finished")

    monkeypatch.setattr(cache, "train", fake)
    return calls


def test_a_cache_path_that_is_a_file_keeps_the_finished_run(tmp_path, monkeypatch, bundled, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    monkeypatch.setenv("PPO_LAB_CACHE", str(blocker))
    run, = experiments.over_seeds(TINY, (0,), bundled, progress=False)     # real training, then a failed store
    assert run.status == "finished" and len(run.history) == 2
    out = capsys.readouterr().out
    assert out.count(WRITE_FAILED) == 1 and f"{WRITE_FAILED} {blocker} (FileExistsError" in out
    assert "PPO_LAB_CACHE=off" in out and blocker.read_text() == "a regular file"


@pytest.mark.parametrize("fault", ["under_a_file", "mkdtemp_denied", "write_denied", "rename_denied"])
def test_an_unwritable_cache_is_said_once_and_every_seed_is_returned(fault, tmp_path, monkeypatch, bundled,
                                                                    fast_train, capsys):
    root = tmp_path / "runs"
    if fault == "under_a_file":
        (tmp_path / "file").write_text("x")
        root = tmp_path / "file" / "runs"
    elif fault == "mkdtemp_denied":
        monkeypatch.setattr(cache.tempfile, "mkdtemp", lambda prefix, dir: deny(dir))
    elif fault == "write_denied":                                          # dies half-way through the entry
        monkeypatch.setattr(cache, "save_file", lambda tensors, path: deny(path))
    else:
        monkeypatch.setattr(cache.os, "rename", deny)
    monkeypatch.setenv("PPO_LAB_CACHE", str(root))
    runs = experiments.over_seeds(TINY, (0, 1, 2), bundled, progress=False)
    assert [r.status for r in runs] == ["finished"] * 3 and fast_train == [0, 1, 2]
    out = capsys.readouterr().out
    assert out.count(WRITE_FAILED) == 1 and f"{WRITE_FAILED} {root} (" in out
    assert ("NotADirectoryError" if fault == "under_a_file" else "PermissionError: [Errno 13]") in out
    assert not root.is_dir() or list(root.iterdir()) == []                  # no entry, no .tmp-* left behind


@pytest.mark.parametrize("denied", ["manifest", "weights"])
def test_an_entry_we_may_not_read_is_reported_as_such_and_left_in_place(denied, tmp_path, monkeypatch, bundled,
                                                                       fast_train, capsys):
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path / "runs"))
    experiments.over_seeds(TINY, (0,), bundled, progress=False)
    entry, = (tmp_path / "runs").iterdir()
    before = {p.name: p.read_bytes() for p in entry.iterdir()}
    if denied == "manifest":                                               # someone else's entry, mode 0700
        monkeypatch.setattr(cache, "open", denied_under(entry, open), raising=False)
    else:
        monkeypatch.setattr(cache.assets, "sha256", denied_under(entry, cache.assets.sha256))
    capsys.readouterr()
    run, = experiments.over_seeds(TINY, (0,), bundled, progress=False)
    out = capsys.readouterr().out
    assert run.status == "finished" and fast_train == [0, 0]               # trained instead
    assert f"cache entry {entry.name[:12]} in {tmp_path / 'runs'} cannot be read (PermissionError: [Errno 13]" in out
    assert "training instead, the entry is left in place" in out
    assert "corrupted" not in out and WRITE_FAILED not in out
    assert {p.name: p.read_bytes() for p in entry.iterdir()} == before     # never deleted, never overwritten


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_entries_are_readable_by_others_as_the_umask_allows(umask, tmp_path, models):
    old = os.umask(umask)
    try:
        final = cache.store(Run(TINY, models, [], [], "finished"), "a" * 64, str(tmp_path / "runs"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(final).st_mode) == 0o777 & ~umask          # e.g. 0755 for a teacher's 022
    for name in os.listdir(final):
        assert stat.S_IMODE(os.stat(os.path.join(final, name)).st_mode) == 0o666 & ~umask, name


def test_orphaned_tmp_folders_are_removed_but_a_live_writer_is_left_alone(tmp_path, models):
    root = tmp_path / "runs"
    orphan, busy, young, entry = (root / ".tmp-aaaaaaaaaaaa-1", root / ".tmp-bbbbbbbbbbbb-2",
                                  root / ".tmp-cccccccccccc-3", root / ("d" * 64))
    for folder in (orphan, busy, young, entry):
        folder.mkdir(parents=True)
    (orphan / "run.json").write_text("{")                                  # a crash inside store left this
    (busy / "policy.safetensors").write_bytes(b"still being written")
    two_hours_ago = time.time() - 2 * cache.ORPHAN_AGE
    for path in (orphan / "run.json", orphan, busy, entry):                 # busy: an old folder, a fresh file
        os.utime(path, (two_hours_ago, two_hours_ago))
    cache.store(Run(TINY, models, [], [], "finished"), "e" * 64, str(root))
    assert not orphan.exists()
    assert busy.exists() and young.exists() and entry.exists() and (root / ("e" * 64)).is_dir()


def test_the_key_includes_the_thread_count(monkeypatch):
    keys = {}
    for threads in (1, 2, 1):
        monkeypatch.setattr(cache.torch, "get_num_threads", lambda threads=threads: threads)
        keys.setdefault(threads, set()).add(cache.run_key(TINY, "w" * 64, "cpu"))
    assert len(keys[1]) == 1 and keys[1] != keys[2]


def test_the_key_includes_the_cpu_kernels(monkeypatch):
    keys = set()
    for capability in ("DEFAULT", "AVX2", "AVX512"):
        monkeypatch.setattr(cache.torch.backends.cpu, "get_cpu_capability", lambda capability=capability: capability)
        keys.add(cache.run_key(TINY, "w" * 64, "cpu"))
    assert len(keys) == 3


def test_ctrl_c_while_storing_keeps_the_finished_run_and_stops_a_sweep(bundled, tmp_path, monkeypatch):
    """A Ctrl-C inside `store` used to escape and turn the finished run into an empty one."""
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path / "runs"))

    def interrupted_write(run, key, folder):
        raise KeyboardInterrupt
    monkeypatch.setattr(cache, "write_entry", interrupted_write)
    runs = experiments.over_seeds(TINY, (0, 1), bundled)
    assert len(runs) == 1 and len(runs[0].history) == 2, "the finished run is kept, no further seed starts"
    assert runs[0].status.startswith("interrupted: the run finished all 2 iterations")
    assert not [p for p in (tmp_path / "runs").iterdir()], "no half-written entry is left behind"
