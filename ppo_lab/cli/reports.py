"""The report folders the command line writes: JSON histories, Markdown tables, PNG figures.

    python -m ppo_lab train …  → history.json config.json dashboard.png curves.png samples.md
    python -m ppo_lab dpo …    → history.json config.json curves.png samples.md
    python -m ppo_lab sweep …  → comparison.png dashboard.png summary.md histories.json
"""
from __future__ import annotations

import contextlib
import json
import math
import os

import matplotlib.pyplot as plt

from ..config import ConfigError
from ..course import plots
from ..course.dashboard import dashboard
from ..rl.checks import prompt_pool
from ..rl.experiments import before_after
from ..rl.rollout import END_MARK
from ..world import verifiable

CURVES = ["env/reward_mean", "objective/kl"]
SUMMARY = {"env/reward_mean": "reward", "env/fraction_positive": "fraction positive", "gold/vader_mean": "VADER",
           "objective/kl": "KL (nats)", "policy/clipfrac_avg": "clip fraction",
           "val/explained_variance": "explained variance"}
TRAIN_FILES = "history.json config.json dashboard.png curves.png samples.md"
DPO_CURVES = CURVES + ["gold/vader_mean", "rewards/margins", "logps/chosen", "logps/rejected"]
DPO_FILES = "history.json config.json curves.png samples.md"


def finite(obj):
    """NaN/inf → None, so the JSON is strict and any tool can read it."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj


class ReportError(OSError):
    """A report file that could not be written (a full disk, a folder gone): names the file and why."""


@contextlib.contextmanager
def writing(path: str):
    """Turn an OSError while writing `path` into a ReportError that names the file."""
    try:
        yield
    except OSError as e:
        raise ReportError(f"writing {path} failed: {e.strerror or e}") from None


def write_json(path: str, obj) -> None:
    with writing(path), open(path, "w") as f:
        json.dump(finite(obj), f, indent=1)


def cell(value) -> str:
    """One Markdown table cell: pipes escaped, line breaks shown as ⏎."""
    return str(value).replace("|", "\\|").replace("\r", "").replace("\n", " ⏎ ")


def is_number(value) -> bool:
    """A table value that reads as a number: 3, 0.25, "4.000", "nan", "1–2" (a range of iteration counts)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        [float(part) for part in str(value).split("–")]
    except ValueError:
        return False
    return True


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table: number columns right-aligned, text columns (completions) left-aligned, never cut."""
    numeric = [bool(rows) and all(is_number(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if n else ":---|" for n in numeric)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]) + "\n"


def shown(row: dict, key: str) -> str:
    """The text of a completion as a learner reads it: its "<key>_readable" / "readable" form (end-of-text
    shown as ∎, `rollout.END_MARK`), or the plain text where the row predates it (an older checkpoint)."""
    return row.get("readable" if key == "completion" else f"{key}_readable", row[key])


def samples_markdown(run, before_after: list[dict]) -> str:
    """Before/after completions of fixed prompts, then the samples the run recorded while training."""

    program = verifiable.is_program(run.config.reward_model)          # sums checked by a program (notebook 11)
    gold, flipped, positive = ("exact match", "fixed", "right") if program else ("VADER", "flipped", "positive")
    ba = table(["prompt", "before (starting model)", "score", "after (aligned policy)", "score", flipped],
               [[r["prompt"], shown(r, "before"), r["before_score"], shown(r, "after"), r["after_score"],
                 "yes" if r["flipped"] else ""] for r in before_after])
    rec = table(["iteration", "prompt", "completion", "reward score", gold, positive],
                [[s["iteration"], s["prompt"], shown(s, "completion"), s["score"], round(s["gold"], 3),
                  "yes" if s["positive"] else ""] for s in run.samples])
    length = (f"A completion stops at its first end-of-text (at most {run.config.response_length} tokens)"
              if run.config.stop_at_eos else f"Every completion runs {run.config.response_length} tokens, past "
              "the end of a document")
    scores = (f"the reward program `{run.config.reward_model}`: 1 for the right sum" if program
              else "reward-model scores, std units")
    return (f"# Samples\n\nRun status: {run.status}; {len(run.history)} iterations, seed {run.config.seed}.\n\n"
            f"{length}: `{END_MARK.strip()}` marks each end-of-text token.\n\n"
            "## Before and after\n\nThe same prompts, sampled with the same seed, by the frozen starting model "
            f"and by the aligned policy ({scores}).\n\n{ba}\n"
            f"## Recorded during training\n\n{rec}")


def final_means(runs, metric: str) -> float:
    """Mean over seeds of each run's last recorded value of a metric (a run that stopped early gives its
    last completed iteration; runs with no history, missing or non-finite values are skipped)."""
    values = [r.history[-1].get(metric) for r in runs if r.history]
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")


def iterations_cell(runs) -> str:
    """"2" when every seed ran the same number of iterations, else "1–2"."""
    lengths = sorted({len(r.history) for r in runs}) or [0]
    return str(lengths[0]) if len(lengths) == 1 else f"{lengths[0]}–{lengths[-1]}"


def run_notes(groups: dict) -> str:
    """One line per run that did not finish: its group, seed and status."""
    lines = [f"- {name}, seed {r.config.seed}: {r.status}" for name, runs in groups.items() for r in runs
             if r.status != "finished"]
    return "\n## Runs that did not finish\n\n" + "\n".join(lines) + "\n" if lines else ""


def summary_markdown(groups: dict, field: str, missing: list[str] = (), interrupted: bool = False) -> str:
    """The sweep's table (a run that stopped early counts with its last iteration), its unfinished runs,
    and, for an interrupted sweep, what it lacks."""
    header = ["setting", "seeds", "finished", "iterations"] + list(SUMMARY.values())
    rows = [[name, len(runs), sum(r.status == "finished" for r in runs), iterations_cell(runs)]
            + [f"{final_means(runs, m):.3f}" for m in SUMMARY] for name, runs in groups.items()]
    stopped = ""
    if interrupted:
        stopped = ("**The sweep was interrupted (Ctrl-C)**: this report covers the runs trained before it. "
                   f"Missing (never trained): {', '.join(missing) or 'none; the last run stopped early'}.\n\n")
    return (f"# Sweep over {field}\n\n{stopped}Final iteration's metrics, mean over seeds (a run that stopped "
            f"early counts with its last completed iteration).\n\n{table(header, rows)}{run_notes(groups)}")


def save_figure(fig, path: str) -> None:
    try:
        with writing(path):
            fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def write_train_report(out: str, preset: str, n_prompts: int, config, models, run, method: str = "ppo") -> None:
    """history.json, config.json, dashboard.png (PPO only), curves.png and samples.md of one (possibly partial)
    run; a DPO run's curves add the implicit rewards' margin and the log-probs of its pairs."""

    write_json(os.path.join(out, "history.json"), run.history)
    write_json(os.path.join(out, "config.json"), config.to_dict())
    if method == "ppo":
        save_figure(dashboard(run, title=f"PPO diagnostics: preset {preset}, seed {config.seed}"),
                    os.path.join(out, "dashboard.png"))
    metrics = CURVES if method == "ppo" else DPO_CURVES
    if verifiable.is_program(config.reward_model):        # a program's reward is the fraction right (notebook 11)
        metrics = ["gold/exact_match", "objective/kl", "env/response_length", "rewards/margins"]
    metrics = [m for m in metrics if run.history and all(m in h for h in run.history)] or metrics[:1]
    fig = plots.curves({f"seed {config.seed}": [run]}, metrics,
                       f"{method.upper()}: {len(run.history)} iterations, preset {preset}", single_run=True,
                       xlabel="PPO iteration" if method == "ppo" else "DPO iteration")
    save_figure(fig, os.path.join(out, "curves.png"))
    prompts = report_prompts(config, models, n_prompts)
    path = os.path.join(out, "samples.md")
    with writing(path), open(path, "w") as f:
        f.write(samples_markdown(run, before_after(run, prompts, seed=config.seed)))


def report_prompts(config, models, n: int) -> list[str]:
    """The `n` held-out prompts of the before/after table: sums with a reward program, else review openings that
    fit prompt_length. ConfigError (`--prompts`) where the pool holds fewer, checked before a run trains."""
    program = verifiable.is_program(config.reward_model)
    pool = verifiable.prompts("held_out") if program else prompt_pool(models.tokenizer, config)
    if not 1 <= n <= len(pool):
        what = "held-out sums" if program else f"held-out review openings of at most {config.prompt_length} tokens"
        raise ConfigError(f"--prompts={n}: the pool has {len(pool)} {what}; valid: 1 to {len(pool)}")
    return verifiable.prompts("held_out", n) if program else pool[:n]


def write_sweep_report(out: str, groups: dict, field: str, title: str, missing: list[str], stopped: bool) -> str:
    """The sweep's report files over the groups trained; returns their names."""

    files = []
    if any(run.history for runs in groups.values() for run in runs):
        save_figure(plots.curves(groups, CURVES + ["gold/vader_mean"], title), os.path.join(out, "comparison.png"))
        save_figure(dashboard(groups, title=title), os.path.join(out, "dashboard.png"))
        files += ["comparison.png", "dashboard.png"]
    path = os.path.join(out, "summary.md")
    with writing(path), open(path, "w") as f:
        f.write(summary_markdown(groups, field, missing, stopped))
    write_json(os.path.join(out, "histories.json"), {k: [r.history for r in runs] for k, runs in groups.items()})
    return " ".join(files + ["summary.md", "histories.json"])


__all__ = ["cell", "CURVES", "DPO_CURVES", "DPO_FILES", "final_means", "finite", "is_number", "iterations_cell",
           "run_notes", "samples_markdown", "save_figure", "shown", "SUMMARY", "summary_markdown", "table",
           "TRAIN_FILES", "write_json", "write_sweep_report", "write_train_report"]
