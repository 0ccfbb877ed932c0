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

from ..config import PPOConfig
from .mapping import ENGINES, MAP, RECORDING_ONLY, VERSIONS, Missing, Setting, names

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


# ------------------------------------------------------------------ the map, checked (notebook 08)
@dataclasses.dataclass
class NameCheck:
    """What `check_names` found: its problems (none: the map is sound), how many names each installed engine
    confirmed, and why an engine's own definitions could not be read here (then only the forms were checked)."""
    problems: list[str]
    confirmed: dict[str, int]
    unchecked: dict[str, str]

    def __str__(self) -> str:
        lines = [f"{len(MAP)} PPOConfig fields mapped in {len(ENGINES)} engines: "
                 + ("; ".join(self.problems) if self.problems else "every field that steers a run has a row")]
        lines += [f"{engine} {VERSIONS[engine]}: all {n} names are its own" for engine, n in self.confirmed.items()]
        lines += [f"{engine}: not checked live here ({why})" for engine, why in self.unchecked.items()]
        return "\n".join(lines)


def form_problems() -> list[str]:
    """MAP against our config and each engine's form of a name: a row for every field that steers a run (none for
    `RECORDING_ONLY`), an entry for every engine, a reason for every gap, OpenRLHF's `--flags`, verl's dotted keys."""
    fields = {f.name for f in dataclasses.fields(PPOConfig)} - set(RECORDING_ONLY)
    problems = [f"no row for {sorted(fields - set(MAP))}"] if fields - set(MAP) else []
    problems += [f"rows for no field of PPOConfig: {sorted(set(MAP) - fields)}"] if set(MAP) - fields else []
    for field, rows in MAP.items():
        if set(rows) != set(ENGINES) or not all(rows.values()):
            problems.append(f"{field}: an entry per engine is needed, has {sorted(e for e, r in rows.items() if r)}")
        problems += [f"{field} in {engine}: a gap without its reason" for engine, row in rows.items()
                     for item in row if isinstance(item, Missing) and not item.reason]
    settings = {e: [i.name for rows in MAP.values() for i in rows.get(e, ()) if isinstance(i, Setting)]
                for e in ENGINES}
    problems += [f"OpenRLHF: {n!r} is not a --flag" for n in settings["openrlhf"] if not n.startswith("--")]
    problems += [f"verl: {n!r} is not a dotted key" for n in settings["verl"] if "." not in n or " " in n]
    return problems


def unknown_names(engine: str) -> dict[str, list[str]]:
    """{scope: the names of ours that the installed engine's own definitions lack there} ({} when it has them all):
    verl's composed ppo_trainer.yaml, OpenRLHF's script parsers, TRL's config fields and trainer arguments."""
    found = {}
    for scope, ours in names(engine).items():
        if engine == "verl":
            found[scope] = verl_unknown(ours)
        elif engine == "openrlhf":
            found[scope] = sorted(set(ours) - set(openrlhf_flags(openrlhf_parser(scope))))
        else:
            found[scope] = sorted(set(ours) - trl_names(scope))
    return {scope: unknown for scope, unknown in found.items() if unknown}


def check_names() -> NameCheck:
    """The map checked whole (`form_problems`), and, for each engine installed here at `VERSIONS`, every name of
    ours against that engine's own definitions (`unknown_names`); an engine that is absent is said so, not failed
    (the test suite, where CI installs them all, fails instead)."""
    problems, confirmed, unchecked = form_problems(), {}, {}
    for engine in ENGINES:
        why = missing(engine)
        if why:
            unchecked[engine] = why
            continue
        unknown = unknown_names(engine)
        problems += [f"not names of {engine} {VERSIONS[engine]}'s {scope}: {n}" for scope, n in unknown.items()]
        confirmed[engine] = sum(len(n) for n in names(engine).values())
    return NameCheck(problems, confirmed, unchecked)


__all__ = ["check_names", "form_problems", "hydra_quoted", "INSTALL", "missing", "NameCheck", "openrlhf_flags",
           "openrlhf_parser", "package_dir", "PACKAGES", "trl_config", "trl_names", "unknown_names", "verl_config",
           "verl_override", "verl_unknown"]
