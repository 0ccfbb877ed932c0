"""Checkpoints after every iteration, so an interrupted run keeps its work and resumes exactly.

Tensors (policy, value head, Adam moments, RNG states) go to safetensors; everything else
(history, samples, β, config, Adam's hyper-parameters) to JSON. Nothing is ever pickled.

A checkpoint is atomic as a whole: both files are first written under `.tmp` names, and the JSON
(renamed last) records the sha256 of the tensor file it belongs to. `read` checks that pair, so a
crash between the two renames can never mix iteration k's tensors with iteration k − 1's history:
the finished `checkpoint.json.tmp` completes that save, or the load fails with a `CheckpointError`.
"""
from __future__ import annotations

import json
import os
import random

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config import ConfigError
from ..world.assets import sha256

TENSORS, STATE = "checkpoint.safetensors", "checkpoint.json"
PENDING = STATE + ".tmp"  # the JSON of a save whose last rename did not happen
REQUIRED = {"iteration": int, "kl_coef": (int, float), "history": list, "samples": list, "config": dict,
            "optimizer": dict, "python_random": list, "tensors_sha256": str}


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed from: the message names the file, what is wrong and what to do."""


def _error(folder, name: str, problem: str) -> CheckpointError:
    folder = os.fspath(folder)
    return CheckpointError(f"checkpoint {os.path.join(folder, name)} {problem}. The run cannot resume from it: "
                           f"delete the folder {folder!r} to train again from iteration 0, or give another "
                           "checkpoint_dir")


# ------------------------------------------------------------------ save
def _flat_optimizer(optimizer) -> tuple[dict, dict]:
    """Adam's per-parameter tensors as flat names, and its param_groups for JSON."""
    sd = optimizer.state_dict()
    tensors = {f"optim.{i}.{k}": v for i, state in sd["state"].items() for k, v in state.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def _fsync(path: str) -> None:
    """Flush a written file to disk before it is renamed into place (a power cut keeps old or new)."""
    with open(path, "r+b") as f:  # a writable handle: fsync needs one on some systems
        os.fsync(f.fileno())


def save(folder: str, policy, optimizer, generator: torch.Generator, state: dict) -> None:
    """Write the whole training state after an iteration, atomically as a whole (see the module docstring)."""
    os.makedirs(folder, exist_ok=True)
    tensors = {f"policy.{k}": v.detach().clone().contiguous() for k, v in policy.state_dict().items()}
    optim_tensors, optim_json = _flat_optimizer(optimizer)
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.generator"] = generator.get_state()
    tensors_tmp, state_tmp = os.path.join(folder, TENSORS + ".tmp"), os.path.join(folder, PENDING)
    save_file(tensors, tensors_tmp)
    _fsync(tensors_tmp)
    meta = {**state, "optimizer": optim_json, "python_random": _py_random_state(),
            "tensors_sha256": sha256(tensors_tmp)}
    with open(state_tmp, "w") as f:
        json.dump(meta, f)
    _fsync(state_tmp)
    os.replace(tensors_tmp, os.path.join(folder, TENSORS))
    os.replace(state_tmp, os.path.join(folder, STATE))  # the commit: from here on, load sees iteration k


# ------------------------------------------------------------------ check before training
def check_folder(folder, option: str | None = None) -> None:
    """`checkpoint_dir` must be a folder you can write to, or a path where one can be created (it is created now).

    The CLI checks its folders here too: with `option` ("--out", "--checkpoint-dir") the message names that
    option and ends with an example; without, it names `checkpoint_dir=` as `ppo.train` takes it.
    """
    path = os.fspath(folder)
    name, fix = (f"{option} {path!r}", f"e.g. {option} runs/demo") if option else \
        (f"checkpoint_dir={path!r}", "or None for no checkpoints")
    if not option and os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{name} is a file, not a folder; valid: a folder for the checkpoint files "
                          f"(created if missing), {fix}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        reason = f": {e.strerror or e}" if option else f" ({type(e).__name__}: {e.strerror})"
        valid = "a folder path you can write to (not a file, nor inside one)" if option else "a folder you can write to"
        raise ConfigError(f"{name} cannot be created{reason}; valid: {valid}, {fix}") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{name} is not writable; valid: a folder you can write to, {fix}")


def resumable(folder, resume: bool) -> bool:
    """Check `checkpoint_dir` before any training; True when `resume` has a checkpoint to load.

    A file as `checkpoint_dir` is a ConfigError, resume or not, and so is a folder that holds a
    checkpoint when `resume` is False (it would be overwritten). With `resume`, half a checkpoint
    (the JSON without the tensors, or the tensors without any JSON) is a CheckpointError: starting
    silently from iteration 0 would overwrite the history it belongs to. No checkpoint: False.
    """
    if not folder:
        return False
    check_folder(folder)
    present = {name for name in (TENSORS, STATE, PENDING) if os.path.isfile(os.path.join(folder, name))}
    if not present & {TENSORS, STATE}:
        return False
    if not resume:
        raise ConfigError(f"checkpoint_dir={os.fspath(folder)!r} already holds a checkpoint, which a new run would "
                          "overwrite; valid: resume=True to continue it, or an empty or new folder to start afresh")
    if TENSORS not in present:
        raise _error(folder, TENSORS, f"is missing (only {STATE} is there)")
    if not present & {STATE, PENDING}:
        raise _error(folder, STATE, f"is missing (only {TENSORS} is there)")
    return True


# ------------------------------------------------------------------ load
def _read_json(folder, name: str) -> dict:
    """A checkpoint JSON with every required key of the right type (else CheckpointError)."""
    try:
        with open(os.path.join(folder, name)) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise _error(folder, name, "is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise _error(folder, name, f"is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise _error(folder, name, f"holds a {type(meta).__name__}, not a JSON object")
    for key, kind in REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise _error(folder, name, f"has no valid {key!r} (got {str(meta.get(key))[:60]!r})")
    if len(meta["history"]) != meta["iteration"] + 1:
        raise _error(folder, name, f"holds {len(meta['history'])} iterations of history for iteration "
                                   f"{meta['iteration']}")
    return meta


def _matching_state(folder, digest: str) -> dict:
    """The JSON that belongs to the tensor file with sha256 `digest`.

    checkpoint.json normally; after a crash between the two renames of `save`, the whole
    checkpoint.json.tmp of that save, whose rename is then completed.
    """
    try:
        meta = _read_json(folder, STATE)
        if meta["tensors_sha256"] == digest:
            return meta
        problem = _error(folder, TENSORS, f"does not match the sha256 recorded in {STATE}: it is damaged, or a "
                                          "save was interrupted")
    except CheckpointError as e:
        problem = e
    try:
        pending = _read_json(folder, PENDING)
    except CheckpointError:
        raise problem from None
    if pending["tensors_sha256"] != digest:
        raise problem
    os.replace(os.path.join(folder, PENDING), os.path.join(folder, STATE))
    return pending


def read(folder) -> tuple[dict, dict]:
    """The checked JSON state and tensors of the checkpoint in `folder` (else CheckpointError)."""
    path = os.path.join(folder, TENSORS)
    if not os.path.isfile(path):
        raise _error(folder, TENSORS, "is missing")
    try:
        tensors = load_file(path)
    except SafetensorError as e:
        raise _error(folder, TENSORS, f"cannot be read (truncated or not a safetensors file: {e})") from None
    return _matching_state(folder, sha256(path)), tensors


def _fits(folder, tensors: dict, policy) -> dict:
    """The policy's tensors of the checkpoint, checked against the policy (names, shapes) and for the
    RNG states, before anything is loaded: a refused resume leaves the caller's models untouched."""
    weights = {k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")}
    own = policy.state_dict()
    problems = sorted(set(own) ^ set(weights)) or [k for k in own if own[k].shape != weights[k].shape]
    problems += [k for k in ("rng.torch", "rng.generator") if k not in tensors]
    if problems:
        raise _error(folder, TENSORS, f"does not fit this run's policy ({len(problems)} tensor(s) missing, extra "
                                      f"or of another shape, e.g. {problems[0]!r})")
    return weights


def apply(folder, meta: dict, tensors: dict, policy, optimizer, generator: torch.Generator) -> None:
    """Restore policy, Adam and every RNG state from a checkpoint that `read` returned."""
    weights = _fits(folder, tensors, policy)
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, i, key = name.split(".", 2)
            state.setdefault(int(i), {})[key] = value
    try:
        version, internal, gauss = meta["python_random"]
        python_random = (version, tuple(internal), gauss)
        optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise _error(folder, TENSORS, f"does not fit this run ({type(e).__name__}: {str(e)[:200]})") from None
    policy.load_state_dict(weights)
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    random.setstate(python_random)


def _py_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


__all__ = ["apply", "check_folder", "CheckpointError", "PENDING", "read", "REQUIRED", "resumable", "save"]
