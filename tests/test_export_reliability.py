"""The export as an adversary would use it: hostile folder names never run as code and reach the engine as the
same text, the launch script refuses a GPU count it cannot use, and an export never writes into a folder it did
not make nor leaves a mixture of two exports."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

import ppo_lab as lab
from ppo_lab.config import ConfigError
from ppo_lab.interop import definitions as defs, export as engine_export
from ppo_lab.world import assets

HOSTILE = ["o'brien $(touch PWNED)", "it's here", 'a "quoted" `id` ${HOME} \\ end\\']


def fake_python(bin_dir: pathlib.Path, argv_file: pathlib.Path) -> None:
    """A python3 that runs `-c` programs (the script's own quoting of $PWD) and records any other command line."""
    script = bin_dir / "python3"
    script.write_text(f"""#!{sys.executable}
import os, sys
if sys.argv[1] == "-c":
    os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
with open({str(argv_file)!r}, "w", encoding="utf-8") as f:
    f.write("\\0".join(sys.argv[1:]))
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def run_launch(folder: pathlib.Path, tmp_path: pathlib.Path, gpus: str = "1") -> tuple[subprocess.CompletedProcess,
                                                                                          list[str]]:
    """Run launch.sh with the fake python3 first on PATH, from an unrelated folder: (its result, the argv it gave)."""
    bin_dir, argv_file = tmp_path / "bin", tmp_path / "argv"
    bin_dir.mkdir(exist_ok=True)
    fake_python(bin_dir, argv_file)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GPUS": gpus}
    done = subprocess.run(["bash", str(folder / "launch.sh")], env=env, cwd=tmp_path, capture_output=True, text=True)
    argv = argv_file.read_text().split("\0") if argv_file.exists() else []
    return done, argv


@pytest.fixture
def hostile_policy(tmp_path):
    """A copy of the bundled policy in a folder whose name is shell code."""
    folder = tmp_path / "models here" / HOSTILE[0]
    shutil.copytree(os.path.join(assets.ASSETS_DIR, "tiny-gpt2"), folder)
    return folder


@pytest.mark.parametrize("launch_name", HOSTILE)
@pytest.mark.parametrize("engine", ["verl", "openrlhf"])
def test_hostile_names_are_literals_in_the_script_and_the_engine(engine, launch_name, hostile_policy, tmp_path):
    config = lab.PPOConfig.preset("tiny", policy=str(hostile_policy), iterations=2)
    launch = tmp_path / launch_name / engine
    launch.parent.mkdir()
    engine_export.export(config, engine, str(launch), "tiny")
    done, argv = run_launch(launch, tmp_path)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PWNED")) and not (pathlib.Path.cwd() / "PWNED").exists()
    here = os.path.realpath(launch)
    if engine == "verl":
        overrides = dict(w.split("=", 1) for w in argv[2:] if "=" in w)
        assert overrides["actor_rollout_ref.model.path"] == defs.hydra_quoted(str(hostile_policy))
        assert overrides["data.train_files"] == defs.hydra_quoted(f"{here}/data/train.jsonl")
        if not defs.missing("verl"):                  # verl's own Hydra composition reads the same text back
            from omegaconf import OmegaConf
            composed = defs.verl_config(argv[2:])
            assert OmegaConf.select(composed, "actor_rollout_ref.model.path") == str(hostile_policy)
            assert OmegaConf.select(composed, "data.train_files") == f"{here}/data/train.jsonl"
    else:
        flags = argv[2:]
        assert flags[flags.index("--actor.model_name_or_path") + 1] == str(hostile_policy)
        assert flags[flags.index("--data.prompt_dataset") + 1] == f"{here}/data/train.jsonl"
        if not defs.missing("openrlhf"):
            parsed = vars(defs.openrlhf_parser().parse_args(flags))
            assert parsed["actor.model_name_or_path"] == str(hostile_policy)


def test_every_verl_word_composes_with_hydra_for_a_folder_with_an_apostrophe(tmp_path):
    if defs.missing("verl"):
        pytest.skip(defs.missing("verl"))
    folder = tmp_path / "it's here"
    shutil.copytree(os.path.join(assets.ASSETS_DIR, "tiny-gpt2"), folder)
    config = lab.PPOConfig.preset("tiny", policy=str(folder))
    launch = folder.parent / "it's here too" / "launch"                # $PWD with an apostrophe as well
    engine_export.export(config, "verl", str(launch), "tiny")
    _, argv = run_launch(launch, tmp_path)
    from hydra.core.override_parser.overrides_parser import OverridesParser
    parser = OverridesParser.create()
    words = argv[2:]
    assert len(words) == 61 and sum("here too" in w for w in words) >= 3          # $PWD's paths among them
    for word in words:
        parser.parse_override(word)                      # every one of them


@pytest.mark.parametrize("gpus", ["-1", "0", "abc", "1.5", "$(touch PWNED)", "3"])
def test_the_launch_script_refuses_a_gpu_count_it_cannot_use(gpus, tmp_path):
    launch = tmp_path / "launch"
    engine_export.export(lab.PPOConfig.preset("tiny"), "openrlhf", str(launch), "tiny")
    done, argv = run_launch(launch, tmp_path, gpus)
    assert done.returncode == 2 and argv == [] and not list(tmp_path.rglob("PWNED"))
    assert "valid: a whole number of GPUs" in done.stderr or "must divide MINIBATCH=16" in done.stderr
    assert "unbound variable" not in done.stderr


def test_an_export_never_writes_into_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    with pytest.raises(ConfigError, match=r"not a launch folder of ours \(README.md\).*never writes into a folder"):
        engine_export.export(lab.PPOConfig.preset("tiny"), "verl", str(out), "tiny")
    assert [p.name for p in out.iterdir()] == ["README.md"] and (out / "README.md").read_text() == "my notes"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]           # nothing left beside it either


def test_a_previous_export_is_replaced_whole_and_said_so(tmp_path, capsys):
    out = tmp_path / "launch"
    engine_export.export(lab.PPOConfig.preset("tiny"), "verl", str(out), "tiny")
    config = lab.PPOConfig.preset("arithmetic", advantage_estimator="grpo")
    files = engine_export.export(config, "trl", str(out), "arithmetic")
    assert "replaced the previous export" in capsys.readouterr().out
    assert not (out / "launch.sh").exists() and (out / "train.py").exists()          # no verl file left beside TRL's
    assert sorted(files + [engine_export.MARK]) == sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    (out / "notes.txt").write_text("mine now")                         # a user's file inside: no longer ours alone
    with pytest.raises(ConfigError, match="notes.txt"):
        engine_export.export(config, "trl", str(out), "arithmetic")
    assert (out / "notes.txt").read_text() == "mine now"


def test_an_interrupted_export_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    out = tmp_path / "launch"
    engine_export.export(lab.PPOConfig.preset("tiny"), "verl", str(out), "tiny")
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(engine_export, "copy_bundled", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine_export.export(lab.PPOConfig.preset("tiny"), "openrlhf", str(out), "tiny")
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["launch"]          # the half-written folder is gone


def test_concurrent_exports_into_one_folder_leave_one_whole_export(tmp_path):
    out = tmp_path / "launch"
    code = ("import sys, ppo_lab as lab\nfrom ppo_lab.interop import export\n"
            "engine = sys.argv[1]\nconfig = lab.PPOConfig.preset('arithmetic', advantage_estimator='grpo')\n"
            "try:\n    export.export(config, engine, sys.argv[2], 'arithmetic')\n"
            "except lab.ConfigError as e:\n    print(e)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, engine, str(out)], stdout=subprocess.PIPE, text=True)
             for engine in ("verl", "trl", "openrlhf")]
    for p in procs:
        p.communicate(timeout=300)
    mark = json.loads((out / engine_export.MARK).read_text())
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert on_disk == sorted(mark["files"] + [engine_export.MARK])   # exactly one export's files, no mixture
    assert [p.name for p in tmp_path.iterdir()] == ["launch"]


def test_an_export_with_a_missing_model_folder_is_refused(tmp_path, capsys):
    from ppo_lab.cli import main as cli
    code = cli.main(["export", "--engine", "verl", "--preset", "tiny", "--set", "policy=./no/such/folder",
                     "--out", str(tmp_path / "out")])
    assert code == 1 and "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
