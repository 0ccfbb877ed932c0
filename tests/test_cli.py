"""`python -m ppo_lab`: documented options, clear errors with exit code 2, and complete report folders."""
import json
import os
import subprocess
import sys

import nbformat
import pytest

from ppo_lab import cli
from ppo_lab.config import PPOConfig

SMALL = ["--preset", "ci", "--set", "iterations=2", "--set", "batch_size=4", "--set", "minibatch_size=2",
         "--set", "ppo_epochs=1", "--set", "response_length=8", "--set", "sample_every=1", "--set", "num_samples=2"]


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["warm-cache"]])
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
