"""engines.py against the engines themselves: every name we use exists in the installed verl, OpenRLHF and TRL
(at engines.VERSIONS), every exported launch parses there with our values, and nothing is dropped silently.
Without the engines these tests are skipped with the install line; in CI (CI set) they fail instead."""
import ast
import dataclasses
import json
import os
import runpy
import shlex
import subprocess

import pytest
import torch
from hypothesis import given, settings, strategies as st

import ppo_lab as lab
from ppo_lab.config import FAMILY, ConfigError
from ppo_lab.course.exercises.bank import EXERCISES
from ppo_lab.interop import definitions as defs, export as engine_export, mapping as engines
from ppo_lab.rl import rollout
from ppo_lab.world import verifiable

PRESETS = ("tiny", "gpt2", "arithmetic")
SHELL = {"$GPUS": "1", "$HYDRA_PWD": "/launch", "$PWD": "/launch"}


def need(engine: str) -> None:
    why = defs.missing(engine)
    if why and os.environ.get("CI"):
        pytest.fail(f"CI must check the engines' names: {why}")
    if why:
        pytest.skip(why)


def configs(engine: str):
    """The presets, and each family member on the tiny preset, that the engine has a trainer for."""
    found = [(name, lab.PPOConfig.preset(name)) for name in PRESETS]
    found += [(member, lab.PPOConfig.preset("tiny", **changes)) for member, changes in FAMILY.items()]
    runnable = []
    for name, config in found:
        try:
            engines.trainer_of(config, engine)
        except ConfigError:
            continue
        runnable.append((name, config))
    return runnable


def expand(text: str, micro: int) -> str:
    """The launch's shell variables as one GPU gives them."""
    for var, value in {**SHELL, "$MICRO": str(micro)}.items():
        text = text.replace(var, value)
    return text


# ------------------------------------------------------------------ the map itself
def test_every_field_has_a_row_in_every_engine():
    fields = {f.name for f in dataclasses.fields(lab.PPOConfig)}
    assert set(engines.MAP) == fields - set(engines.RECORDING_ONLY)
    for name, rows in engines.MAP.items():
        assert set(rows) == set(engines.ENGINES), name
        for engine, row in rows.items():
            assert row and all(isinstance(item, (engines.Setting, engines.Missing)) for item in row), (name, engine)
            assert all(item.reason for item in row if isinstance(item, engines.Missing)), (name, engine)


def test_names_have_each_engines_form():
    for item in (i for rows in engines.MAP.values() for i in rows["openrlhf"] if isinstance(i, engines.Setting)):
        assert item.name.startswith("--"), item.name
    for item in (i for rows in engines.MAP.values() for i in rows["verl"] if isinstance(i, engines.Setting)):
        assert "." in item.name and " " not in item.name, item.name


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_a_value_that_cannot_be_expressed_is_reported_never_dropped(engine):
    """Every field either reaches a setting, is reported, or its settings do not apply to this config."""
    for _, config in configs(engine):
        translation = engines.translate(config, engine)
        reported = {f for f, _ in translation.unexpressed}
        for name, rows in engines.MAP.items():
            if name in engines.DPO_FIELDS:
                continue
            applied = [i for i in rows[engine] if isinstance(i, engines.Setting) and (i.when is None or i.when(config))
                       and translation.trainer in (i.scope or engines.DEFAULT_SCOPE[engine])]
            assert name in reported or all(i.name in translation.settings for i in applied), (name, engine)


def test_trl_refuses_ppo_with_the_reason_and_the_way_out():
    with pytest.raises(ConfigError, match=r"removed in TRL 1\.13.*'grpo' or 'rloo'"):
        engines.trainer_of(lab.PPOConfig.preset("gpt2"), "trl")
    assert engines.trainer_of(lab.PPOConfig.preset("arithmetic"), "trl") == "GRPOConfig"


# ------------------------------------------------------------------ verl: Hydra composes our overrides
def verl_overrides(config, folder) -> list[str]:
    """The overrides of the exported launch.sh, as the shell hands them to verl (GPUS=1, the folder at /launch)."""
    engine_export.export(config, "verl", str(folder), "tiny")
    return launch_argv(folder)


def test_every_verl_name_is_a_key_of_its_config():
    need("verl")
    names = {n for scope in engines.names("verl").values() for n in scope}
    unknown = defs.verl_unknown(names)
    assert not unknown, f"not keys of verl {engines.VERSIONS['verl']}'s ppo_trainer.yaml: {unknown}"
    assert defs.verl_unknown(["actor_rollout_ref.actor.clip_ration", "+actor_rollout_ref.actor.clip_ratio"]) == [
        "+actor_rollout_ref.actor.clip_ratio", "actor_rollout_ref.actor.clip_ration"]   # the check can fail


@pytest.mark.parametrize("preset", PRESETS)
def test_verl_composes_the_export_with_our_values(preset, tmp_path):
    need("verl")
    config = lab.PPOConfig.preset(preset)
    composed = defs.verl_config(verl_overrides(config, tmp_path))
    from omegaconf import OmegaConf
    assert OmegaConf.select(composed, "actor_rollout_ref.actor.clip_ratio") == config.clip_eps
    assert OmegaConf.select(composed, "data.train_batch_size") * config.group_size == config.batch_size
    assert OmegaConf.select(composed, "actor_rollout_ref.rollout.n") == config.group_size
    assert OmegaConf.select(composed, "algorithm.adv_estimator") == config.advantage_estimator
    assert OmegaConf.select(composed, "trainer.n_gpus_per_node") == 1
    assert OmegaConf.select(composed, "data.train_files") == "/launch/data/train.jsonl"


def test_a_misspelt_verl_key_fails_the_composition():
    need("verl")
    from hydra.errors import ConfigCompositionException
    with pytest.raises(ConfigCompositionException, match="clip_ration"):
        defs.verl_config(["actor_rollout_ref.actor.clip_ration=0.2"])


@pytest.mark.parametrize("member", sorted(FAMILY))
def test_verl_composes_each_family_member(member, tmp_path):
    need("verl")
    config = lab.PPOConfig.preset("tiny", **FAMILY[member])
    translation = engines.translate(config, "verl")
    composed = defs.verl_config(verl_overrides(config, tmp_path))
    from omegaconf import OmegaConf
    if "advantage_estimator" not in dict(translation.unexpressed):
        assert OmegaConf.select(composed, "algorithm.adv_estimator") == config.advantage_estimator
    assert OmegaConf.select(composed, "actor_rollout_ref.actor.use_kl_loss") == (config.kl_in == "loss")


# ------------------------------------------------------------------ OpenRLHF: its own parser reads our launch
def script_micro(folder, gpus: int = 1) -> tuple[int, str]:
    """Run the launch script's lines before the command (GPUS, MINIBATCH, MICRO): (exit code, MICRO)."""
    text = (folder / "launch.sh").read_text()
    preamble = text[text.index("\nGPUS=") + 1:text.index("python3 -m")]
    done = subprocess.run(["bash", "-c", f"set -eu\n{preamble}echo $MICRO"], env={**os.environ, "GPUS": str(gpus)},
                          capture_output=True, text=True)
    return done.returncode, done.stdout.strip()


def launch_argv(folder) -> list[str]:
    """The arguments the written launch.sh hands to the engine (GPUS=1, the folder at /launch)."""
    text = (folder / "launch.sh").read_text()
    command = text[text.index("python3 -m"):].replace("\\\n", " ")
    return shlex.split(expand(command.replace('"$@"', ""), int(script_micro(folder)[1])))[3:]


def shell_words(words: list[str], config) -> list[str]:
    """Launch words as the shell hands them over (one GPU)."""
    return shlex.split(expand(" ".join(words), engine_export.micro_batch(config)))


def test_the_launch_script_sizes_micro_batches_for_its_gpus(tmp_path):
    config = lab.PPOConfig.preset("tiny")   # minibatches of 16 completions
    engine_export.export(config, "verl", str(tmp_path), "tiny")
    for gpus in (1, 2, 8):
        assert script_micro(tmp_path, gpus) == (0, str(engine_export.micro_batch(config, gpus)))
    code, _ = script_micro(tmp_path, 3)
    assert code == 2   # 3 GPUs cannot share 16 completions


@pytest.mark.parametrize("script", ["train_ppo_ray.py", "train_dpo.py"])
def test_every_openrlhf_flag_is_one_of_its_parser(script):
    need("openrlhf")
    flags = defs.openrlhf_flags(defs.openrlhf_parser(script))
    unknown = sorted(set(engines.names("openrlhf")[script]) - set(flags))
    assert not unknown, f"not flags of OpenRLHF {engines.VERSIONS['openrlhf']}'s {script}: {unknown}"


@pytest.mark.parametrize("preset", PRESETS)
def test_openrlhf_parses_the_exported_launch(preset, tmp_path):
    need("openrlhf")
    config = lab.PPOConfig.preset(preset)
    engine_export.export(config, "openrlhf", str(tmp_path), preset)
    args = defs.openrlhf_parser().parse_args(launch_argv(tmp_path))   # an unknown flag or bad choice exits
    parsed = vars(args)
    assert parsed["actor.eps_clip"] == config.clip_eps and parsed["rollout.temperature"] == config.temperature
    assert parsed["rollout.batch_size"] * config.group_size == config.batch_size
    assert parsed["train.batch_size"] == config.minibatch_size
    assert parsed["algo.kl.use_loss"] == (config.kl_in == "loss")
    assert parsed["actor.adam.lr"] == config.learning_rate


def test_openrlhf_rejects_a_flag_it_lacks():
    need("openrlhf")
    with pytest.raises(SystemExit):
        defs.openrlhf_parser().parse_args(["--eps_clip", "0.2"])   # the flat name, renamed --actor.eps_clip


# ------------------------------------------------------------------ TRL: its dataclasses take our settings
@pytest.mark.parametrize("scope", ["GRPOConfig", "RLOOConfig", "DPOConfig"])
def test_every_trl_name_is_a_field_or_a_trainer_argument(scope):
    need("trl")
    unknown = sorted(set(engines.names("trl")[scope]) - defs.trl_names(scope))
    assert not unknown, f"not fields of TRL {engines.VERSIONS['trl']}'s {scope} (or its trainer's arguments): {unknown}"


def trl_config_of(folder):
    """The config class and keywords written in the exported train.py, read back from its source."""
    tree = ast.parse((folder / "train.py").read_text())
    call = next(n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "args")
    return call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}


@pytest.mark.parametrize("member", ["GRPO", "Dr. GRPO", "RLOO"])
def test_trl_builds_its_config_from_the_export(member, tmp_path):
    need("trl")
    config = lab.PPOConfig.preset("tiny", **FAMILY[member])
    engine_export.export(config, "trl", str(tmp_path), "tiny")
    name, keywords = trl_config_of(tmp_path)
    built = defs.trl_config(name)(**{**keywords, "output_dir": str(tmp_path / "out")})   # TRL's own checks run
    assert built.num_generations == config.group_size and built.epsilon == config.clip_eps
    assert built.per_device_train_batch_size * built.steps_per_generation == config.batch_size
    assert built.num_iterations == config.ppo_epochs and built.beta == config.kl_coef


def test_trl_builds_the_arithmetic_export(tmp_path):
    need("trl")
    config = lab.PPOConfig.preset("arithmetic")
    engine_export.export(config, "trl", str(tmp_path), "arithmetic")
    name, keywords = trl_config_of(tmp_path)
    built = defs.trl_config(name)(**{**keywords, "output_dir": str(tmp_path / "out")})
    assert (name, built.loss_type, built.scale_rewards) == ("GRPOConfig", "grpo", "group")
    assert built.max_steps == config.iterations * (config.batch_size // config.minibatch_size)


# ------------------------------------------------------------------ the folder
@pytest.mark.parametrize("engine", engines.ENGINES)
@pytest.mark.parametrize("preset", PRESETS)
def test_export_writes_a_complete_folder(engine, preset, tmp_path):
    config = lab.PPOConfig.preset(preset)
    if engine == "trl" and preset != "arithmetic":
        config = config.replace(**FAMILY["GRPO"])
    files = engine_export.export(config, engine, str(tmp_path), preset)
    assert {engine_export.LAUNCH[engine], "README.md", "ppo_config.json", "data/train.jsonl"} <= set(files)
    readme = (tmp_path / "README.md").read_text()
    for field, why in engines.translate(config, engine).unexpressed:
        assert f"`{field}`" in readme and why in readme
    lines = (tmp_path / "data" / "train.jsonl").read_text().splitlines()
    assert len(lines) == config.iterations * engines.prompts_per_rollout(config)
    assert json.loads((tmp_path / "ppo_config.json").read_text()) == config.to_dict()
    if config.policy in lab.world.assets.BUNDLED:
        assert f"models/{config.policy}/model.safetensors" in files


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_the_exported_reward_function_scores_as_our_program(engine, tmp_path):
    config = lab.PPOConfig.preset("arithmetic", reward_model="exact-match+format")
    engine_export.export(config, engine, str(tmp_path), "arithmetic")
    namespace: dict = {}
    exec((tmp_path / engine_export.REWARD_FILE[engine]).read_text(), namespace)
    prompts = ["47+68=", "3+4=", "99+99=", "10+5="]
    completions = ["115", "7", "98", " 15"]
    ours = verifiable.ProgramReward("exact-match+format").score(prompts, completions).tolist()
    answers = [engine_export.answer(p) for p in prompts]
    if engine == "verl":
        theirs = [namespace["compute_score"]("ppo_lab", c, a) for c, a in zip(completions, answers)]
    elif engine == "openrlhf":
        queries = [p + c + namespace["EOS"] + "junk" for p, c in zip(prompts, completions)]
        theirs = namespace["reward_func"](queries, prompts, answers)["rewards"].tolist()
    else:
        theirs = namespace["reward"](prompts, completions, answers)
    assert theirs == ours == [1.0, 2.0, 1.0, 0.0]   # right; right and short; short; neither
    assert isinstance(torch.tensor(theirs), torch.Tensor)


def test_the_cli_exports_and_refuses_with_the_reason(tmp_path, capsys):
    from ppo_lab.cli.main import main
    assert main(["export", "--engine", "verl", "--preset", "gpt2", "--out", str(tmp_path / "v")]) == 0
    assert "no equivalent: vf_coef" in capsys.readouterr().out
    assert main(["export", "--engine", "trl", "--preset", "gpt2", "--out", str(tmp_path / "t")]) == 2
    assert "removed in TRL 1.13" in capsys.readouterr().err


def test_notebook_08_exercise_agrees_with_the_map():
    """Exercise 08.trl_batch_args teaches the batch geometry the export writes."""
    solution = {}
    exec(EXERCISES["08.trl_batch_args"].solution, solution)
    for batch, mini in ((64, 16), (32, 8)):
        config = lab.PPOConfig.preset("tiny", batch_size=batch, minibatch_size=mini, **FAMILY["GRPO"])
        settings = engines.translate(config, "trl").settings
        assert solution["trl_batch_args"](batch, mini) == {k: settings[k] for k in solution["trl_batch_args"](1, 1)}


# ------------------------------------------------------------------ property: any valid config round-trips
FAMILY_CONFIGS = st.builds(
    dict, advantage_estimator=st.sampled_from(["gae", "grpo", "rloo", "reinforce"]),
    group_size=st.sampled_from([1, 2, 4, 8]), loss_aggregation=st.sampled_from(["token_mean", "sequence_mean",
                                                                                 "constant"]),
    kl_in=st.sampled_from(["reward", "loss"]), kl_estimator=st.sampled_from(["k1", "k3"]),
    scale_rewards=st.booleans(), bf16=st.booleans(), stop_at_eos=st.booleans(),
    clip_eps=st.sampled_from([0.1, 0.2, None]), kl_target=st.sampled_from([None, 6.0]),
    minibatch_size=st.sampled_from([8, 16, 32]), temperature=st.floats(0.3, 2.0),
    dynamic_sampling=st.sampled_from([1, 2]))


def valid_config(changes):
    needs_groups = changes["advantage_estimator"] in ("grpo", "rloo") or changes["dynamic_sampling"] > 1
    if needs_groups and changes["group_size"] < 2:
        changes = {**changes, "group_size": 4}
    return lab.PPOConfig.preset("tiny", **changes)


def read_back(value, micro: int):
    """A value as the engine holds it after parsing (tuples become lists in Hydra; shell variables expanded)."""
    if isinstance(value, str) and value in ("$GPUS", "$MICRO"):
        return int(expand(value, micro))
    if isinstance(value, str):
        return expand(value, micro)
    return list(value) if isinstance(value, tuple) else value


def assert_reads_back(config, engine, lookup) -> None:
    """Every setting of the launch (ours and the engine's extras) is what the engine read from it."""
    _, settings_ = engine_export.settings_with_extras(config, engine)
    micro = engine_export.micro_batch(config)
    for name, value in settings_.items():
        assert read_back(lookup(name.lstrip("+")), micro) == read_back(value, micro), name


@settings(max_examples=10, deadline=None)
@given(changes=FAMILY_CONFIGS)
def test_every_verl_setting_reads_back_from_the_composed_launch(changes):
    need("verl")
    from omegaconf import OmegaConf
    config = valid_config(changes)
    composed = defs.verl_config(shell_words(engine_export.launch_words(config, "verl"), config))
    assert_reads_back(config, "verl", lambda key: OmegaConf.select(composed, key))


@settings(max_examples=10, deadline=None)
@given(changes=FAMILY_CONFIGS)
def test_every_openrlhf_setting_reads_back_from_the_parsed_launch(changes):
    need("openrlhf")
    config = valid_config(changes)
    words = shell_words(engine_export.launch_words(config, "openrlhf"), config)
    parsed = vars(defs.openrlhf_parser().parse_args(words))
    assert_reads_back(config, "openrlhf", lambda flag: parsed[flag[2:]])


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_the_exported_reward_model_function_scores_as_our_rollout(engine, tmp_path, bundled):
    """tiny-reward inside the exported reward function gives the score our rollout gives the same texts."""
    config = lab.PPOConfig.preset("tiny", **({} if engine != "trl" else FAMILY["GRPO"]))
    engine_export.export(config, engine, str(tmp_path), "tiny")
    namespace = runpy.run_path(str(tmp_path / engine_export.REWARD_FILE[engine]))
    prompts, completions = ["This film was", "I rented this movie"], [" a joy from start to end.", " and hated it."]
    tokenizer = bundled.tokenizer
    encoded = tokenizer([p + c for p, c in zip(prompts, completions)], return_tensors="pt", padding=True)
    ours = rollout.reward_scores(bundled.reward_model, bundled.reward_tokenizer, tokenizer, encoded["input_ids"],
                                 encoded["attention_mask"], [p + c for p, c in zip(prompts, completions)]).tolist()
    if engine == "verl":
        theirs = [namespace["compute_score"]("ppo_lab", c, "", {"prompt": p}) for p, c in zip(prompts, completions)]
    elif engine == "openrlhf":
        queries = [p + c + namespace["EOS"] for p, c in zip(prompts, completions)]
        theirs = namespace["reward_func"](queries, prompts, ["", ""])["rewards"].tolist()
    else:
        theirs = namespace["reward"](prompts, completions)
    assert theirs == pytest.approx(ours, abs=1e-4)


def test_trl_takes_large_groups(tmp_path):
    need("trl")
    config = lab.PPOConfig.preset("arithmetic", group_size=16)
    engine_export.export(config, "trl", str(tmp_path), "arithmetic")
    name, keywords = trl_config_of(tmp_path)
    assert defs.trl_config(name)(**{**keywords, "output_dir": str(tmp_path / "out")}).num_generations == 16


def test_check_names_confirms_every_engine():
    """Notebook 08's check: where the engines are installed (CI), every name of the map is confirmed by each."""
    for engine in engines.ENGINES:
        need(engine)
    check = defs.check_names()
    assert check.problems == [] and check.unchecked == {}
    assert check.confirmed == {e: sum(len(n) for n in engines.names(e).values()) for e in engines.ENGINES}
