"""The headless CLI: `python -m ppo_lab train | sweep | warm-cache` (see `--help` of each).

    python -m ppo_lab train --preset tiny --out runs/demo --set kl_coef=0.2
    python -m ppo_lab sweep --preset tiny --grid clip_eps=0.05,0.2,none --seeds 2 --out runs/sweep
    python -m ppo_lab warm-cache --notebooks 03,04 --preset tiny

Reports are plain files (JSON, PNG, Markdown); a bad setting exits with code 2 and the config's
own error message.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import sys
import time

from .config import PRESETS, ConfigError, PPOConfig

NOTEBOOKS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(PPOConfig)}  # "int", "float | None", …
CURVES = ["env/reward_mean", "objective/kl"]
SUMMARY = {"env/reward_mean": "reward", "env/fraction_positive": "fraction positive", "gold/vader_mean": "VADER",
           "objective/kl": "KL (nats)", "policy/clipfrac_avg": "clip fraction",
           "val/explained_variance": "explained variance"}


# ====================================================================== settings
def parse_value(field: str, text: str):
    """"none" → None, then the field's own type; text that does not parse is passed on for the config to refuse."""
    if field not in FIELD_TYPES:
        raise ConfigError(f"--set {field}=…: {field!r} is not a config field; valid: {', '.join(FIELD_TYPES)}")
    kind = FIELD_TYPES[field]
    if text.strip().lower() in ("none", "null"):
        return None
    if kind == "bool":
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower(), text)
    for name, cast in (("int", int), ("float", float)):
        if kind.startswith(name):
            try:
                return cast(text)
            except ValueError:
                return text
    return text


def parse_sets(items: list[str]) -> dict:
    """["clip_eps=0.1", "whiten_advantages=false"] → {"clip_eps": 0.1, "whiten_advantages": False}."""
    changes = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set clip_eps=0.1")
        changes[key.strip()] = parse_value(key.strip(), text.strip())
    return changes


def make_config(args) -> PPOConfig:
    """The preset, then every --set, then --seed; validated by PPOConfig itself."""
    changes = parse_sets(args.set)
    if args.seed is not None:
        changes["seed"] = args.seed
    return PPOConfig.preset(args.preset, **changes)


def parse_grid(text: str) -> tuple[str, list]:
    """"clip_eps=0.05,0.2,none" → ("clip_eps", [0.05, 0.2, None])."""
    field, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise ConfigError(f"--grid {text!r}: expected field=v1,v2,…, e.g. --grid clip_eps=0.05,0.2,none")
    return field.strip(), [parse_value(field.strip(), v.strip()) for v in values.split(",")]


# ====================================================================== report files
def finite(obj):
    """NaN/inf → None, so the JSON is strict and any tool can read it."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(finite(obj), f, indent=1)


def cell(value) -> str:
    """One Markdown table cell: pipes escaped, line breaks shown as ⏎."""
    return str(value).replace("|", "\\|").replace("\r", "").replace("\n", " ⏎ ")


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]) + "\n"


def samples_markdown(run, before_after: list[dict]) -> str:
    """Before/after completions of fixed prompts, then the samples the run recorded while training."""
    ba = table(["prompt", "before (starting model)", "score", "after (aligned policy)", "score", "flipped"],
               [[r["prompt"], r["before"], r["before_score"], r["after"], r["after_score"], "yes" if r["flipped"] else ""]
                for r in before_after])
    rec = table(["iteration", "prompt", "completion", "reward score", "VADER", "positive"],
                [[s["iteration"], s["prompt"], s["completion"], s["score"], round(s["gold"], 3),
                  "yes" if s["positive"] else ""] for s in run.samples])
    return (f"# Samples\n\nRun status: {run.status}; {len(run.history)} iterations, seed {run.config.seed}.\n\n"
            "## Before and after\n\nThe same prompts, sampled with the same seed, by the frozen starting model "
            f"and by the aligned policy (reward-model scores, std units).\n\n{ba}\n"
            f"## Recorded during training\n\n{rec}")


def final_means(runs, metric: str) -> float:
    """Mean over seeds of a metric's last value (NaN-safe: NaNs are skipped)."""
    values = [r.history[-1][metric] for r in runs if r.history and math.isfinite(r.history[-1][metric])]
    return sum(values) / len(values) if values else float("nan")


def summary_markdown(groups: dict, field: str) -> str:
    header = ["setting", "seeds", "finished"] + list(SUMMARY.values())
    rows = [[name, len(runs), sum(r.status == "finished" for r in runs)]
            + [f"{final_means(runs, m):.3f}" for m in SUMMARY] for name, runs in groups.items()]
    return (f"# Sweep over {field}\n\nFinal iteration's metrics, mean over seeds.\n\n{table(header, rows)}")


def save_figure(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


# ====================================================================== subcommands
def cmd_train(args) -> int:
    from . import cache, plots, trainer
    from .dashboard import dashboard
    from .experiments import before_after
    from .models import load_models

    config = make_config(args)
    os.makedirs(args.out, exist_ok=True)
    models = load_models(config)
    run = cache.cached_train(config, models, use_cache=not args.no_cache, progress=True)
    write_json(os.path.join(args.out, "history.json"), run.history)
    write_json(os.path.join(args.out, "config.json"), config.to_dict())
    save_figure(dashboard(run, title=f"PPO diagnostics: preset {args.preset}, seed {config.seed}"),
                os.path.join(args.out, "dashboard.png"))
    fig = plots.curves({f"seed {config.seed}": [run]}, CURVES, f"Reward and KL over {len(run.history)} iterations")
    for ax in fig.axes:
        ax.get_lines()[0].set_label(f"seed {config.seed}")
        ax.legend(fontsize=8)
    save_figure(fig, os.path.join(args.out, "curves.png"))
    prompts = trainer.prompt_pool(models.tokenizer, config)[:args.prompts]
    with open(os.path.join(args.out, "samples.md"), "w") as f:
        f.write(samples_markdown(run, before_after(run, prompts, seed=config.seed)))
    print(f"{run.status}; report in {args.out}: history.json config.json dashboard.png curves.png samples.md")
    return 0


def cmd_sweep(args) -> int:
    from . import experiments, plots
    from .dashboard import dashboard

    config = make_config(args)
    field, values = parse_grid(args.grid)
    for value in values:                        # refuse a bad value before any training
        config.replace(**{field: value})
    seeds = tuple(range(config.seed, config.seed + args.seeds))
    os.makedirs(args.out, exist_ok=True)
    groups = experiments.ablation(config, field, values, seeds, use_cache=not args.no_cache, progress=True)
    title = f"{field} sweep: preset {args.preset}, {len(seeds)} seed(s) per setting"
    save_figure(plots.curves(groups, CURVES + ["gold/vader_mean"], title), os.path.join(args.out, "comparison.png"))
    save_figure(dashboard(groups, title=title), os.path.join(args.out, "dashboard.png"))
    write_json(os.path.join(args.out, "histories.json"), {k: [r.history for r in runs] for k, runs in groups.items()})
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(summary_markdown(groups, field))
    print(f"report in {args.out}: comparison.png dashboard.png summary.md histories.json")
    return 0


def find_notebooks(spec: str) -> list[str]:
    """"all", or comma-separated numbers ("04,03") or paths to .ipynb files."""
    available = sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "[0-9][0-9]_*.ipynb")))
    if spec.strip() == "all":
        return available
    found = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        match = [token] if token.endswith(".ipynb") and os.path.isfile(token) else \
            [p for p in available if os.path.basename(p).startswith(token + "_")]
        if not match:
            names = ", ".join(os.path.basename(p)[:2] for p in available)
            raise ConfigError(f"--notebooks: {token!r} matches no notebook; valid: all, or some of {names} "
                              "(comma-separated), or paths to .ipynb files")
        found += match
    return found


def cmd_warm_cache(args) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from . import cache

    if args.preset not in PRESETS:
        raise ConfigError(f"preset={args.preset!r} is not a preset; choose one of {sorted(PRESETS)}")
    folder = os.path.abspath(args.cache_dir) if args.cache_dir else cache.cache_dir()
    if folder is None:
        raise ConfigError("warm-cache: the run cache is off (PPO_LAB_CACHE=off); unset it or give --cache-dir")
    notebooks, failed = find_notebooks(args.notebooks), 0
    saved = {k: os.environ.get(k) for k in ("PPO_LAB_PRESET", "PPO_LAB_CACHE")}
    os.environ.update(PPO_LAB_PRESET=args.preset, PPO_LAB_CACHE=folder)  # the kernels inherit these
    try:
        for path in notebooks:
            t0, name = time.perf_counter(), os.path.basename(path)
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=None, kernel_name="python3",
                                    resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
            try:
                client.execute()
                print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
            except CellExecutionError as e:
                failed += 1
                print(f"{name}: FAILED after {time.perf_counter() - t0:.0f} s: {str(e).strip().splitlines()[-1]}",
                      file=sys.stderr, flush=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    entries = len([d for d in os.listdir(folder) if not d.startswith(".")]) if os.path.isdir(folder) else 0
    print(f"run cache {folder}: {entries} entries (preset {args.preset})")
    return 1 if failed else 0


# ====================================================================== the parser
EPILOGS = {
    "train": """examples:
  python -m ppo_lab train --preset tiny --out runs/demo
  python -m ppo_lab train --preset tiny --out runs/no_kl --set kl_coef=0 --set kl_target=none --seed 3
  python -m ppo_lab train --preset ci --out runs/quick --set iterations=2

writes history.json, config.json, dashboard.png, curves.png and samples.md to --out""",
    "sweep": """examples:
  python -m ppo_lab sweep --preset tiny --grid clip_eps=0.05,0.2,none --seeds 2 --out runs/clip
  python -m ppo_lab sweep --preset ci --grid vf_coef=0,0.1,1 --seeds 1 --out runs/vf --set iterations=4

writes comparison.png, dashboard.png, summary.md and histories.json to --out""",
    "warm-cache": """examples:
  python -m ppo_lab warm-cache --notebooks all
  python -m ppo_lab warm-cache --notebooks 04,03 --preset tiny --cache-dir /srv/class/ppo_lab_cache

runs the notebooks headlessly with PPO_LAB_PRESET and PPO_LAB_CACHE set, so the runs they
train (through lab.experiments) are stored in the run cache before class""",
}


def add_config_options(p) -> None:
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="starting settings (default: tiny)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one config field, repeatable; 'none' → None, true/false for booleans "
                        f"(fields: {', '.join(FIELD_TYPES)})")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 0)")
    p.add_argument("--no-cache", action="store_true", help="always train; neither read nor fill the run cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ppo_lab", description="PPO Lab without a notebook: align the "
                                     "tiny GPT-2, sweep a setting, or pre-fill the run cache for a class.",
                                     epilog="\n\n".join(EPILOGS.values()), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,sweep,warm-cache}")
    kw = {"formatter_class": argparse.RawDescriptionHelpFormatter}
    train = sub.add_parser("train", help="one PPO run and its report folder", epilog=EPILOGS["train"],
                           description="Align the policy with PPO and write a report folder.", **kw)
    add_config_options(train)
    train.add_argument("--out", required=True, help="report folder (created if missing)")
    train.add_argument("--prompts", type=int, default=6, help="held-out prompts in the before/after table (default 6)")
    sweep = sub.add_parser("sweep", help="an ablation over one config field, over seeds", epilog=EPILOGS["sweep"],
                           description="Train once per value and seed (lab.experiments.ablation), compare.", **kw)
    add_config_options(sweep)
    sweep.add_argument("--grid", required=True, metavar="FIELD=V1,V2,…", help="the field and its values")
    sweep.add_argument("--seeds", type=int, default=2, help="seeds per value, from --seed on (default 2)")
    sweep.add_argument("--out", required=True, help="report folder (created if missing)")
    warm = sub.add_parser("warm-cache", help="execute notebooks headlessly to pre-fill the run cache",
                          epilog=EPILOGS["warm-cache"], description="Pre-fill the run cache for a class.", **kw)
    warm.add_argument("--notebooks", default="all", help="'all', or numbers such as 04,03, or .ipynb paths")
    warm.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="PPO_LAB_PRESET for the notebooks")
    warm.add_argument("--cache-dir", default=None, help="the cache folder (default: $PPO_LAB_CACHE or ~/.cache/ppo_lab/runs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a bad setting prints the config's error and returns 2 (no traceback)."""
    from .models import AssetError

    args = build_parser().parse_args(argv)
    if getattr(args, "seeds", 1) < 1:
        print("error: --seeds must be at least 1", file=sys.stderr)
        return 2
    try:
        return {"train": cmd_train, "sweep": cmd_sweep, "warm-cache": cmd_warm_cache}[args.command](args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
