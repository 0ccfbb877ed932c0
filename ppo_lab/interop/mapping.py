"""Our config's names in the engines a learner graduates to (notebook 08): verl, OpenRLHF and TRL.

For every `PPOConfig` field and every engine, `MAP` holds either the engine's own settings — a name and how our
value becomes theirs — or `Missing`, with the reason it has none. The names are those of the versions in
`VERSIONS`, and the suite checks each against the installed engine (`interop.definitions`): verl's Hydra keys by
composing its `ppo_trainer.yaml`, OpenRLHF's flags with its `train_ppo_ray.py` parser, TRL's fields on its config
dataclasses. `translate(config, engine)` turns one of our configs into the engine's settings and lists what it
cannot express; `interop.export` writes them out as a launch folder.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import FIELDS, ConfigError, PPOConfig
from ..world import assets, verifiable

VERSIONS = {"verl": "0.9.1", "openrlhf": "0.11.2", "trl": "1.16.0"}
TITLES = {"verl": "verl 0.9", "openrlhf": "OpenRLHF 0.11", "trl": "TRL 1.16"}
ENGINES = tuple(VERSIONS)
# where a setting lives when it says nothing else: verl's one Hydra config; OpenRLHF's PPO script; TRL's two
# maintained RL trainers (its PPO trainer was removed in 1.13)
DEFAULT_SCOPE = {"verl": ("ppo_trainer",), "openrlhf": ("train_ppo_ray.py",), "trl": ("GRPOConfig", "RLOOConfig")}
PPO_REMOVED = "removed in TRL 1.13 (PPOTrainer); TRL 1.16 keeps GRPO and RLOO"


@dataclass(frozen=True)
class Unsupported:
    """What a value function returns when our value has no counterpart there."""
    reason: str


@dataclass(frozen=True)
class Setting:
    """One of the engine's own settings. verl: a dotted Hydra key (`+key` adds a node its yaml leaves out);
    OpenRLHF: a `--flag`; TRL: a field of the trainer's config, or a trainer argument when the name ends in `=`."""
    name: str
    value: Callable[[PPOConfig], object] | None = None   # our config → their value (None: the field's own value)
    when: Callable[[PPOConfig], bool] | None = None      # only for configs where this holds (None: always)
    scope: tuple[str, ...] = ()                          # the config classes or scripts that have it (() : default)


@dataclass(frozen=True)
class Missing:
    """No setting there. `when`: the configs whose value the engine cannot follow (None: every config)."""
    reason: str
    when: Callable[[PPOConfig], bool] | None = None


Row = tuple  # of Settings and Missings: what one field becomes in one engine


# ------------------------------------------------------------------ small conversions
has_critic = PPOConfig.has_critic.fget   # a row's `when`: the run trains a value head (PPO's GAE)


def program(c: PPOConfig) -> bool:
    return verifiable.is_program(c.reward_model)


def prompts_per_rollout(c: PPOConfig) -> int:
    return c.batch_size // c.group_size


def model_path(name: str) -> str:
    """A bundled model travels in the launch folder (`models/<name>`); a Hub name or a folder stays as it is."""
    return f"models/{name}" if name in assets.BUNDLED else name


def per_prompt(what: str) -> Callable[[PPOConfig], object]:
    """A count of completions as a count of prompts (verl counts prompts, each sampled `n` times)."""
    def convert(c: PPOConfig):
        value = getattr(c, what)
        if value % c.group_size:
            return Unsupported(f"verl counts prompts: {what}={value} is not a whole number of groups of "
                               f"group_size={c.group_size}")
        return value // c.group_size
    return convert


def choose(table: dict, field_name: str, engine: str) -> Callable[[PPOConfig], object]:
    """Our choice → theirs, via `table`; a choice it lacks is Unsupported."""
    def convert(c: PPOConfig):
        ours = getattr(c, field_name)
        return table[ours] if ours in table else Unsupported(f"{engine} has no {field_name}={ours!r}")
    return convert


def is_(field_name: str, value) -> Callable[[PPOConfig], bool]:
    return lambda c: getattr(c, field_name) == value


NEVER = lambda c: False
RESAMPLES = lambda c: c.dynamic_sampling > 1
ADAPTIVE = lambda c: c.kl_target is not None
# ours is the KL per completion (summed over its tokens); verl's and OpenRLHF's controllers read the mean per token
PER_TOKEN_TARGET = ("the engine's adaptive β reads the mean KL per token, so its target is kl_target ÷ "
                    "response_length, exact only for completions of full length")


def per_token_target(c: PPOConfig) -> float:
    return c.kl_target / c.response_length
VERL_KL = {"k1": "kl", "k3": "low_var_kl"}
KL_IN_REWARD, KL_IN_LOSS = is_("kl_in", "reward"), is_("kl_in", "loss")


def steps_per_rollout(c: PPOConfig) -> int:
    return c.batch_size // c.minibatch_size


def grpo_loss_type(c: PPOConfig):
    return {"token_mean": "dapo", "sequence_mean": "grpo", "constant": "dr_grpo"}[c.loss_aggregation]


def openrlhf_estimator(c: PPOConfig):
    if c.advantage_estimator == "grpo":
        return "group_norm" if c.scale_rewards else "dr_grpo"
    if c.advantage_estimator == "reinforce":
        return Unsupported("OpenRLHF's reinforce is REINFORCE++ (returns whitened over the batch); ours has no "
                           "baseline at all")
    return c.advantage_estimator


def trl_kl_fits(c: PPOConfig) -> bool:
    """GRPOTrainer: k3 in the loss; RLOOTrainer: k1 (summed per completion) in the reward."""
    return (c.kl_in, c.kl_estimator) == (("loss", "k3") if c.advantage_estimator == "grpo" else ("reward", "k1"))


MAP: dict[str, dict[str, Row]] = {
    "policy": {
        "verl": (Setting("actor_rollout_ref.model.path", lambda c: model_path(c.policy)),
                 Setting("critic.model.path", lambda c: model_path(c.policy), when=has_critic)),
        "openrlhf": (Setting("--actor.model_name_or_path", lambda c: model_path(c.policy)),
                     Setting("--critic.model_name_or_path", lambda c: model_path(c.policy), when=has_critic)),
        "trl": (Setting("model=", lambda c: model_path(c.policy)),)},
    "reward_model": {
        "verl": (Setting("reward.custom_reward_function.path", lambda c: "reward.py"),
                 Setting("reward.custom_reward_function.name", lambda c: "compute_score")),
        "openrlhf": (Setting("--reward.remote_url", lambda c: "reward_func.py"),
                     Setting("--data.label_key", lambda c: "label", when=program)),
        "trl": (Setting("reward_funcs=", lambda c: "reward.reward"),)},
    "seed": {
        "verl": (Setting("data.seed"), Setting("actor_rollout_ref.actor.data_loader_seed"),
                 Setting("actor_rollout_ref.rollout.seed")),
        "openrlhf": (Setting("--train.seed"),),
        "trl": (Setting("seed"),)},
    "device": {
        "verl": (Missing("verl runs on the GPUs Ray gives it (trainer.device is cuda or npu)", when=NEVER),),
        "openrlhf": (Missing("Ray places every model on GPUs", when=NEVER),),
        "trl": (Missing("accelerate uses the GPUs it finds (`use_cpu` forces the CPU)", when=NEVER),)},
    "bf16": {
        "verl": (Setting("+actor_rollout_ref.actor.fsdp_config.mixed_precision", lambda c: {
                     "param_dtype": "bf16" if c.bf16 else "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}),
                 Setting("actor_rollout_ref.rollout.dtype", lambda c: "bfloat16" if c.bf16 else "float32")),
        "openrlhf": (Setting("--ds.param_dtype", lambda c: "bf16" if c.bf16 else Unsupported(
            "OpenRLHF trains in bf16 or fp16 (--ds.param_dtype); an fp32 run has no flag")),),
        "trl": (Setting("bf16"),)},
    "iterations": {
        "verl": (Setting("trainer.total_training_steps"),),
        "openrlhf": (Setting("--data.max_samples", lambda c: c.iterations * prompts_per_rollout(c)),
                     Setting("--train.num_episodes", lambda c: 1)),
        "trl": (Setting("max_steps", lambda c: c.iterations * steps_per_rollout(c) * c.ppo_epochs),)},
    "batch_size": {
        "verl": (Setting("data.train_batch_size", lambda c: prompts_per_rollout(c)),),
        "openrlhf": (Setting("--rollout.batch_size", lambda c: prompts_per_rollout(c)),),
        "trl": (Setting("steps_per_generation", steps_per_rollout),)},
    "minibatch_size": {
        "verl": (Setting("actor_rollout_ref.actor.ppo_mini_batch_size", per_prompt("minibatch_size")),),
        "openrlhf": (Setting("--train.batch_size"),),
        "trl": (Setting("per_device_train_batch_size"), Setting("gradient_accumulation_steps", lambda c: 1))},
    "ppo_epochs": {
        "verl": (Setting("actor_rollout_ref.actor.ppo_epochs"),),
        "openrlhf": (Setting("--train.max_epochs"),),
        "trl": (Setting("num_iterations"),)},
    "learning_rate": {
        "verl": (Setting("actor_rollout_ref.actor.optim.lr"), Setting("critic.optim.lr", when=has_critic)),
        "openrlhf": (Setting("--actor.adam.lr"), Setting("--critic.adam.lr", when=has_critic)),
        "trl": (Setting("learning_rate"),)},
    "max_grad_norm": {
        "verl": (Setting("actor_rollout_ref.actor.optim.clip_grad"), Setting("actor_rollout_ref.actor.grad_clip"),
                 Setting("critic.optim.clip_grad", when=has_critic), Setting("critic.grad_clip", when=has_critic)),
        "openrlhf": (Setting("--actor.max_norm"), Setting("--critic.max_norm", when=has_critic)),
        "trl": (Setting("max_grad_norm"),)},
    "prompt_length": {
        "verl": (Setting("data.max_prompt_length"),),
        "openrlhf": (Setting("--data.max_len", lambda c: c.prompt_length + c.response_length),),
        "trl": (Missing("TRL 1.16 keeps whole prompts (it has no max_prompt_length); the exported prompts fit "
                        "already", when=NEVER),)},
    "response_length": {
        "verl": (Setting("data.max_response_length"),),
        "openrlhf": (Setting("--rollout.max_new_tokens"),),
        "trl": (Setting("max_completion_length"),)},
    "temperature": {
        "verl": (Setting("actor_rollout_ref.rollout.temperature"),),
        "openrlhf": (Setting("--rollout.temperature"),),
        "trl": (Setting("temperature"),)},
    "clip_eps": {
        "verl": tuple(Setting(f"actor_rollout_ref.actor.{name}", lambda c: c.clip_eps if c.clip_eps is not None
                              else Unsupported("verl always clips the ratio (clip_eps=None has no setting)"))
                      for name in ("clip_ratio", "clip_ratio_low", "clip_ratio_high")),
        "openrlhf": (Setting("--actor.eps_clip", lambda c: c.clip_eps if c.clip_eps is not None
                             else Unsupported("OpenRLHF always clips the ratio")),),
        "trl": (Setting("epsilon", lambda c: c.clip_eps if c.clip_eps is not None
                        else Unsupported("TRL always clips the ratio")),)},
    "clip_eps_value": {
        "verl": (Setting("critic.cliprange_value", lambda c: c.clip_eps_value if c.clip_eps_value is not None
                         else Unsupported("verl always clips the value"), when=has_critic),),
        "openrlhf": (Setting("--critic.value_clip", lambda c: c.clip_eps_value if c.clip_eps_value is not None
                             else Unsupported("OpenRLHF always clips the value"), when=has_critic),),
        "trl": (Missing("no critic in GRPO or RLOO", when=NEVER),)},
    "vf_coef": {
        "verl": (Missing("the critic is a separate model with its own optimiser (critic.optim.lr), so no c1",
                         when=has_critic),),
        "openrlhf": (Missing("the critic is a separate model with its own optimiser (--critic.adam.lr), so no c1",
                             when=has_critic),),
        "trl": (Missing("no critic in GRPO or RLOO", when=NEVER),)},
    "ent_coef": {
        "verl": (Setting("actor_rollout_ref.actor.entropy_coeff"),),
        "openrlhf": (Setting("--actor.entropy_coef"),),
        "trl": (Setting("entropy_coef", scope=("GRPOConfig",)),
                Missing("RLOOTrainer has no entropy bonus", when=lambda c: c.advantage_estimator == "rloo"
                        and c.ent_coef > 0))},
    "kl_coef": {
        "verl": (Setting("algorithm.kl_ctrl.kl_coef", when=KL_IN_REWARD),
                 Setting("actor_rollout_ref.actor.kl_loss_coef", when=KL_IN_LOSS)),
        "openrlhf": (Setting("--algo.kl.init_coef"),),
        "trl": (Setting("beta"),)},
    "kl_estimator": {
        "verl": (Setting("algorithm.kl_penalty", choose(VERL_KL, "kl_estimator", "verl"), when=KL_IN_REWARD),
                 Setting("actor_rollout_ref.actor.kl_loss_type", choose(VERL_KL, "kl_estimator", "verl"),
                         when=KL_IN_LOSS)),
        "openrlhf": (Setting("--algo.kl.estimator"),),
        "trl": (Missing("fixed by the trainer: GRPOTrainer puts k3 in the loss, RLOOTrainer k1 (summed per "
                        "completion) in the reward", when=lambda c: c.kl_coef > 0 and not trl_kl_fits(c)),)},
    "kl_target": {
        "verl": (Setting("algorithm.kl_ctrl.type", lambda c: "fixed" if c.kl_target is None else "adaptive"),
                 Setting("algorithm.kl_ctrl.target_kl", per_token_target, when=ADAPTIVE),
                 Missing(PER_TOKEN_TARGET, when=lambda c: ADAPTIVE(c) and c.stop_at_eos),
                 Missing("verl adapts β only for the KL in the reward; its KL loss coefficient stays fixed",
                         when=lambda c: ADAPTIVE(c) and c.kl_in == "loss")),
        "openrlhf": (Setting("--algo.kl.target", per_token_target, when=ADAPTIVE),
                     Missing(PER_TOKEN_TARGET, when=lambda c: ADAPTIVE(c) and c.stop_at_eos)),
        "trl": (Missing("β stays fixed (no adaptive controller)", when=ADAPTIVE),)},
    "kl_horizon": {
        "verl": (Setting("algorithm.kl_ctrl.horizon"),),
        "openrlhf": (Setting("--algo.kl.horizon"),),
        "trl": (Missing("β stays fixed (no adaptive controller)", when=lambda c: c.kl_target is not None),)},
    "gamma": {
        "verl": (Setting("algorithm.gamma"),),
        "openrlhf": (Setting("--algo.advantage.gamma"),),
        "trl": (Missing("no GAE in GRPO or RLOO", when=NEVER),)},
    "lam": {
        "verl": (Setting("algorithm.lam"),),
        "openrlhf": (Setting("--algo.advantage.lambd"),),
        "trl": (Missing("no GAE in GRPO or RLOO", when=NEVER),)},
    "whiten_advantages": {
        "verl": (Missing("GAE advantages are always whitened",
                         when=lambda c: c.has_critic and not c.whiten_advantages),),
        "openrlhf": (Missing("GAE advantages are always centred (--algo.advantage.no_std_norm keeps the scale)",
                             when=lambda c: c.has_critic and not c.whiten_advantages),),
        "trl": (Missing("no GAE in GRPO or RLOO", when=NEVER),)},
    "advantage_estimator": {
        "verl": (Setting("algorithm.adv_estimator", choose({"gae": "gae", "grpo": "grpo", "rloo": "rloo"},
                                                           "advantage_estimator", "verl")),),
        "openrlhf": (Setting("--algo.advantage.estimator", openrlhf_estimator),),
        "trl": (Missing("the trainer is the estimator: GRPOTrainer (grpo) or RLOOTrainer (rloo); PPO "
                        + PPO_REMOVED, when=NEVER),)},
    "group_size": {
        "verl": (Setting("actor_rollout_ref.rollout.n"),),
        "openrlhf": (Setting("--rollout.n_samples_per_prompt"),),
        "trl": (Setting("num_generations"),)},
    "scale_rewards": {
        "verl": (Setting("algorithm.norm_adv_by_std_in_grpo", when=is_("advantage_estimator", "grpo")),),
        "openrlhf": (Missing("the estimator says it: group_norm divides by the group's std, dr_grpo does not",
                             when=NEVER),),
        "trl": (Setting("scale_rewards", lambda c: "group" if c.scale_rewards else "none", scope=("GRPOConfig",)),)},
    "kl_in": {
        "verl": (Setting("algorithm.use_kl_in_reward", KL_IN_REWARD), Setting("actor_rollout_ref.actor.use_kl_loss",
                                                                               KL_IN_LOSS)),
        "openrlhf": (Setting("--algo.kl.use_loss", KL_IN_LOSS),),
        "trl": (Missing("fixed by the trainer: GRPOTrainer puts the KL in the loss, RLOOTrainer in the reward",
                        when=lambda c: c.kl_coef > 0 and not trl_kl_fits(c)),)},
    "loss_aggregation": {
        "verl": (Setting("actor_rollout_ref.actor.loss_agg_mode", choose(
            {"token_mean": "token-mean", "sequence_mean": "seq-mean-token-mean",
             "constant": "seq-mean-token-sum-norm"}, "loss_aggregation", "verl")),
                 Setting("actor_rollout_ref.actor.loss_scale_factor", lambda c: c.response_length,
                         when=is_("loss_aggregation", "constant"))),
        "openrlhf": (Setting("--actor.loss_agg_mode", choose(
            {"token_mean": "token-mean", "sequence_mean": "seq-mean-token-mean"}, "loss_aggregation", "OpenRLHF")),),
        "trl": (Setting("loss_type", grpo_loss_type, scope=("GRPOConfig",)),
                Missing("RLOOTrainer clips one ratio per completion (log-probabilities summed), not one per token",
                        when=is_("advantage_estimator", "rloo")))},
    "dynamic_sampling": {
        "verl": (Setting("algorithm.filter_groups.enable", lambda c: c.dynamic_sampling > 1),
                 Setting("algorithm.filter_groups.metric", lambda c: "reward", when=RESAMPLES),
                 Missing("verl keeps sampling until every group of the batch has rewards that differ: our bound "
                         "(at most dynamic_sampling × the prompts, then groups without signal fill the rest) has no "
                         "setting", when=RESAMPLES)),
        "openrlhf": (Setting("--algo.dynamic_filtering_enable", lambda c: c.dynamic_sampling > 1),
                     Missing("OpenRLHF replaces a group until its mean reward lies strictly inside "
                             "--algo.dynamic_filtering_range (0 to 1: the scores differ only for 0/1 rewards); our "
                             "bound of dynamic_sampling × the prompts has no flag", when=RESAMPLES)),
        "trl": (Missing("no group filter", when=RESAMPLES),)},
    "stop_at_eos": {
        "verl": (Setting("actor_rollout_ref.rollout.ignore_eos", lambda c: not c.stop_at_eos),),
        "openrlhf": (Missing("completions always end at end-of-text", when=lambda c: not c.stop_at_eos),),
        "trl": (Missing("completions always end at end-of-text", when=lambda c: not c.stop_at_eos),)},
    "binary_reward": {engine: (Missing("write the pass/fail rule into the reward function", when=is_(
        "binary_reward", True)),) for engine in ENGINES},
    "eval_every": {
        "verl": (Setting("trainer.test_freq", when=program),),
        "openrlhf": (Setting("--eval.steps", when=program), Setting("--eval.dataset", lambda c: "data/test.jsonl",
                                                                    when=program),
                     Setting("--eval.temperature", lambda c: c.temperature, when=program),
                     Setting("--eval.n_samples_per_prompt", lambda c: 1, when=program)),
        "trl": (Setting("eval_steps", when=program),)},
    # DPO (notebook 10) trains with `python -m ppo_lab dpo`: TRL's DPOConfig and OpenRLHF's train_dpo.py
    "dpo_beta": {
        "verl": (Missing("no DPO trainer in verl", when=NEVER),),
        "openrlhf": (Setting("--model.beta", scope=("train_dpo.py",)),),
        "trl": (Setting("beta", scope=("DPOConfig",)),)},
    "dpo_pairs": {
        "verl": (Missing("no DPO trainer in verl", when=NEVER),),
        "openrlhf": (Setting("--data.dataset", lambda c: "pairs.jsonl", scope=("train_dpo.py",)),),
        "trl": (Missing("the pairs are DPOTrainer's dataset (prompt, chosen, rejected); online pairs: "
                        "trl.experimental.online_dpo", when=NEVER),)},
    "dpo_online_every": {
        "verl": (Missing("no DPO trainer in verl", when=NEVER),),
        "openrlhf": (Missing("train_dpo.py trains on a fixed set of pairs", when=NEVER),),
        "trl": (Missing("trl.experimental.online_dpo makes new pairs at every step", when=NEVER),)},
}
RECORDING_ONLY = ("sample_every", "num_samples")   # what gets logged, not how a run goes: no row
DPO_FIELDS = ("dpo_beta", "dpo_pairs", "dpo_online_every")  # `python -m ppo_lab dpo`, not an RL run: not exported


# ------------------------------------------------------------------ one config in one engine
@dataclass
class Translation:
    """One config as an engine's settings: `settings` (name → value, in MAP's order) and what it cannot follow."""
    engine: str
    trainer: str                                      # verl's config, OpenRLHF's script, or TRL's config class
    settings: dict[str, object] = field(default_factory=dict)
    unexpressed: list[tuple[str, str]] = field(default_factory=list)   # (our field, why the engine cannot)
    names: dict[str, list[str]] = field(default_factory=dict)          # our field → the settings it became


def trainer_of(config: PPOConfig, engine: str) -> str:
    """Which of the engine's trainers runs this config; ConfigError where none does (PPO in TRL 1.16)."""
    check_engine(engine)
    if engine != "trl":
        return DEFAULT_SCOPE[engine][0]
    trainers = {"grpo": "GRPOConfig", "rloo": "RLOOConfig"}
    if config.advantage_estimator not in trainers:
        why = PPO_REMOVED if config.has_critic else "no REINFORCE trainer (GRPO and RLOO need a group_size ≥ 2)"
        raise ConfigError(f"advantage_estimator={config.advantage_estimator!r} has no trainer in TRL 1.16: {why}; "
                         "valid with engine 'trl': 'grpo' or 'rloo' (e.g. advantage_estimator=grpo group_size=4 "
                         "kl_in=loss kl_estimator=k3), or engine 'verl' or 'openrlhf' for PPO")
    return trainers[config.advantage_estimator]


def translate(config: PPOConfig, engine: str) -> Translation:
    """Every field of `config` as the engine's settings; what it cannot express goes to `unexpressed`."""
    out = Translation(engine, trainer_of(config, engine))
    for name, rows in MAP.items():
        if name in DPO_FIELDS:
            continue
        for row in rows[engine]:
            if isinstance(row, Missing):
                if row.when is None or row.when(config):
                    out.unexpressed.append((name, row.reason))
            elif (row.when is None or row.when(config)) and out.trainer in (row.scope or DEFAULT_SCOPE[engine]):
                value = getattr(config, name) if row.value is None else row.value(config)
                if isinstance(value, Unsupported):
                    out.unexpressed.append((name, value.reason))
                else:
                    out.settings[row.name] = value
                    out.names.setdefault(name, []).append(row.name)
    return out


def check_engine(engine: str) -> None:
    if engine not in VERSIONS:
        raise ConfigError(f"engine={engine!r} is not an engine here; valid: {list(ENGINES)}")


# ------------------------------------------------------------------ the table of notebooks 08 and 09
def cell(row: Row) -> str:
    """One table cell as plain text: the engine's names (with their scope where it is not the default), or
    "— (why)"; no markdown (a reason's `backticks` are dropped), so a DataFrame shows it as it is."""
    parts = []
    for item in row:
        if isinstance(item, Missing):
            parts.append(f"— ({item.reason.replace('`', '')})")
        else:
            scope = f" ({', '.join(item.scope)})" if item.scope else ""
            parts.append(f"{item.name}{scope}")
    return "; ".join(parts)


def table_rows() -> dict[str, tuple[str, ...]]:
    """{field: one cell per engine}, every mapped field."""
    return {name: tuple(cell(rows[engine]) for engine in ENGINES) for name, rows in MAP.items()}


def table(fields: list[str] | None = None):
    """The map as a pandas DataFrame: one row per `PPOConfig` field (all of MAP's, or `fields` in that order), the
    columns "lecture term" (the field's `term` in `config.FIELDS`, else its help line) and one per engine, titled
    as in `TITLES`. It displays every cell whole (a plain DataFrame cuts a cell at 50 characters)."""
    fields = list(MAP) if fields is None else list(fields)
    unknown = [f for f in fields if f not in MAP]
    if unknown or not fields:
        raise ConfigError(f"table(fields={fields!r}): {unknown or 'no field'} "
                          f"{'has no row' if unknown else 'given'}; valid: a list of fields of MAP, e.g. "
                          f"['clip_eps', 'kl_coef'], from {list(MAP)} (None: every one; {list(RECORDING_ONLY)} only "
                          "record a run and have no row)")
    rows, titles = table_rows(), [TITLES[e] for e in ENGINES]
    data = {"lecture term": [FIELDS[f].term or FIELDS[f].help for f in fields]}
    data |= {title: [rows[f][k] for f in fields] for k, title in enumerate(titles)}
    return _whole_cells()(data, index=fields).rename_axis("PPOConfig field")


@functools.cache
def _whole_cells() -> type:
    """A pandas DataFrame class that shows every cell whole, left-aligned (made once, when first needed)."""
    import pandas as pd  # here, not at the top: pandas is not a dependency of `import ppo_lab`

    class WholeCells(pd.DataFrame):
        """A DataFrame whose display never cuts a cell (pandas' `display.max_colwidth`, 50 characters)."""

        @property
        def _constructor(self):
            return WholeCells

        def _repr_html_(self):
            with pd.option_context("display.max_colwidth", None):
                return self.style.set_table_styles(
                    [{"selector": "th, td", "props": "text-align: left; white-space: normal"}])._repr_html_()

        def __repr__(self):
            with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
                return super().__repr__()

    return WholeCells


def names(engine: str) -> dict[str, tuple[str, ...]]:
    """{scope: the engine's names used there}: what the suite checks against the installed engine."""
    found: dict[str, set] = {}
    for rows in MAP.values():
        for item in rows[engine]:
            if isinstance(item, Setting):
                for scope in item.scope or DEFAULT_SCOPE[engine]:
                    found.setdefault(scope, set()).add(item.name)
    return {scope: tuple(sorted(n)) for scope, n in found.items()}


__all__ = ["ADAPTIVE", "cell", "check_engine", "choose", "DEFAULT_SCOPE", "DPO_FIELDS", "ENGINES", "grpo_loss_type",
           "has_critic", "is_", "MAP", "Missing", "model_path", "names", "NEVER", "openrlhf_estimator", "per_prompt",
           "PER_TOKEN_TARGET", "per_token_target", "PPO_REMOVED", "program", "prompts_per_rollout", "RECORDING_ONLY",
           "RESAMPLES", "Row", "Setting", "steps_per_rollout", "table", "table_rows", "TITLES", "trainer_of",
           "translate", "Translation", "trl_kl_fits", "Unsupported", "VERL_KL", "VERSIONS"]
