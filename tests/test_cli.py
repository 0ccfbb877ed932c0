"""`python -m ppo_lab`: documented options, clear errors with exit code 2, and complete report folders."""
import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from ppo_lab.cli import main as cli
from ppo_lab.config import PPOConfig

SMALL = ["--preset", "ci", "--set", "iterations=2", "--set", "batch_size=4", "--set", "minibatch_size=2",
         "--set", "ppo_epochs=1", "--set", "response_length=8", "--set", "sample_every=1", "--set", "num_samples=2"]


@pytest.mark.parametrize("command", [[], ["train"], ["dpo"], ["sweep"], ["warm-cache"]])
def test_help_documents_every_option_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(command + ["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "examples:" in out and "python -m ppo_lab" in out
    parser = cli.build_parser()
    actions = parser._actions if not command else parser._subparsers._group_actions[0].choices[command[0]]._actions
    for action in actions:
        for flag in action.option_strings:
            assert flag in out
        if action.option_strings and action.help is None:
            pytest.fail(f"{action.option_strings} has no help text")


@pytest.mark.parametrize("command", ["train", "dpo", "sweep"])
def test_help_lists_every_config_field_with_its_range_and_default(command, capsys):
    from ppo_lab.config import FIELDS

    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    listing = out.split("config fields (--set KEY=VALUE")[1]
    for name, info in FIELDS.items():
        assert re.search(rf"^  {re.escape(info.label)} +{re.escape(info.valid())}, default ", listing, re.M), name
    assert "  clip_eps (ε)          float or None in (0, 10], default 0.2 — trust region of the ratio" in listing
    assert max(len(line) for line in listing.splitlines()) <= 100


@pytest.mark.parametrize("command", [["train"], ["sweep", "--grid", "clip_eps=0.2"], ["warm-cache"]])
def test_an_unknown_preset_exits_2_with_the_presets(command, tmp_path, capsys, no_training):
    out = [] if command == ["warm-cache"] else ["--out", str(tmp_path / "x")]
    assert cli.main(command + ["--preset", "huge"] + out) == 2
    err = capsys.readouterr().err
    assert "error: preset='huge' is not a preset; choose one of ['arithmetic', 'ci', 'gpt2', 'tiny']" in err
    assert not (tmp_path / "x").exists()


def test_a_bad_set_exits_2_with_the_field_name_and_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ppo_lab", "train", "--out", str(tmp_path / "x"),
                          "--set", "clip_eps=abc"], check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "clip_eps" in out.stderr and "must be a number or None" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("sets, message", [(["foo=1"], "'foo' is not a config field"),
                                           (["clip_eps"], "expected key=value"),
                                           (["minibatch_size=3"], "minibatch_size=3 does not divide"),
                                           (["whiten_advantages=maybe"], "whiten_advantages='maybe' must be True")])
def test_bad_settings_name_the_field(sets, message, tmp_path, capsys):
    args = ["train", "--out", str(tmp_path)] + [x for s in sets for x in ("--set", s)]
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_set_values_take_the_fields_types():
    values = cli.parse_sets(["clip_eps=none", "iterations=3", "learning_rate=1e-4", "whiten_advantages=false",
                             "kl_estimator=k3", "vf_coef=1"])
    assert values == {"clip_eps": None, "iterations": 3, "learning_rate": 1e-4, "whiten_advantages": False,
                      "kl_estimator": "k3", "vf_coef": 1.0}
    assert type(values["vf_coef"]) is float and type(values["iterations"]) is int
    assert cli.parse_grid("clip_eps=0.05,0.2,none") == ("clip_eps", [0.05, 0.2, None])


def test_train_writes_every_report_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["train", *SMALL, "--seed", "1", "--prompts", "2", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["config.json", "curves.png", "dashboard.png", "history.json", "samples.md"]
    config = json.loads((out / "config.json").read_text())
    assert PPOConfig(**config) == PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1,
                                                   response_length=8, sample_every=1, num_samples=2, seed=1)
    history = json.loads((out / "history.json").read_text())
    assert [h["iteration"] for h in history] == [0, 1] and "env/reward_mean" in history[0]
    samples = (out / "samples.md").read_text()
    assert "## Before and after" in samples and "## Recorded during training" in samples
    before_after = samples.split("## Recorded")[0]
    assert before_after.count("\n| ") == 1 + 2                          # header + the 2 prompts
    assert samples.split("## Recorded")[1].count("\n| ") == 1 + 2 * 2   # header + 2 samples × 2 iterations
    for png in ("curves.png", "dashboard.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("pairs", ["human", "online"])
def test_dpo_writes_its_report_with_the_pairs_named(pairs, tmp_path, capsys):
    out = tmp_path / "dpo"
    assert cli.main(["dpo", *SMALL, "--pairs", pairs, "--prompts", "2", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["config.json", "curves.png", "history.json", "samples.md"]
    assert json.loads((out / "config.json").read_text())["dpo_pairs"] == pairs
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2 and {"env/reward_mean", "rewards/margins", "logps/chosen"} <= set(history[0])
    assert "## Before and after" in (out / "samples.md").read_text()
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"finished; report in {out}: history.json config.json curves.png samples.md" in capsys.readouterr().out


def test_dpo_refuses_a_bad_setting_with_exit_2(tmp_path, capsys):
    assert cli.main(["dpo", *SMALL, "--set", "dpo_beta=0", "--out", str(tmp_path / "x")]) == 2
    assert "dpo_beta=0.0 is out of range; valid: (0.0, 100.0]" in capsys.readouterr().err
    assert cli.main(["dpo", *SMALL, "--set", "batch_size=6", "--set", "minibatch_size=3",
                     "--out", str(tmp_path / "y")]) == 2
    assert "minibatch_size=3 is odd" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["dpo", *SMALL, "--pairs", "crowd", "--out", str(tmp_path / "z")])
    assert "argument --pairs: invalid choice: 'crowd'" in capsys.readouterr().err


def test_sweep_writes_its_plot_and_summary(tmp_path):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", *SMALL, "--grid", "clip_eps=0.2,none", "--seeds", "1", "--out", str(out)]) == 0
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert "| clip_eps=0.2 | 1 | 1 |" in summary and "| clip_eps=None | 1 | 1 |" in summary
    assert set(json.loads((out / "histories.json").read_text())) == {"clip_eps=0.2", "clip_eps=None"}


def test_warm_cache_runs_notebooks_with_the_preset_and_cache_folder(tmp_path, capsys):
    seen = tmp_path / "seen.json"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import json, os\njson.dump([os.environ['PPO_LAB_PRESET'], os.environ['PPO_LAB_CACHE']], "
        f"open({str(seen)!r}, 'w'))")])
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, str(path))
    before = os.environ.get("PPO_LAB_PRESET")
    assert cli.main(["warm-cache", "--notebooks", str(path), "--preset", "ci",
                     "--cache-dir", str(tmp_path / "cache")]) == 0
    assert json.loads(seen.read_text()) == ["ci", str(tmp_path / "cache")]
    assert "probe.ipynb: " in capsys.readouterr().out
    assert os.environ.get("PPO_LAB_PRESET") == before                  # the caller's environment is restored


def test_warm_cache_refuses_unknown_notebooks(capsys):
    assert cli.main(["warm-cache", "--notebooks", "99"]) == 2
    assert "'99' matches no notebook" in capsys.readouterr().err


# ====================================================================== refused up front, before any training
@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to load models or train fails the test: proves a check happens before the first run."""
    from ppo_lab.rl import cache, experiments
    from ppo_lab.world import models

    def refuse(*args, **kwargs):
        raise AssertionError("models were loaded or a run was trained before the bad setting was refused")
    monkeypatch.setattr(cache, "cached_train", refuse)
    monkeypatch.setattr(models, "load_models", refuse)
    monkeypatch.setattr(cli, "load_models", refuse)                     # each holds its own reference
    monkeypatch.setattr(experiments, "load_models", refuse)


@pytest.mark.parametrize("command", [["train"], ["sweep", "--grid", "clip_eps=0.2", "--seeds", "1"]])
@pytest.mark.parametrize("where, reason", [("file", "File exists"), ("file/sub", "Not a directory")])
def test_an_out_folder_that_cannot_be_created_exits_2_before_training(command, where, reason, tmp_path, capsys,
                                                                      no_training):
    (tmp_path / "file").write_text("a regular file")
    assert cli.main(command + [*SMALL, "--out", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert f"error: --out '{tmp_path / where}' cannot be created: {reason}; valid: a folder path you can write " \
           "to (not a file, nor inside one), e.g. --out runs/demo" in err and "Traceback" not in err


@pytest.mark.parametrize("option, value, message", [
    ("--prompts", "0", "argument --prompts: 0 is out of range; valid: 1 or more (held-out prompts in the "
                       "before/after table), e.g. --prompts 6"),
    ("--prompts", "-3", "argument --prompts: -3 is out of range; valid: 1 or more"),
    ("--prompts", "many", "argument --prompts: 'many' is not a whole number; valid: 1 or more"),
    ("--seeds", "0", "argument --seeds: 0 is out of range; valid: 1 or more (seeds per value), e.g. --seeds 2"),
    ("--seeds", "-1", "argument --seeds: -1 is out of range"),
])
def test_counts_below_one_are_refused_by_the_parser(option, value, message, tmp_path, capsys, no_training):
    command = ["train"] if option == "--prompts" else ["sweep", "--grid", "clip_eps=0.2"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(command + [*SMALL, option, value, "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_resume_without_a_checkpoint_dir_exits_2(tmp_path, capsys, no_training):
    assert cli.main(["train", *SMALL, "--resume", "--out", str(tmp_path / "x")]) == 2
    assert "error: --resume needs --checkpoint-dir DIR" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("spec", ["", " , "])
def test_warm_cache_refuses_an_empty_selection(spec, capsys):
    assert cli.main(["warm-cache", "--notebooks", spec]) == 2
    assert f"error: --notebooks {spec!r} selects no notebook; valid: all, or some of 00" in capsys.readouterr().err


def test_warm_cache_reports_a_malformed_notebook_and_runs_the_others(tmp_path, capsys):
    seen = tmp_path / "seen.txt"
    (tmp_path / "broken.ipynb").write_text("{ not json")
    (tmp_path / "not_a_notebook.ipynb").write_text('{"cells": 3}')
    good = tmp_path / "good.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"open({str(seen)!r}, 'w')")]), str(good))
    spec = ",".join(str(tmp_path / n) for n in ("broken.ipynb", "not_a_notebook.ipynb", "good.ipynb"))
    assert cli.main(["warm-cache", "--notebooks", spec, "--cache-dir", str(tmp_path / "cache")]) == 1
    assert seen.exists()                                                # the good one ran after the broken ones
    captured = capsys.readouterr()
    assert re.search(r"broken.ipynb: FAILED after \d+ s: not a readable notebook \(NotJSONError: ", captured.err)
    assert re.search(r"not_a_notebook.ipynb: FAILED after \d+ s: not a readable notebook \(TypeError: ", captured.err)
    assert "2 of 3 notebooks FAILED (see above)" in captured.err and "good.ipynb: " in captured.out


# ====================================================================== Ctrl-C and checkpoints
def test_an_interrupted_train_writes_its_partial_report_and_exits_130(tmp_path, capsys, ctrl_c_at):
    ctrl_c_at(2)                                                        # Ctrl-C during the second iteration
    out = tmp_path / "demo"
    assert cli.main(["train", *SMALL, "--prompts", "1", "--no-cache", "--out", str(out)]) == 130
    assert sorted(os.listdir(out)) == ["config.json", "curves.png", "dashboard.png", "history.json", "samples.md"]
    assert len(json.loads((out / "history.json").read_text())) == 1
    assert "Run status: interrupted" in (out / "samples.md").read_text()
    assert (f"interrupted (Ctrl-C) after 1 completed iteration; report of the partial run in {out}: history.json "
            "config.json dashboard.png curves.png samples.md") in capsys.readouterr().err


def test_train_with_a_checkpoint_dir_resumes_with_more_iterations(tmp_path, capsys, monkeypatch):
    from ppo_lab.rl import cache

    real, use_cache = cache.cached_train, []

    def cached_train(*args, **kwargs):
        use_cache.append(kwargs["use_cache"])
        return real(*args, **kwargs)
    monkeypatch.setattr(cache, "cached_train", cached_train)
    ckpt = tmp_path / "ckpt"
    args = ["train", *SMALL, "--prompts", "1", "--checkpoint-dir", str(ckpt)]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert sorted(os.listdir(ckpt)) == ["checkpoint.json", "checkpoint.safetensors"]
    assert cli.main(["train", *SMALL, "--set", "iterations=3", "--prompts", "1", "--checkpoint-dir", str(ckpt),
                     "--resume", "--out", str(tmp_path / "b")]) == 0
    assert use_cache == [False, False]                                  # the run cache is bypassed with checkpoints
    first = json.loads((tmp_path / "a" / "history.json").read_text())
    resumed = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [h["iteration"] for h in resumed] == [0, 1, 2] and resumed[:2] == first
    assert cli.main(["train", *SMALL, "--set", "learning_rate=1e-3", "--checkpoint-dir", str(ckpt), "--resume",
                     "--out", str(tmp_path / "c")]) == 2                # other settings than the checkpoint's
    assert "learning_rate" in capsys.readouterr().err


def test_a_damaged_checkpoint_exits_2_without_a_traceback(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "checkpoint.json").write_text("{}")                         # the JSON without its tensors
    assert cli.main(["train", *SMALL, "--checkpoint-dir", str(ckpt), "--resume", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.safetensors is missing" in err and "Traceback" not in err
    assert "delete that folder, or give another --checkpoint-dir" in err
