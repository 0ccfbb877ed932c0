"""The engines' own definitions of their settings, read from the installed packages (no GPU, no Ray).

verl: its `ppo_trainer.yaml`, composed with Hydra exactly as `python -m verl.trainer.main_ppo` composes it, so an
override of a key it lacks fails as it would on a cluster. OpenRLHF: the argument parser that its scripts build
under `if __name__ == "__main__":`, built here without importing the script (it imports Ray and DeepSpeed first).
TRL: its config dataclasses and its trainers' arguments. `engines.VERSIONS` names the versions; install them
without their heavy dependencies with `INSTALL`.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import pathlib
import re
import sys

from .mapping import VERSIONS

INSTALL = "pip install --no-deps -r requirements-engines.txt  (verl, OpenRLHF, TRL and Hydra; no Ray or CUDA)"
PACKAGES = {"verl": "verl", "openrlhf": "openrlhf", "trl": "trl"}


def missing(engine: str) -> str | None:
    """None when the engine's package (at `VERSIONS`) can be read here, else what to install."""
    package = PACKAGES[engine]
    spec = importlib.util.find_spec(package)
    if spec is None:
        return f"{package} is not installed: {INSTALL}"
    version = importlib.metadata.version(package)
    if version != VERSIONS[engine]:
        return f"{package} {version} is installed, the names are those of {VERSIONS[engine]}: {INSTALL}"
    return None


def package_dir(package: str) -> pathlib.Path:
    """The package's folder, found without importing it (verl and openrlhf import torch, Ray, vLLM at the top)."""
    return pathlib.Path(importlib.util.find_spec(package).submodule_search_locations[0])


# ------------------------------------------------------------------ verl
def verl_config(overrides: list[str]):
    """verl's trainer config with our overrides applied (Hydra's own composition; an unknown key raises)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(package_dir("verl") / "trainer" / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def verl_unknown(names) -> list[str]:
    """The names verl's composed config lacks: a key must exist; `+key` (a node the yaml leaves out) must not,
    but its parent must."""
    from omegaconf import OmegaConf

    config, unknown = verl_config([]), []
    for name in sorted(names):
        key = name.lstrip("+")
        exists = OmegaConf.select(config, key, default="<absent>") != "<absent>"
        parent = OmegaConf.select(config, key.rpartition(".")[0], default=None) is not None
        if (name.startswith("+") and (exists or not parent)) or (not name.startswith("+") and not exists):
            unknown.append(name)
    return unknown


def hydra_quoted(text: str) -> str:
    """`text` as a single-quoted string of Hydra's override grammar that verl's config holds as the same text once
    OmegaConf resolves it: a run of k backslashes before a quote or before `${` (an interpolation) becomes 2k + 1
    (the last escapes it), and k at the end 2k; any other character, `$(…)` and spaces included, stays as it is."""
    inner = re.sub(r"(\\*)('|\$\{)", lambda m: "\\" * (2 * len(m.group(1)) + 1) + m.group(2), text)
    inner = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, inner)
    return f"'{inner}'"


def verl_override(key: str, value) -> str:
    """`key=value` as Hydra reads it: true/false, null, numbers as Python writes them, lists, dicts of plain
    words, other text as a plain word where it is one, else quoted (`hydra_quoted`)."""
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if value is None:
        return f"{key}=null"
    if isinstance(value, (int, float)):
        return f"{key}={value!r}"
    if isinstance(value, (list, tuple)):
        return f"{key}=[{','.join(hydra_quoted(v) if isinstance(v, str) else repr(v) for v in value)}]"
    if isinstance(value, dict):   # a node the yaml leaves out, added with `+key={a:1,b:x}`
        return f"{key}={{{','.join(f'{k}:{v}' for k, v in value.items())}}}"
    text = str(value)
    if re.fullmatch(r"[\w./-]+", text) and text not in ("true", "false", "null"):
        return f"{key}={text}"
    return f"{key}={hydra_quoted(text)}"


# ------------------------------------------------------------------ OpenRLHF
def openrlhf_parser(script: str = "train_ppo_ray.py") -> argparse.ArgumentParser:
    """The parser `openrlhf/cli/<script>` builds, built from the script's own statements: its standard-library
    imports, then its main block up to `parser.parse_args()`."""
    path = package_dir("openrlhf") / "cli" / script
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    stdlib = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
              and all(root in sys.stdlib_module_names for root in _import_roots(node))]
    main = next(node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))
    building = []
    for statement in main.body:
        if "parse_args" in ast.unparse(statement):
            break
        building.append(statement)
    namespace: dict = {}
    exec(compile(ast.Module(body=stdlib + building, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["parser"]


def _import_roots(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    return [(node.module or "").split(".")[0]] if node.level == 0 else ["."]


def openrlhf_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """{--flag: its argparse action} (the action says its type, choices and whether it takes a value)."""
    return {option: action for action in parser._actions for option in action.option_strings}


# ------------------------------------------------------------------ TRL
def trl_config(name: str):
    """A TRL config class by name (GRPOConfig, RLOOConfig, DPOConfig)."""
    return getattr(importlib.import_module("trl"), name)


def trl_names(name: str) -> set[str]:
    """The fields of TRL's `name` config, and `arg=` for each argument of its trainer (GRPOConfig → GRPOTrainer),
    the trainer's read from its source (importing it needs `datasets`, which the config does not)."""
    fields = {f.name for f in dataclasses.fields(trl_config(name))}
    trainer = name.replace("Config", "Trainer")
    source = package_dir("trl") / "trainer" / f"{trainer.lower().removesuffix('trainer')}_trainer.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == trainer)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.posonlyargs + init.args.args + init.args.kwonlyargs
    return fields | {f"{a.arg}=" for a in args if a.arg != "self"}


__all__ = ["INSTALL", "missing", "openrlhf_flags", "openrlhf_parser", "package_dir", "PACKAGES", "trl_config",
           "trl_names", "verl_config", "verl_override", "verl_unknown", "hydra_quoted"]
