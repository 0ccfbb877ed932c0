"""The headless CLI: `python -m ppo_lab train | dpo | sweep | warm-cache` (see `--help` of each).

    python -m ppo_lab train --preset tiny --out runs/demo --set kl_coef=0.2
    python -m ppo_lab dpo --preset tiny --pairs online --out runs/dpo
    python -m ppo_lab sweep --preset tiny --grid clip_eps=0.05,0.2,none --seeds 2 --out runs/sweep
    python -m ppo_lab warm-cache --notebooks 03,04 --preset tiny

Reports are plain files (JSON, PNG, Markdown); a bad setting exits with code 2 and the config's
own error message, a missing model with 1; Ctrl-C writes the report of what finished and exits with 130.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap

from ..config import FIELDS, PRESETS, ConfigError, PPOConfig, check_preset
from ..interop import export as engine_export, mapping as engines
from ..rl import cache, checkpoint, experiments
from ..rl.checks import plural
from ..rl.experiments import interrupted
from ..world.models import AssetError, load_models
from .notebook_runner import find_notebooks, run_notebooks
from .reports import DPO_FILES, TRAIN_FILES, ReportError, report_prompts, write_sweep_report, write_train_report


# ====================================================================== settings
def parse_value(field: str, text: str):
    """"none" → None, then the field's own type; text that does not parse is passed on for the config to refuse."""
    if field not in FIELDS:
        raise ConfigError(f"--set {field}=…: {field!r} is not a config field; valid: {', '.join(FIELDS)}")
    kind = FIELDS[field].kind
    if text.strip().lower() in ("none", "null"):
        return None
    if kind == "bool":
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower(), text)
    cast = {"int": int, "float": float, "float?": float}.get(kind)
    try:
        return cast(text) if cast else text
    except ValueError:
        return text


def parse_sets(items: list[str]) -> dict:
    """["clip_eps=0.1", "whiten_advantages=false"] → {"clip_eps": 0.1, "whiten_advantages": False}."""
    changes = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set clip_eps=0.1")
        changes[key.strip()] = parse_value(key.strip(), text.strip())    # given twice: the later one
    return changes


def make_config(args) -> PPOConfig:
    """The preset, then every --set, then --seed; validated by PPOConfig itself."""
    changes = parse_sets(args.set)
    if args.seed is not None and changes.get("seed", args.seed) != args.seed:
        raise ConfigError(f"--seed {args.seed} and --set seed={changes['seed']} contradict each other; valid: one "
                          "of them")
    if args.seed is not None:
        changes["seed"] = args.seed
    return PPOConfig.preset(args.preset, **changes)


def parse_grid(text: str) -> tuple[str, list]:
    """"clip_eps=0.05,0.2,none" → ("clip_eps", [0.05, 0.2, None])."""
    field, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise ConfigError(f"--grid {text!r}: expected field=v1,v2,…, e.g. --grid clip_eps=0.05,0.2,none")
    if field.strip() == "seed":
        raise ConfigError(f"--grid {text}: seeds are set with --seed S --seeds N (runs S … S+N−1); grid another "
                          "field, e.g. --grid clip_eps=0.05,0.2 --seed 3 --seeds 2")
    return field.strip(), [parse_value(field.strip(), v.strip()) for v in values.split(",")]


# ====================================================================== subcommands
def checkpoint_kwargs(args) -> dict:
    """--checkpoint-dir / --resume → `ppo.train`'s keyword arguments (checked before any training)."""
    if args.resume and not args.checkpoint_dir:
        raise ConfigError("--resume needs --checkpoint-dir DIR, the folder an earlier run saved its checkpoints "
                          "to; e.g. --checkpoint-dir runs/ckpt --resume (or drop --resume to start afresh)")
    if not args.checkpoint_dir:
        return {}
    checkpoint.check_folder(args.checkpoint_dir, "--checkpoint-dir")
    saved = [n for n in (checkpoint.TENSORS, checkpoint.STATE) if os.path.exists(os.path.join(args.checkpoint_dir, n))]
    if args.resume and not saved:
        print(f"--resume: no checkpoint in {args.checkpoint_dir!r} yet; starting at iteration 0", file=sys.stderr)
    return {"checkpoint_dir": args.checkpoint_dir, "resume": args.resume}


def cmd_train(args) -> int:

    config = make_config(args)
    kwargs = checkpoint_kwargs(args)
    checkpoint.check_folder(args.out, "--out")
    models = load_models(config)
    report_prompts(config, models, args.prompts)          # the before/after table's prompts exist: before training
    use_cache = not args.no_cache and not kwargs           # checkpoints are written only by a real training run
    run = cache.cached_train(config, models, use_cache=use_cache, progress=True, **kwargs)
    write_train_report(args.out, args.preset, args.prompts, config, models, run)
    again = f"; continue it with --checkpoint-dir {args.checkpoint_dir} --resume" if kwargs else ""
    return report_status(run, args.out, TRAIN_FILES, again)


def cmd_dpo(args) -> int:
    """One DPO run (`dpo.train_dpo`) and the same kind of report folder as `train`."""
    config = make_config(args)
    if args.pairs is not None:
        config = config.replace(dpo_pairs=args.pairs)
    checkpoint.check_folder(args.out, "--out")
    models = load_models(config)
    report_prompts(config, models, args.prompts)
    run = cache.cached_train(config, models, use_cache=not args.no_cache, method="dpo", progress=True)
    write_train_report(args.out, args.preset, args.prompts, config, models, run, method="dpo")
    return report_status(run, args.out, DPO_FILES)


def report_status(run, out: str, files: str, again: str = "") -> int:
    """Say how the run ended and where its report is; the exit code (0 finished, 130 Ctrl-C, 1 NaN/inf)."""
    if interrupted(run):
        done = plural(len(run.history), "completed iteration")
        print(f"interrupted (Ctrl-C) after {done}; report of the partial run in {out}: {files}{again}",
              file=sys.stderr)
        return 130
    if run.status != "finished":                           # stopped on NaN/inf: the report shows where
        print(f"{run.status}\nreport of the run up to there in {out}: {files}", file=sys.stderr)
        return 1
    print(f"{run.status}; report in {out}: {files}")
    return 0


def sweep_gaps(configs: dict, groups: dict, seeds: tuple) -> tuple[bool, list[str]]:
    """Whether the sweep was cut short, and what it lacks: groups never trained, seeds not reached."""

    missing = [name for name in configs if name not in groups]
    for name, runs in groups.items():
        if len(runs) < len(seeds):
            missing.append(f"{name} (seeds {', '.join(str(s) for s in seeds[len(runs):])})")
    stopped = bool(missing) or any(interrupted(r) for runs in groups.values() for r in runs)
    return stopped, missing


def cmd_sweep(args) -> int:

    config = make_config(args)
    field, values = parse_grid(args.grid)
    seeds = tuple(range(config.seed, config.seed + args.seeds))
    configs = experiments.ablation_configs(config, field, values, seeds)   # every value and seed, before training
    checkpoint.check_folder(args.out, "--out")
    try:
        groups = experiments.ablation(config, field, values, seeds, use_cache=not args.no_cache, progress=True)
    except KeyboardInterrupt:                                               # e.g. while loading the models
        groups = {}
    stopped, missing = sweep_gaps(configs, groups, seeds)
    title = f"{field} sweep: preset {args.preset}, {len(seeds)} seed(s) per setting"
    files = write_sweep_report(args.out, groups, field, title, missing, stopped)
    if stopped:
        print(f"interrupted (Ctrl-C): report of the runs trained so far in {args.out}: {files}; missing: "
              f"{', '.join(missing) or 'none (the last run stopped early)'}", file=sys.stderr)
        return 130
    print(f"report in {args.out}: {files}")
    return 0


def cmd_warm_cache(args) -> int:

    check_preset(args.preset)
    folder = os.path.abspath(args.cache_dir) if args.cache_dir else cache.cache_dir()
    if folder is None:
        raise ConfigError("warm-cache: the run cache is off (PPO_LAB_CACHE=off); unset it or give --cache-dir")
    notebooks = find_notebooks(args.notebooks)
    checkpoint.check_folder(folder, "--cache-dir")        # a folder it can write to, before any notebook runs
    try:
        failed = run_notebooks(notebooks, args.preset, folder)
    except KeyboardInterrupt:
        print(f"interrupted (Ctrl-C); the run cache {folder} keeps every run finished so far", file=sys.stderr)
        return 130
    entries = len([d for d in os.listdir(folder) if not d.startswith(".")]) if os.path.isdir(folder) else 0
    print(f"run cache {folder}: {entries} entries (preset {args.preset})")
    if failed:
        print(f"{failed} of {len(notebooks)} notebooks FAILED (see above)", file=sys.stderr)
    return 1 if failed else 0


# ====================================================================== the parser
EPILOGS = {
    "train": """examples:
  python -m ppo_lab train --preset tiny --out runs/demo
  python -m ppo_lab train --preset tiny --out runs/no_kl --set kl_coef=0 --set kl_target=none --seed 3
  python -m ppo_lab train --preset ci --out runs/quick --set iterations=2
  python -m ppo_lab train --preset tiny --out runs/long --checkpoint-dir runs/long/ckpt
  python -m ppo_lab train --preset tiny --out runs/long --checkpoint-dir runs/long/ckpt --resume --set iterations=80

writes history.json, config.json, dashboard.png, curves.png and samples.md to --out; Ctrl-C writes
the report of the iterations completed so far and exits with code 130 (with --checkpoint-dir,
--resume continues the run later)""",
    "dpo": """examples:
  python -m ppo_lab dpo --preset tiny --pairs human --out runs/dpo
  python -m ppo_lab dpo --preset tiny --pairs online --out runs/online --set dpo_beta=0.5
  python -m ppo_lab dpo --preset ci --pairs policy --out runs/quick --set iterations=2

trains with DPO on preference pairs (human: labelled reviews; policy: the starting policy's completions
judged by the reward model; online: the current policy's, new every dpo_online_every iterations) and
writes history.json, config.json, curves.png and samples.md to --out; Ctrl-C writes the report of the
iterations completed so far and exits with code 130""",
    "sweep": """examples:
  python -m ppo_lab sweep --preset tiny --grid clip_eps=0.05,0.2,none --seeds 2 --out runs/clip
  python -m ppo_lab sweep --preset ci --grid vf_coef=0,0.1,1 --seeds 1 --out runs/vf --set iterations=4

writes comparison.png, dashboard.png, summary.md and histories.json to --out; Ctrl-C stops the
sweep, writes the report of the runs trained so far (summary.md names what is missing) and exits
with code 130. Seeds are not a grid field: use --seed S --seeds N""",
    "export": """examples:
  python -m ppo_lab export --engine verl --preset gpt2 --out launch/verl
  python -m ppo_lab export --engine openrlhf --preset tiny --out launch/openrlhf
  python -m ppo_lab export --engine trl --preset arithmetic --out launch/trl

writes the launch script (TRL: train.py), README.md (what the engine cannot follow, what it needs that we
don't), ppo_config.json, data/train.jsonl and data/test.jsonl, the bundled models it names and, with a reward
program, the reward function. TRL 1.16 has no PPO trainer: export advantage_estimator=grpo or rloo to it""",
    "warm-cache": """examples:
  python -m ppo_lab warm-cache --notebooks all
  python -m ppo_lab warm-cache --notebooks 04,03 --preset tiny --cache-dir /srv/class/ppo_lab_cache

runs the notebooks headlessly with PPO_LAB_PRESET and PPO_LAB_CACHE set, so the runs they
train (through lab.rl.experiments) are stored in the run cache before class""",
}


def at_least_one(option: str, example: int, what: str):
    """An argparse type: a whole number ≥ 1, refused with the option, the value, the range and an example."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; valid: 1 or more ({what}), "
                                             f"e.g. {option} {example}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{value} is out of range; valid: 1 or more ({what}), "
                                             f"e.g. {option} {example}")
        return value
    return parse


def fields_help(width: int = 100) -> str:
    """Every config field --set can change: name (symbol), valid values, default — meaning (from its declaration)."""
    lines = ["config fields (--set KEY=VALUE; 'none' → None, true/false for booleans):"]
    for info in FIELDS.values():
        lines += textwrap.wrap(f"{info.label:<21} {info.summary()}", width, initial_indent="  ",
                               subsequent_indent=" " * 24)
    return "\n".join(lines)


def add_config_options(p, cache: bool = True) -> None:
    p.add_argument("--preset", default="tiny", metavar="NAME",
                   help=f"starting settings: {', '.join(sorted(PRESETS))} (default: tiny)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one config field, repeatable; 'none' → None, true/false for booleans "
                        "(every field, its valid values and default: see 'config fields' below)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 0)")
    if cache:
        p.add_argument("--no-cache", action="store_true", help="always train; neither read nor fill the run cache")


def build_parser() -> argparse.ArgumentParser:
    kw, fields = {"formatter_class": argparse.RawDescriptionHelpFormatter}, fields_help()
    parser = argparse.ArgumentParser(prog="python -m ppo_lab", description="PPO Lab without a notebook: align the "
                                     "tiny GPT-2, sweep a setting, or pre-fill the run cache for a class.",
                                     epilog="\n\n".join(EPILOGS.values()), **kw)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,dpo,sweep,export,warm-cache}")
    train = sub.add_parser("train", help="one PPO run and its report folder", epilog=f"{EPILOGS['train']}\n\n{fields}",
                           description="Align the policy with PPO and write a report folder.", **kw)
    add_config_options(train)
    train.add_argument("--out", required=True, help="report folder (created if missing)")
    train.add_argument("--prompts", type=at_least_one("--prompts", 6, "held-out prompts in the before/after table"),
                       default=6, help="held-out prompts in the before/after table, 1 or more (default 6)")
    train.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                       help="save the whole training state to DIR after every iteration (the run cache is "
                            "bypassed, so the run always trains and writes its checkpoints)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the last checkpoint in --checkpoint-dir (same settings; only "
                            "iterations may change, e.g. --set iterations=80); without one, start at iteration 0")
    dpo = sub.add_parser("dpo", help="one DPO run on preference pairs and its report folder",
                         epilog=f"{EPILOGS['dpo']}\n\n{fields}",
                         description="Align the policy with DPO (notebook 10) and write a report folder.", **kw)
    add_config_options(dpo)
    dpo.add_argument("--pairs", choices=("human", "policy", "online"), default=None,
                     help="where the preference pairs come from (default: the config's dpo_pairs, 'human')")
    dpo.add_argument("--out", required=True, help="report folder (created if missing)")
    dpo.add_argument("--prompts", type=at_least_one("--prompts", 6, "held-out prompts in the before/after table"),
                     default=6, help="held-out prompts in the before/after table, 1 or more (default 6)")
    sweep = sub.add_parser("sweep", help="an ablation over one config field, over seeds",
                           epilog=f"{EPILOGS['sweep']}\n\n{fields}",
                           description="Train once per value and seed (lab.rl.experiments.ablation), compare.", **kw)
    add_config_options(sweep)
    sweep.add_argument("--grid", required=True, metavar="FIELD=V1,V2,…",
                       help="the field and its values, any config field but seed (use --seed/--seeds); "
                            "policy, reward_model and device groups each load their own models")
    sweep.add_argument("--seeds", type=at_least_one("--seeds", 2, "seeds per value"), default=2,
                       help="seeds per value, from --seed on, 1 or more (default 2)")
    sweep.add_argument("--out", required=True, help="report folder (created if missing)")
    add_export_parser(sub, kw, fields)
    add_warm_parser(sub, kw)
    return parser


def add_warm_parser(sub, kw: dict) -> None:
    warm = sub.add_parser("warm-cache", help="execute notebooks headlessly to pre-fill the run cache",
                          epilog=EPILOGS["warm-cache"], description="Pre-fill the run cache for a class.", **kw)
    warm.add_argument("--notebooks", default="all", help="'all', or numbers such as 04,03, or .ipynb paths")
    warm.add_argument("--preset", default="tiny", metavar="NAME",
                      help=f"PPO_LAB_PRESET for the notebooks: {', '.join(sorted(PRESETS))} (default: tiny)")
    warm.add_argument("--cache-dir", default=None,
                      help="the cache folder (default: $PPO_LAB_CACHE or ~/.cache/ppo_lab/runs)")


def add_export_parser(sub, kw: dict, fields: str) -> None:
    export = sub.add_parser("export", help="the same run as a launch folder for verl, OpenRLHF or TRL",
                            epilog=f"{EPILOGS['export']}\n\n{fields}", description="Write a launch script, the "
                            "prompts, the models and a README of what the engine cannot follow (notebook 08).", **kw)
    export.add_argument("--engine", required=True, choices=engines.ENGINES,
                        help=", ".join(f"{e}: {engines.TITLES[e]}" for e in engines.ENGINES))
    add_config_options(export, cache=False)
    export.add_argument("--out", required=True, help="launch folder (created if missing)")


def cmd_export(args) -> int:
    config = make_config(args)
    engines.trainer_of(config, args.engine)             # refused before any folder is made
    checkpoint.check_folder(os.path.dirname(os.path.abspath(args.out)), "--out")   # where the folder goes
    files = engine_export.export(config, args.engine, args.out, args.preset)
    unexpressed = engines.translate(config, args.engine).unexpressed
    print(f"wrote {len(files)} files to {args.out}: {engine_export.LAUNCH[args.engine]}, README.md, data/ "
          f"({engines.TITLES[args.engine]})")
    for field, why in unexpressed:
        print(f"  no equivalent: {field}={getattr(config, field)!r}: {why}")
    return 0


def where_the_run_is(args) -> str:
    """What is left of a run whose report could not be written."""
    if getattr(args, "checkpoint_dir", None):
        return f"the run is in --checkpoint-dir {args.checkpoint_dir}: --resume writes the report again"
    if cache.cache_dir() and not getattr(args, "no_cache", True):
        return "a finished run is in the run cache: the same command again writes the report without training"
    return "the run was not cached (--no-cache)"


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a bad setting prints the config's error and returns 2 (no traceback), a missing
    model 1, Ctrl-C 130 (after writing what it can)."""

    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "dpo": cmd_dpo, "sweep": cmd_sweep,
                "export": cmd_export, "warm-cache": cmd_warm_cache}[args.command](args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except checkpoint.CheckpointError as e:                        # a checkpoint --resume cannot use
        print(f"error: {e}\n  (on the command line: delete that folder, or give another --checkpoint-dir)",
              file=sys.stderr)
        return 2
    except AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ReportError as e:                                       # the run is done: only its report is missing
        print(f"error: {e}; {where_the_run_is(args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C); any report it was writing is incomplete", file=sys.stderr)
        return 130


__all__ = ["add_config_options", "add_export_parser", "add_warm_parser", "at_least_one", "build_parser",
           "checkpoint_kwargs", "cmd_dpo", "cmd_export", "cmd_sweep", "cmd_train", "cmd_warm_cache", "EPILOGS",
           "fields_help", "main", "make_config", "parse_grid", "parse_sets", "parse_value", "report_status",
           "sweep_gaps"]
