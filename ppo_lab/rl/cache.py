"""A disk cache of finished runs, so a notebook or a class re-running the same ablation waits once.

An entry is keyed by sha256 of everything a run depends on: the full config, the package (version
and source), the library versions, the bundled assets' checksums, the starting weights, the
prompts, torch's thread count and CPU kernels. Runs with swapped engine functions (`overrides`) are never
cached: code cannot be keyed safely. Each entry holds history, samples, status and config (JSON),
the trained policy and value head (safetensors) and a manifest with every file's sha256, checked on
every load; a corrupted or partial entry is reported and rerun, never used.

The cache is only an optimisation: a folder that cannot be written or read is reported (a failed
write once per folder) and the run is trained and returned as usual; an entry we may not read is
left in place. Entries are readable by others as the umask allows (a teacher's shared cache).

Folder: `$PPO_LAB_CACHE`, else `$XDG_CACHE_HOME/ppo_lab/runs`, else `~/.cache/ppo_lab/runs`;
`PPO_LAB_CACHE=off` (or `use_cache=False`) turns it off.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import tempfile
import time

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..config import PPOConfig
from ..world import assets
from ..world.models import Models
from .dpo import train_dpo
from .loop import Run
from .ppo import train

OFF = ("off", "0", "false", "no", "none")
FILES = {"run": "run.json", "weights": "policy.safetensors"}
MANIFEST = "manifest.json"
ORPHAN_AGE = 3600  # seconds: a `.tmp-*` folder untouched this long was left by a crash, not a live writer
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ppo_lab/
METHODS = ("ppo", "dpo")   # what a run is trained with (part of its key): ppo.train or dpo.train_dpo
_WRITE_FAILURES_REPORTED: set[str] = set()  # cache folders whose failed write was already said (once each)


# ------------------------------------------------------------------ where, and under which key
def cache_dir() -> str | None:
    """The cache folder, or None when `PPO_LAB_CACHE` is "off"."""
    env = os.environ.get("PPO_LAB_CACHE", "").strip()
    if env.lower() in OFF:
        return None
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ppo_lab", "runs")


def asset_checksums(assets_dir: str | None = None) -> dict:
    """sha256 of every bundled file, as `assets/MANIFEST.json` records it (rebuilt assets → new keys).

    No manifest → {} (runs on Hub models only); a corrupt one → `assets.read_manifest`'s AssetError."""
    return assets.read_manifest(assets_dir, missing_ok=True)


def code_checksum(package: str = PACKAGE_DIR) -> str:
    """sha256 of every source file of the package, in every folder (`build/` aside: build time only), each with
    its path: a changed trainer, loss or figure never reuses an old run."""
    h = hashlib.sha256()
    for path in sorted(pathlib.Path(package).rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] != "build":
            h.update(relative.as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def weights_checksum(models: Models) -> str:
    """sha256 of the starting weights (policy + value head, reference, reward model, gold model if any)."""
    h = hashlib.sha256()
    gold = getattr(models, "gold_model", None)
    judges = (("policy", models.policy), ("ref", models.ref), ("reward", models.reward_model))
    for prefix, module in judges + ((("gold", gold),) if gold is not None else ()):
        for name, tensor in module.state_dict().items():
            h.update(f"{prefix}.{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(f"vocab:{len(models.tokenizer)}:{len(models.reward_tokenizer)}".encode())
    return h.hexdigest()


def run_key(config: PPOConfig, starting_weights: str, device: str, prompts: list[str] | None = None,
            method: str = "ppo") -> str:
    """sha256 of everything a finished run depends on (see the module docstring), `method` included."""

    versions = {lib: importlib.metadata.version(lib) for lib in ("torch", "transformers")}
    parts = {"method": method, "config": config.to_dict(), "version": __version__, "code": code_checksum(),
             "libraries": versions,
             "assets": asset_checksums(), "weights": starting_weights, "device": device, "prompts": prompts,
             # the same run differs in the last bits with the thread count and the CPU's kernels (README)
             "threads": torch.get_num_threads(), "cpu_kernels": torch.backends.cpu.get_cpu_capability()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ store and load
def readable_mode() -> int:
    """0o777 & ~umask: the mode `os.makedirs` would give a new folder (others may read a shared cache)."""
    try:  # Linux: read it without changing it (os.umask briefly sets it for every thread)
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o077)
        os.umask(mask)
    return 0o777 & ~mask


def open_up(folder: str) -> None:
    """Give an entry the modes the umask allows: mkdtemp makes 0700 and safetensors 0600 files."""
    mode = readable_mode()
    for name in os.listdir(folder):
        os.chmod(os.path.join(folder, name), mode & 0o666)
    os.chmod(folder, mode)


def last_touched(path: str) -> float:
    """Newest mtime of a folder and its files (a writer busy with one big file keeps its folder fresh)."""
    return max([os.path.getmtime(path)] + [e.stat(follow_symlinks=False).st_mtime for e in os.scandir(path)])


def remove_orphans(root: str, max_age: float = ORPHAN_AGE) -> list[str]:
    """Delete the `.tmp-*` folders a crash inside `store` left behind: untouched for `max_age` seconds.

    A younger one may belong to a writer at work (another seed, another learner) and is left alone.
    """
    try:
        orphans = [e.path for e in os.scandir(root) if e.name.startswith(".tmp-") and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    removed = []
    for path in orphans:
        try:
            if time.time() - last_touched(path) > max_age:
                shutil.rmtree(path)
                removed.append(os.path.basename(path))
        except OSError:  # another cleaner got there first, or it is not ours to remove: leave it
            continue
    return removed


def write_entry(run: Run, key: str, folder: str) -> None:
    """run.json, policy.safetensors, and last the manifest with both files' sha256."""
    record = {"history": run.history, "samples": run.samples, "status": run.status, "config": run.config.to_dict()}
    with open(os.path.join(folder, FILES["run"]), "w") as f:
        json.dump(record, f)
    weights = {k: v.detach().cpu().clone().contiguous() for k, v in run.models.policy.state_dict().items()}
    save_file(weights, os.path.join(folder, FILES["weights"]))
    manifest = {"key": key, "files": {name: assets.sha256(os.path.join(folder, name)) for name in FILES.values()}}
    with open(os.path.join(folder, MANIFEST), "w") as f:
        json.dump(manifest, f)


def store(run: Run, key: str, root: str) -> str:
    """Write a finished run under `root/key` atomically (a temporary folder, then one rename).

    The entry gets the umask's usual modes, so others can read a shared cache. Orphaned `.tmp-*`
    folders are removed first; a failed write removes its own and raises.
    """
    os.makedirs(root, exist_ok=True)
    remove_orphans(root)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=root)  # mode 0700: opened up below
    final = os.path.join(root, key)
    try:
        write_entry(run, key, tmp)
        open_up(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isdir(final):
                raise
            # another process stored the same run first: keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing left after a successful rename
    return final


def verify(folder: str, key: str) -> str | None:
    """None when the entry is whole; else what is wrong with it. A PermissionError is raised, not judged."""
    try:
        with open(os.path.join(folder, MANIFEST)) as f:
            manifest = json.load(f)
        if manifest.get("key") != key or set(manifest["files"]) != set(FILES.values()):
            return "its manifest does not match"
    except PermissionError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return f"its manifest is unreadable ({type(e).__name__})"
    for name, digest in manifest["files"].items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"{name} is missing"
        if assets.sha256(path) != digest:
            return f"{name} fails its sha256 check"
    return None


def read_entry(folder: str, models: Models, config: PPOConfig) -> Run:
    """A verified entry as a `Run`: a copy of `models` with the trained weights."""
    with open(os.path.join(folder, FILES["run"])) as f:
        record = json.load(f)
    run = Run(config, copy.deepcopy(models), record["history"], record["samples"], record["status"])
    run.models.policy.load_state_dict(load_file(os.path.join(folder, FILES["weights"]),
                                                device=str(run.models.policy.device)))
    return run


def load(key: str, models: Models, config: PPOConfig, root: str) -> Run | None:
    """The cached run as a `Run` (a copy of `models` with the trained weights), or None to rerun.

    A corrupted or partial entry is reported, removed and answered with None. An entry we may not
    read (someone else's shared cache) is reported as that and left in place.
    """
    folder = os.path.join(root, key)
    try:
        if not os.path.isdir(folder):
            return None
        problem = verify(folder, key)
        if problem is None:
            return read_entry(folder, models, config)
    except PermissionError as e:
        print(f"cache entry {key[:12]} in {root} cannot be read ({type(e).__name__}: {e}); training instead, "
              "the entry is left in place")
        return None
    except Exception as e:  # noqa: BLE001 — a checksum-valid entry that still fails to load is corrupt too
        problem = f"it fails to load ({type(e).__name__}: {str(e)[:120]})"
    print(f"cache entry {key[:12]} in {root} is corrupted ({problem}); rerunning")
    shutil.rmtree(folder, ignore_errors=True)
    return None


def try_store(run: Run, key: str, root: str) -> None:
    """`store`, but a cache that cannot be written never costs the finished run; said once per folder."""
    try:
        store(run, key, root)
    except KeyboardInterrupt:  # the run is whole; only its copy in the cache is given up (and cleaned away)
        run.status = (f"interrupted: the run finished all {len(run.history)} iterations, but Ctrl-C came while "
                      "storing it in the run cache, so it was not cached")
    except Exception as e:  # noqa: BLE001 — the cache is an optimisation: the run is returned whatever happens
        if root not in _WRITE_FAILURES_REPORTED:
            _WRITE_FAILURES_REPORTED.add(root)
            print(f"run cache: cannot write to {root} ({type(e).__name__}: {e}); runs are returned but not "
                  "cached. Make that folder writable, point PPO_LAB_CACHE at a writable folder, or set "
                  "PPO_LAB_CACHE=off")


# ------------------------------------------------------------------ the one entry point
def cached_train(config: PPOConfig, models: Models, *, use_cache: bool = True, starting_weights: str | None = None,
                 method: str = "ppo", **train_kwargs) -> Run:
    """`ppo.train(config, copy of models, ...)` (`method="dpo"`: `dpo.train_dpo`), or the same finished run
    loaded from the cache.

    Only finished runs are stored (not interrupted or NaN-stopped ones); runs with `overrides` or a learner's own
    DPO `pairs` are neither looked up nor stored. `starting_weights` saves re-hashing shared starting models.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not a way to train; choose one of {sorted(METHODS)}")
    train_fn = train if method == "ppo" else train_dpo
    root = cache_dir() if use_cache else None
    if root is None or train_kwargs.get("overrides") or train_kwargs.get("pairs") is not None:
        return train_fn(config, models=copy.deepcopy(models), **train_kwargs)
    key = run_key(config, starting_weights or weights_checksum(models), str(models.policy.device.type),
                  train_kwargs.get("prompts"), method)
    run = load(key, models, config, root)
    if run is not None:
        run.method = method
        print(f"loaded from the run cache: seed={config.seed}, {len(run.history)} iterations "
              f"(entry {key[:12]} in {root}; PPO_LAB_CACHE=off to retrain)")
        return run
    run = train_fn(config, models=copy.deepcopy(models), **train_kwargs)
    if run.status == "finished":
        try_store(run, key, root)
    return run


__all__ = ["asset_checksums", "cache_dir", "cached_train", "code_checksum", "FILES", "last_touched", "load",
           "MANIFEST", "METHODS", "OFF", "open_up", "ORPHAN_AGE", "PACKAGE_DIR", "read_entry", "readable_mode",
           "remove_orphans", "run_key", "store", "try_store", "verify", "weights_checksum", "write_entry"]
