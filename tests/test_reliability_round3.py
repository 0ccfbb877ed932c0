"""Reliability, round three: DPO and the sums world never hang or crash after training, bad input is named, and
every report writes for every method and world the command line accepts."""
import copy
import math
import os

import numpy as np
import pytest
import torch

import ppo_lab as lab
from ppo_lab.cli import main as cli
from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import dpo, preference_pairs
from ppo_lab.world import verifiable

REPORT = {"train": ["config.json", "curves.png", "dashboard.png", "history.json", "samples.md"],
          "dpo": ["config.json", "curves.png", "history.json", "samples.md"]}
SMALL = ["--set", "iterations=2", "--prompts", "2", "--no-cache"]
TEXT = ["--preset", "ci", "--set", "batch_size=8", "--set", "minibatch_size=4"]
SUMS = ["--preset", "arithmetic", "--set", "batch_size=16", "--set", "minibatch_size=8", "--set", "eval_every=1"]


@pytest.mark.slow
@pytest.mark.parametrize("command", [["train"], ["dpo", "--pairs", "human"], ["dpo", "--pairs", "policy"],
                                     ["dpo", "--pairs", "online"]], ids=lambda c: "-".join(c))
@pytest.mark.parametrize("world", ["text", "sums"])
def test_every_report_writes_for_every_method_and_world(command, world, tmp_path, capsys):
    out = tmp_path / "report"
    code = cli.main([*command, *(TEXT if world == "text" else SUMS), *SMALL, "--out", str(out)])
    said = capsys.readouterr()
    assert code in (0, 1), said.err                    # 1: a run that stopped says why, with its report
    assert code == 0 or "stopped at iteration" in said.err
    assert sorted(os.listdir(out)) == REPORT[command[0]]


def test_dpo_on_pairs_that_all_tie_is_refused_or_stops_with_its_report(tmp_path, capsys, monkeypatch):
    # the text model under a pass/fail reward: every pair would tie, refused before anything trains
    code = cli.main(["dpo", "--pairs", "policy", *TEXT, *SMALL, "--set", "reward_model=exact-match",
                     "--set", "stop_at_eos=true", "--out", str(tmp_path / "refused")])
    assert code == 2 and "answers none of 8 held-out sums" in capsys.readouterr().err
    # online pairs that all tie mid-run: the run stops at that iteration, says why, and keeps its report
    empty = lambda batch: preference_pairs.Pairs([], *[torch.zeros(0, 1)] * 6)
    monkeypatch.setattr(dpo, "pairs_from_rollout", empty)
    out = tmp_path / "tied"
    code = cli.main(["dpo", "--pairs", "online", *SUMS, *SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "stopped at iteration 0: all 8 pairs of the policy's completions tie" in err
    assert "valid: a reward model that ranks completions" in err
    assert sorted(os.listdir(out)) == REPORT["dpo"]


def test_dpo_policy_pairs_that_all_tie_never_hang(bundled, monkeypatch):
    config = PPOConfig.preset("ci", iterations=2, batch_size=8, minibatch_size=4, dpo_pairs="policy")
    monkeypatch.setattr(dpo, "policy_pairs", lambda *a: preference_pairs.Pairs([], *[torch.zeros(0, 1)] * 6))
    run = lab.train_dpo(config, models=copy.deepcopy(bundled), progress=False)
    assert run.status.startswith("stopped at iteration 0: all 8 pairs") and run.history == []
    with pytest.raises(ValueError, match="no pairs"):
        preference_pairs.PairStream(preference_pairs.Pairs([], *[torch.zeros(0, 1)] * 6), torch.Generator())


@pytest.mark.parametrize("world, n, pool", [(TEXT, 100000, "2996 held-out review openings of at most 8 tokens"),
                                            (SUMS, 2000, "1001 held-out sums")])
def test_prompts_are_bounded_by_the_pool_before_training(world, n, pool, tmp_path, capsys):
    code = cli.main(["train", *world, "--prompts", str(n), "--out", str(tmp_path / "r")])
    assert code == 2 and f"--prompts={n}: the pool has {pool}; valid: 1 to" in capsys.readouterr().err


def test_a_tokenizer_without_end_of_text_is_refused_at_start(bundled):
    models = copy.deepcopy(bundled)
    models.tokenizer.eos_token = None
    with pytest.raises(ConfigError, match=r"stop_at_eos=True: the policy's tokenizer .* has no end-of-text token"):
        lab.train(PPOConfig.preset("ci", stop_at_eos=True, iterations=1), models=models, progress=False)


def test_a_text_policy_on_sums_and_prompts_that_are_not_sums_are_refused():
    with pytest.raises(ConfigError, match=r"policy='tiny-gpt2' answers none of 8 held-out sums.*policy='tiny-arith'"):
        lab.train(PPOConfig.preset("arithmetic", policy="tiny-gpt2", iterations=1), progress=False)
    with pytest.raises(ConfigError, match=r"prompts: 'hello' is not a sum"):
        lab.train(PPOConfig.preset("arithmetic", iterations=1), prompts=["hello"], progress=False)


@pytest.mark.parametrize("value", [np.array(["grpo"]), ["grpo"], b"grpo", 3])
def test_a_choice_is_a_text_only(value):
    with pytest.raises(ConfigError, match="advantage_estimator=.* is not valid; choose one of"):
        PPOConfig.preset("ci", advantage_estimator=value, group_size=4)
    config = PPOConfig.preset("ci", advantage_estimator=np.str_("grpo"), group_size=4)
    assert type(config.advantage_estimator) is str


@pytest.mark.parametrize("n, c, k, name", [(10, 2.5, 3, "c"), (math.inf, 2, 3, "n"), ("10", 2, 3, "n"),
                                           (np.array([10]), 2, 3, "n"), (10.0, 2, 3, "n"), (10, 2, True, "k")])
def test_pass_at_k_takes_whole_numbers(n, c, k, name):
    with pytest.raises(ValueError, match=f"{name}=.*valid a whole number"):
        verifiable.pass_at_k(n, c, k)
    assert verifiable.pass_at_k(np.int64(10), torch.tensor(2), 3) == pytest.approx(1 - 56 / 120)


def test_pass_at_k_curve_needs_a_problem():
    with pytest.raises(ValueError, match=r"correct has shape \(0, 8\); valid: \(problems, n\)"):
        verifiable.pass_at_k_curve(torch.zeros(0, 8), [1])


@pytest.mark.parametrize("text, value", [("115", 115), ("0", 0), ("0115", None), ("١١٥", None), ("１１５", None),
                                         ("+115", None), ("115 ", None), ("-3", None), ("12345", None)])
def test_an_exact_answer_is_written_as_the_sum_is(text, value):
    assert verifiable.parse_answer(text) == value
    assert verifiable.exact_match(["58+57="], [text]).item() == float(value == 115)


def test_the_exported_reward_reads_answers_as_ours(tmp_path):
    from ppo_lab.interop import export
    config = PPOConfig.preset("arithmetic")
    export.export(config, "trl", str(tmp_path / "launch"), "arithmetic")
    space = {}
    exec((tmp_path / "launch" / "reward.py").read_text(), space)   # the file the engine runs, from our export
    for text in ("115", "0", "0115", "١١٥", " 115"):
        assert space["parse_answer"](text) == verifiable.parse_answer(text), text
    with pytest.raises(ValueError, match="is not a sum"):
        verifiable.operands("١٢+٣=")


@pytest.mark.parametrize("pairs, said", [
    ([("a film", "same", "same")], "chosen and rejected completions are the same text"),
    ([{"prompt": "a film", "chosen": "good"}], r"pairs\[0\] has no \['rejected'\]"),
    (["a film"], r"pairs\[0\]='a film' is not \(prompt, chosen, rejected\)"),
])
def test_pairs_that_teach_nothing_or_are_malformed_are_named(pairs, said):
    with pytest.raises(ConfigError, match=said):
        preference_pairs.checked_rows(pairs)


def test_a_dataframe_of_pairs_reads_as_its_columns():
    import pandas as pd
    rows = preference_pairs.checked_rows(pd.DataFrame({"prompt": ["a"], "chosen": ["good"], "rejected": ["bad"]}))
    assert rows == [("a", "good", "bad")]
    with pytest.raises(ConfigError, match=r"pairs: no \['rejected'\] column"):
        preference_pairs.checked_rows(pd.DataFrame({"prompt": ["a"], "chosen": ["good"]}))


@pytest.mark.parametrize("beta", [math.inf, math.nan, 0.0, -1.0])
def test_dpo_loss_refuses_a_beta_that_is_not_finite_and_positive(beta):
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        lab.maths.preference.dpo_loss(x, x, x, x, beta)


def test_resuming_past_the_checkpoint_and_contradicting_seeds_are_refused(tmp_path, capsys):
    folder = str(tmp_path / "ckpt")
    args = ["train", *TEXT, "--no-cache", "--prompts", "1", "--checkpoint-dir", folder]
    assert cli.main([*args, "--set", "iterations=2", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    code = cli.main([*args, "--resume", "--set", "iterations=1", "--out", str(tmp_path / "b")])
    assert code == 2 and "iterations=1: the checkpoint in checkpoint_dir=" in capsys.readouterr().err
    assert not (tmp_path / "b" / "config.json").exists()
    code = cli.main(["train", *TEXT, "--set", "seed=3", "--seed", "5", "--out", str(tmp_path / "c")])
    assert code == 2 and "--seed 5 and --set seed=3 contradict each other" in capsys.readouterr().err


def test_a_setting_the_member_never_reads_gets_a_one_line_warning(bundled, capsys):
    config = PPOConfig.preset("ci", iterations=1, batch_size=8, minibatch_size=4, advantage_estimator="grpo",
                              group_size=4, vf_coef=0.5, whiten_advantages=False)
    lab.train(config, models=copy.deepcopy(bundled), progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: vf_coef=0.5 does nothing with advantage_estimator='grpo': the critic-free family has "
                   "no value head, so no value loss to weigh",
                   "warning: whiten_advantages=False does nothing with advantage_estimator='grpo': the critic-free "
                   "family's advantages are per completion, from its group"]
    rloo = PPOConfig.preset("ci", advantage_estimator="rloo", group_size=4, scale_rewards=False)
    assert lab.config.inert_settings(rloo) == ["scale_rewards=False does nothing with advantage_estimator='rloo': "
                                               "only GRPO divides by the group's standard deviation"]
    assert lab.config.inert_settings(PPOConfig.preset("arithmetic")) == []
    for member, changes in lab.config.FAMILY.items():                 # the family as notebook 09 trains it
        assert lab.config.inert_settings(PPOConfig.preset("tiny", **changes)) == [], member


def test_warm_cache_checks_its_folder_before_any_notebook(tmp_path, capsys, monkeypatch):
    from ppo_lab.cli import notebook_runner
    monkeypatch.setattr(notebook_runner, "run_notebook", lambda path: pytest.fail("a notebook ran"))
    code = cli.main(["warm-cache", "--notebooks", "08", "--preset", "ci", "--cache-dir", "/proc/nope"])
    assert code == 2 and "--cache-dir '/proc/nope' cannot be created" in capsys.readouterr().err


def test_ctrl_c_during_warm_cache_exits_130_not_as_a_failed_notebook(tmp_path, capsys, monkeypatch):
    import signal

    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    def interrupted(self):                  # Ctrl-C reaches us, and the kernel dies of it too
        os.kill(os.getpid(), signal.SIGINT)
        raise DeadKernelError("Kernel died")
    monkeypatch.setattr(NotebookClient, "execute", interrupted)
    code = cli.main(["warm-cache", "--notebooks", "08,03", "--preset", "ci", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 130 and "interrupted (Ctrl-C)" in err and "DeadKernelError" not in err and "FAILED" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_full_disk_while_writing_the_report_names_the_file(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    def full(self, path, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r"
    code = cli.main(["train", *TEXT, "--set", "iterations=1", "--prompts", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and f"writing {out / 'dashboard.png'} failed: No space left on device" in err
    assert "a finished run is in the run cache: the same command again writes the report without training" in err


def test_check_impl_tells_a_stub_from_a_not_implemented_error_elsewhere(capsys):
    from ppo_lab.maths.advantages import gae

    def later(rewards, values, mask, gamma, lam):
        if rewards.shape[0] > 1:
            raise NotImplementedError("batches")
        return gae(rewards, values, mask, gamma, lam)

    def from_torch(rewards, values, mask, gamma, lam):
        return rewards.to_sparse().cumsum(1), values              # torch raises NotImplementedError inside

    assert not lab.exercises.check_impl("gae", later)
    out = capsys.readouterr().out
    assert "not implemented yet" not in out and "your function raised NotImplementedError: batches" in out
    assert not lab.exercises.check_impl("gae", from_torch)
    out = capsys.readouterr().out
    assert "not implemented yet" not in out and "your function raised NotImplementedError: Could not run" in out
    with pytest.raises(KeyError, match=r"name=\['gae'\] is not a function it checks"):
        lab.exercises.check_impl(["gae"], later)
    with pytest.raises(KeyError, match=r"name=\['00.steps'\] is not an exercise name"):
        lab.exercises.check(["00.steps"], 3)


def test_an_answer_too_large_to_read_is_not_blamed_as_raising(capsys):
    assert not lab.exercises.check("00.steps", 10 ** 400)
    out = capsys.readouterr().out
    assert "could not be read as this exercise's answer (OverflowError" in out and "your answer raised" not in out


@pytest.mark.parametrize("config, said", [
    ({"iterations": 1}, r"config must be a PPOConfig, not dict; e.g. lab.PPOConfig.preset\('ci', \*\*\{'iterations'"),
    (PPOConfig.preset("ci", advantage_estimator="grpo", group_size=4), "the capstone is PPO's iteration"),
])
def test_the_capstone_names_a_config_it_cannot_check(config, said):
    with pytest.raises(ConfigError, match=said):
        lab.course.capstone.check_iteration(lambda *args: None, config)


def test_a_nan_from_your_own_function_is_blamed_on_it(bundled):
    def nan_logps(token_logps, mask):
        return (token_logps * mask).sum(-1) * float("nan")
    run = lab.train_dpo(PPOConfig.preset("ci", iterations=2, batch_size=8, minibatch_size=4),
                        models=copy.deepcopy(bundled), overrides={"sequence_logps": nan_logps}, progress=False)
    assert "Likely causes: your own sequence_logps (overrides=) may return NaN/inf" in run.status
    assert "the starting weights or the reward model may hold NaN" not in run.status


def test_dpo_names_the_settings_it_overrides(capsys):
    code = cli.main(["dpo", *TEXT, "--set", "dynamic_sampling=4", "--set", "group_size=4", "--out", "/tmp/unused"])
    err = capsys.readouterr().err
    assert code == 2 and "dynamic_sampling=4: DPO makes its own rollouts" in err and "(got 1)" not in err
