"""The helpers notebook 08 calls: gpt2 or its stand-in, the cost of an iteration per model, its figure, the engines'
table and the check of their names. No network, no GPU: the bundled models and config-built ones."""
import copy

import matplotlib.pyplot as plt
import pytest
import torch
from transformers import GPT2Config

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.course.plots import cost as cost_plots
from ppo_lab.interop import definitions as defs, mapping
from ppo_lab.interop.mapping import Setting
from ppo_lab.rl import experiments
from ppo_lab.world import models as models_lib

SMALL = GPT2Config(n_layer=2, n_embd=64, n_head=2)   # gpt2's vocabulary and context, narrower


# ------------------------------------------------------------------ gpt2 or a stand-in
def test_without_a_gpu_or_the_hub_the_stand_in_runs_at_cpu_sizes(no_network):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    config = PPOConfig.preset("gpt2", iterations=2)
    models, chosen, policy, why = models_lib.gpt2_or_stand_in(config, SMALL)
    lm = models.policy.lm
    assert (lm.config.n_layer, lm.config.n_embd, lm.config.vocab_size, lm.config.n_positions) == (2, 64, 50257, 1024)
    assert chosen == config.replace(reward_model="tiny-reward", **models_lib.CPU_SIZES)
    assert (chosen.batch_size, chosen.response_length, chosen.ppo_epochs, chosen.iterations) == (8, 16, 1, 2)
    assert policy == "gpt2-shaped stand-in"
    assert type(models.reward_model).__name__ == "GPT2ForSequenceClassification"   # the bundled tiny-reward
    assert why.startswith("no CUDA GPU here; policy='gpt2'") and "HF_HUB_OFFLINE=1" in why
    assert "gpt2-shaped stand-in (2 layers × 64" in why and "\n" not in why


def test_with_a_gpu_and_the_hub_the_real_models_load(monkeypatch):
    loaded = object()
    monkeypatch.setattr(models_lib, "pick_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a test GPU")
    monkeypatch.setattr(models_lib, "unloadable", lambda name: None)
    monkeypatch.setattr(models_lib, "load_models", lambda config: loaded)
    config = PPOConfig.preset("gpt2")
    picked = models_lib.gpt2_or_stand_in(config)
    assert picked == (loaded, config, "gpt2", "a CUDA GPU (a test GPU); 'gpt2' loads → the real gpt2 and "
                      "lvwerra/distilbert-imdb")


def test_a_gpu_whose_models_fail_to_load_falls_back_with_the_reason(monkeypatch):
    built = {}

    def refuse(config):
        raise models_lib.AssetError("reward_model='lvwerra/distilbert-imdb': no safetensors\nsecond line")

    monkeypatch.setattr(models_lib, "pick_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a test GPU")
    monkeypatch.setattr(models_lib, "unloadable", lambda name: None)
    monkeypatch.setattr(models_lib, "load_models", refuse)
    monkeypatch.setattr(models_lib, "models_from_config", lambda shape, **kw: built.setdefault("call", (shape, kw)))
    config = PPOConfig.preset("gpt2")
    _, chosen, policy, why = models_lib.gpt2_or_stand_in(config, SMALL)
    assert chosen == config.replace(reward_model="tiny-reward")           # on a GPU: the preset's own sizes
    assert built["call"] == (SMALL, {"device": "auto", "reward_model": "tiny-reward"})
    assert policy == "gpt2-shaped stand-in" and "no safetensors →" in why and "second line" not in why


def test_unloadable_says_why_offline():
    assert models_lib.unloadable("tiny-gpt2") is None
    why = models_lib.unloadable("nobody/no-such-model-here")
    assert why.startswith("policy='nobody/no-such-model-here'") and "\n" not in why


def test_a_bad_stand_in_or_cpu_size_is_named():
    config = PPOConfig.preset("gpt2")
    with pytest.raises(ConfigError, match=r"stand_in=\{'n_layer': 2\} is not a GPT2Config"):
        models_lib.gpt2_or_stand_in(config, {"n_layer": 2})
    with pytest.raises(ConfigError, match=r"cpu_sizes has \['batch'\], not config fields"):
        models_lib.gpt2_or_stand_in(config, SMALL, cpu_sizes={"batch": 8})
    with pytest.raises(ConfigError, match="minibatch_size"):                # a value out of range: the config says
        models_lib.gpt2_or_stand_in(config, SMALL, cpu_sizes={"batch_size": 8, "minibatch_size": 3})


# ------------------------------------------------------------------ what an iteration costs
SMALL_RUN = {"iterations": 2, "batch_size": 4, "minibatch_size": 2, "ppo_epochs": 1, "response_length": 8}


def test_cost_by_model_measures_each_run(models, bundled):
    config = PPOConfig(**SMALL_RUN)
    other = copy.deepcopy(bundled)
    before = models.policy.lm.transformer.h[0].mlp.c_fc.weight.detach().clone()
    runs, measured = experiments.cost_by_model({"a": (config, models), "b": (config.replace(seed=1), other)},
                                               progress=False)
    assert list(runs) == list(measured) == ["a", "b"]
    assert runs["a"].models is models and not torch.equal(before, models.policy.lm.transformer.h[0].mlp.c_fc.weight)
    n = sum(p.numel() for p in bundled.policy.lm.parameters())
    vocab = bundled.policy.lm.config.vocab_size
    for name, row in measured.items():
        history = runs[name].history
        assert runs[name].status == "finished" and len(history) == 2
        assert row["parameters (M)"] == n / 1e6
        assert row["Phase I s/iteration"] == history[1]["time/rollout"] > 0          # the first one left out
        assert row["Phase II s/iteration"] == history[1]["time/update"] > 0
        assert row["s/iteration"] == history[1]["time/iteration"]
        assert row["policy + Adam GB (16N)"] == 16 * n / 1e9 and row["reference GB (4N)"] == 4 * n / 1e9
        assert row["logits of a minibatch GB"] == 2 * 9 * vocab * 4 / 1e9
        assert 0.05 < row["process memory GB"] < 1000


def test_cost_by_model_refuses_what_is_not_a_pair(models):
    with pytest.raises(ConfigError, match="empty"):
        experiments.cost_by_model({})
    with pytest.raises(ConfigError, match=r"bundles\['tiny'\] is Models, not a \(PPOConfig, Models\) pair"):
        experiments.cost_by_model({"tiny": models})


def test_memory_gb_of_the_cpu_process_is_its_resident_memory():
    psutil = pytest.importorskip("psutil")
    measured, rss = experiments.memory_gb(torch.device("cpu")), psutil.Process().memory_info().rss / 1e9
    assert measured > 0.05 and abs(measured - rss) < 0.05


# ------------------------------------------------------------------ its figure
MEASURED = {"tiny-gpt2": {"Phase I s/iteration": 0.2, "Phase II s/iteration": 0.1, "policy + Adam GB (16N)": 0.04,
                          "reference GB (4N)": 0.01},
            "stand-in": {"Phase I s/iteration": 1.5, "Phase II s/iteration": 2.5, "policy + Adam GB (16N)": 2.0,
                         "reference GB (4N)": 0.5}}


def test_cost_bars_stacks_the_phases_and_the_memory():
    fig = cost_plots.cost_bars(MEASURED, "a title", device="cuda")
    time_ax, memory_ax = fig.axes
    tops = [bar.get_y() + bar.get_height() for bar in time_ax.patches]
    assert tops == pytest.approx([0.2, 1.5, 0.3, 4.0])                  # Phase I, then Phase II stacked on it
    tops = [bar.get_y() + bar.get_height() for bar in memory_ax.patches]
    assert tops == pytest.approx([0.04, 2.0, 0.05, 2.5])
    assert [t.get_text() for t in time_ax.get_xticklabels()] == ["tiny-gpt2", "stand-in"]
    assert time_ax.get_title() == "Time per PPO iteration on CUDA" and time_ax.get_ylabel() == "seconds per iteration"
    assert memory_ax.get_ylabel() == "GB (10⁹ bytes)" and fig.get_suptitle() == "a title"
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4
    plt.close(fig)


def test_cost_bars_names_a_missing_measure():
    with pytest.raises(ValueError, match=r"measured\['x'\] lacks \['reference GB \(4N\)'\]"):
        cost_plots.cost_bars({"x": {k: 1.0 for k in cost_plots.NEEDED[:3]}}, "t")
    with pytest.raises(ValueError, match="empty"):
        cost_plots.cost_bars({}, "t")


# ------------------------------------------------------------------ the engines' table
def test_the_table_has_every_mapped_field_and_every_engine_in_plain_text():
    table = mapping.table()
    assert list(table.index) == list(mapping.MAP) and table.index.name == "PPOConfig field"
    assert list(table.columns) == ["lecture term", "verl 0.9", "OpenRLHF 0.11", "TRL 1.16"]
    assert table.loc["clip_eps", "verl 0.9"] == ("actor_rollout_ref.actor.clip_ratio; "
                                                 "actor_rollout_ref.actor.clip_ratio_low; "
                                                 "actor_rollout_ref.actor.clip_ratio_high")
    assert table.loc["device", "TRL 1.16"] == "— (accelerate uses the GPUs it finds (use_cpu forces the CPU))"
    assert table.loc["ent_coef", "TRL 1.16"].startswith("entropy_coef (GRPOConfig); — (RLOOTrainer")
    assert table.loc["kl_coef", "lecture term"].startswith("β")
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert not any("`" in v for v in cells) and max(map(len, cells)) > 50


def test_the_table_displays_every_cell_whole():
    table = mapping.table()
    longest = max((str(v) for v in table.to_numpy().ravel()), key=len)
    for shown in (table._repr_html_(), repr(table), repr(table.loc[["device", "kl_in"]])):
        assert "..." not in shown and "…" not in shown and "`" not in shown
    assert longest.replace("(", "").split()[-1] in table._repr_html_()


def test_the_table_of_some_fields_keeps_their_order():
    table = mapping.table(fields=["kl_in", "group_size"])
    assert list(table.index) == ["kl_in", "group_size"]
    assert table.loc["group_size", "OpenRLHF 0.11"] == "--rollout.n_samples_per_prompt"


@pytest.mark.parametrize("fields, named", [(["clip_epsilon"], "clip_epsilon"), (["sample_every"], "sample_every"),
                                           ([], "no field")])
def test_a_field_without_a_row_is_named(fields, named):
    with pytest.raises(ConfigError, match=rf"table\(fields=.*{named}.*valid: a list of fields of MAP"):
        mapping.table(fields=fields)


# ------------------------------------------------------------------ the check of the engines' names
def test_the_map_passes_its_checks():
    check = defs.check_names()
    assert check.problems == []
    assert set(check.confirmed) | set(check.unchecked) == set(mapping.ENGINES)
    for engine, count in check.confirmed.items():
        assert count == sum(len(n) for n in mapping.names(engine).values()) > 10
    assert str(check).startswith(f"{len(mapping.MAP)} PPOConfig fields mapped in 3 engines: every field")


def test_a_field_without_a_row_and_a_malformed_flag_are_caught(monkeypatch):
    monkeypatch.delitem(mapping.MAP, "seed")
    monkeypatch.setitem(mapping.MAP, "temperature", {**mapping.MAP["temperature"],
                                                     "openrlhf": (Setting("rollout.temperature"),)})
    problems = defs.check_names().problems
    assert "no row for ['seed']" in problems and "OpenRLHF: 'rollout.temperature' is not a --flag" in problems
    assert "no row for ['seed']" in str(defs.check_names())


def test_a_name_an_installed_engine_lacks_is_caught(monkeypatch):
    if defs.missing("verl"):
        pytest.skip(defs.missing("verl"))
    monkeypatch.setitem(mapping.MAP, "temperature", {**mapping.MAP["temperature"],
                                                     "verl": (Setting("actor_rollout_ref.rollout.temperatur"),)})
    assert defs.check_names().problems == [
        "not names of verl 0.9.1's ppo_trainer: ['actor_rollout_ref.rollout.temperatur']"]
