"""Checkpoints after every iteration, so an interrupted run keeps its work and resumes exactly.

Tensors (policy, value head, Adam moments, RNG states) go to safetensors; everything else
(history, samples, β, config, Adam's hyper-parameters) to JSON. Nothing is ever pickled.
"""
from __future__ import annotations

import json
import os
import random

import torch
from safetensors.torch import load_file, save_file

TENSORS, STATE = "checkpoint.safetensors", "checkpoint.json"


def _flat_optimizer(optimizer) -> tuple[dict, dict]:
    """Adam's per-parameter tensors as flat names, and its param_groups for JSON."""
    sd = optimizer.state_dict()
    tensors = {f"optim.{i}.{k}": v for i, state in sd["state"].items() for k, v in state.items()}
    return tensors, {"param_groups": sd["param_groups"]}


def save(folder: str, policy, optimizer, generator: torch.Generator, state: dict) -> None:
    """Write the whole training state after an iteration (atomically: a crash never leaves half a file)."""
    os.makedirs(folder, exist_ok=True)
    tensors = {f"policy.{k}": v.detach().clone().contiguous() for k, v in policy.state_dict().items()}
    optim_tensors, optim_json = _flat_optimizer(optimizer)
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.generator"] = generator.get_state()
    save_file(tensors, os.path.join(folder, TENSORS + ".tmp"))
    meta = {**state, "optimizer": optim_json, "python_random": _py_random_state()}
    with open(os.path.join(folder, STATE + ".tmp"), "w") as f:
        json.dump(meta, f)
    os.replace(os.path.join(folder, TENSORS + ".tmp"), os.path.join(folder, TENSORS))
    os.replace(os.path.join(folder, STATE + ".tmp"), os.path.join(folder, STATE))


def exists(folder: str | None) -> bool:
    return bool(folder) and os.path.isfile(os.path.join(folder, TENSORS)) and os.path.isfile(os.path.join(folder, STATE))


def load(folder: str, policy, optimizer, generator: torch.Generator) -> dict:
    """Restore policy, Adam, RNG states; return the JSON state (history, samples, β, iteration)."""
    tensors = load_file(os.path.join(folder, TENSORS))
    with open(os.path.join(folder, STATE)) as f:
        meta = json.load(f)
    policy.load_state_dict({k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")})
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, i, key = name.split(".", 2)
            state.setdefault(int(i), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("optimizer")["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    version, internal, gauss = meta.pop("python_random")
    random.setstate((version, tuple(internal), gauss))
    return meta


def _py_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]
