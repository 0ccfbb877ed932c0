"""One `PPOConfig` for code, notebooks and the CLI: every field with its symbol, presets, clear errors.

Each field declares its own meaning and valid values (`number`, `choice`, `text`, `flag` below put them
in the field's `metadata`); validation, `describe`, the CLI's --help and the widgets all read them there.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is out of range: the message names the field, the value, the valid range and a fix."""


# ------------------------------------------------------------------ how a field is declared
def number(default, kind: str, low, high, *, open_low: bool = False, symbol: str = "", term: str = "", help: str):
    """A numeric field: `kind` "int", "float" or "float?" (a float or None), valid in [low, high], or in
    (low, high] with `open_low`; `symbol` as on the slides (ε, β, …), `term` as in the lecture."""
    return dataclasses.field(default=default, metadata={"kind": kind, "low": low, "high": high, "open_low": open_low,
                                                        "symbol": symbol, "term": term, "help": help})


def choice(default: str, choices: tuple, *, symbol: str = "", term: str = "", help: str):
    """A field that takes one of `choices`."""
    return dataclasses.field(default=default, metadata={"kind": "choice", "choices": tuple(choices),
                                                        "symbol": symbol, "term": term, "help": help})


def text(default: str, *, term: str = "", help: str):
    """A non-empty string field (a model name or folder)."""
    return dataclasses.field(default=default, metadata={"kind": "str", "term": term, "help": help})


def flag(default: bool, *, term: str = "", help: str):
    """A True/False field."""
    return dataclasses.field(default=default, metadata={"kind": "bool", "term": term, "help": help})


@dataclass
class PPOConfig:
    """Every setting of a run. A new setting is one declaration here, `name: type = number(...)` (or `choice`,
    `text`, `flag`): validation, `describe`, the CLI's --help and the widgets all read it from there."""

    # models (bundled names, a `from_pretrained` name, or a local folder)
    policy: str = text("tiny-gpt2", term="the policy being aligned", help="the LLM being aligned (+ a value head)")
    reward_model: str = text("tiny-reward", term="reward model (mô hình phần thưởng)",
                             help="scores prompt + completion: the proxy of human preference")
    seed: int = number(0, "int", 0, 2**32 - 1, help="drives every random source")
    device: str = choice("cpu", ("cpu", "cuda", "auto"), help="where the models run (auto: CUDA when present)")
    bf16: bool = flag(False, term="bfloat16 autocast (bf16)",
                      help="matrix products in bfloat16 under autocast (for CUDA); log-softmax, ratio, KL and losses "
                           "stay fp32")
    # the PPO cycle
    iterations: int = number(50, "int", 1, 100_000, term="PPO cycles (chu kỳ PPO)",
                             help="PPO cycles: Phase I (rollout) + Phase II (updates)")
    batch_size: int = number(64, "int", 1, 4096, term="completion prompts (prompt hoàn thành) per Phase I",
                             help="completions per rollout (batch_size / group_size prompts)")
    minibatch_size: int = number(16, "int", 1, 4096, term="completions per optimiser step of Phase II",
                                 help="completions per gradient step")
    ppo_epochs: int = number(4, "int", 1, 100, term="passes of Phase II over one rollout",
                             help="passes over each rollout in Phase II")
    learning_rate: float = number(1e-4, "float", 0.0, 1.0, open_low=True, help="Adam step size",
                                  term="step size of backpropagation (lan truyền ngược) + Adam")
    max_grad_norm: float = number(1.0, "float", 0.0, 1e6, open_low=True, term="gradient clipping",
                                  help="gradient clipping (global norm)")
    # Phase I: completions
    prompt_length: int = number(8, "int", 1, 1024, help="longest prompt in tokens")
    response_length: int = number(24, "int", 1, 1024, help="tokens sampled per completion")
    temperature: float = number(0.8, "float", 0.0, 100.0, open_low=True,
                                help="sampling temperature (log-probs use the same)")
    # Phase II: the objective  L = L_clip − c1·L_VF + c2·S
    clip_eps: float | None = number(0.2, "float?", 0.0, 10.0, open_low=True, symbol="ε",
                                    term="ε: trust region (vùng tin cậy) of the policy loss (tổn thất chính sách)",
                                    help="trust region of the ratio (None: no clipping)")
    clip_eps_value: float | None = number(0.2, "float?", 0.0, 1e6, open_low=True, symbol="ε_v",
                                          term="ε_v of the value loss (tổn thất giá trị)",
                                          help="clip of the value update (None: no clipping)")
    vf_coef: float = number(0.1, "float", 0.0, 1e6, symbol="c1", term="c1", help="weight of the value loss (gae only)")
    ent_coef: float = number(0.0, "float", 0.0, 10.0, symbol="c2", term="c2 of the entropy loss (tổn thất entropy)",
                             help="weight of the entropy bonus")
    # KL penalty to the frozen reference model
    kl_coef: float = number(0.1, "float", 0.0, 100.0, symbol="β", term="β of the KL penalty",
                            help="weight of the KL penalty, in the reward or the loss (kl_in); start value if adaptive")
    kl_estimator: str = choice("k1", ("k1", "k3"), term="k1 or k3",
                               help="k1: log π − log π_ref; k3: (r − 1) − log r")
    kl_target: float | None = number(8.0, "float?", 0.0, 1e6, open_low=True, term="adaptive β",
                                     help="adaptive β aims at this KL per completion (nats); None: fixed β")
    kl_horizon: int = number(256, "int", 1, 10**9, term="speed of the adaptive β",
                             help="how fast the adaptive β moves (in completions)")
    # advantages
    gamma: float = number(1.0, "float", 0.0, 1.0, symbol="γ", term="γ of GAE", help="discount")
    lam: float = number(0.95, "float", 0.0, 1.0, symbol="λ", term="λ of GAE",
                        help="GAE trade-off between bias and variance")
    whiten_advantages: bool = flag(True, help="normalise advantages to mean 0, std 1 per rollout (gae only)")
    # the critic-free family (notebook 09): another advantage, the same clipped gradient
    advantage_estimator: str = choice("gae", ("gae", "grpo", "rloo", "reinforce"),
                                      term="advantage estimator (bộ ước lượng lợi thế)",
                                      help="gae: value head + GAE (PPO); grpo: group mean and std; rloo: leave-one-out "
                                           "mean; reinforce: the raw reward, no baseline")
    group_size: int = number(1, "int", 1, 4096, symbol="G", term="group (nhóm) of completions of one prompt",
                             help="completions sampled per prompt (batch_size / G prompts per rollout)")
    scale_rewards: bool = flag(True, term="GRPO's division by the group's standard deviation (độ lệch chuẩn)",
                               help="grpo: divide by the group's std (False: Dr. GRPO)")
    kl_in: str = choice("reward", ("reward", "loss"), term="where the KL penalty (hình phạt KL) enters",
                        help="reward: −β·KL per token in the reward (PPO); loss: +β·KL in the loss (GRPO)")
    loss_aggregation: str = choice("token_mean", ("token_mean", "sequence_mean", "constant"),
                                   term="loss aggregation, length bias (thiên lệch độ dài)",
                                   help="token_mean: all valid tokens; sequence_mean: per completion, then over "
                                        "completions (GRPO); constant: ÷ (B·L) (Dr. GRPO)")
    dynamic_sampling: int = number(1, "int", 1, 16, term="dynamic sampling (lấy mẫu động, DAPO)",
                                   help="sample this many times the prompts, then train on batch_size / G groups, "
                                        "those whose scores differ first (1: off)")
    stop_at_eos: bool = flag(False, term="a completion ends at end-of-text (kết thúc văn bản)",
                             help="tokens after the first end-of-text are padding (False: fixed-length completions)")
    binary_reward: bool = flag(False, term="a pass/fail reward (phần thưởng nhị phân)",
                               help="reward 1 when the reward model's score says positive, else 0 (a pass/fail judge)")
    # DPO (notebook 10): preference pairs, no reward model in the loss, no RL
    dpo_beta: float = number(0.1, "float", 0.0, 100.0, open_low=True, symbol="β_DPO",
                             term="β of DPO (tối ưu hóa sở thích trực tiếp): notebook 06's β, solved in closed form",
                             help="DPO: weight of the pull to the reference (small: drifts far from it)")
    dpo_pairs: str = choice("human", ("human", "policy", "online"), term="preference pairs (cặp ưu tiên)",
                            help="DPO: human-labelled reviews, the starting policy's completions judged by the reward "
                                 "model, or the current policy's (online)")
    dpo_online_every: int = number(1, "int", 1, 100_000, symbol="k", help="online DPO: new pairs every k iterations")
    # verifiable rewards (notebook 11)
    eval_every: int = number(10, "int", 1, 100_000, help="with a reward program: held-out accuracy (env/accuracy, "
                             "sampled and greedy) at the first, every this many and the last iteration")
    # what gets recorded
    sample_every: int = number(10, "int", 1, 100_000, help="keep sample completions every this many iterations")
    num_samples: int = number(8, "int", 0, 4096, help="completions kept each time")

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides) -> PPOConfig:
        """`"tiny"` (the course default), `"ci"` (seconds, for tests), `"gpt2"` (the real gpt2 on a GPU),
        `"arithmetic"` (verifiable rewards, notebook 11: sums checked by a program)."""
        check_preset(name)
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> PPOConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_member(self, name: str, **changes) -> PPOConfig:
        """This config as a member of the family (notebook 09): `FAMILY[name]`'s fields, then `changes`, e.g.
        `config.as_member("GRPO", group_size=8)`."""
        if name not in FAMILY:
            raise ConfigError(f"as_member: name={name!r} is not a member of the family; valid: {', '.join(FAMILY)}")
        return self.replace(**{**FAMILY[name], **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def has_critic(self) -> bool:
        """Whether the run trains a value head (PPO's GAE) or is critic-free (the family of notebook 09)."""
        return self.advantage_estimator == "gae"

    def __setattr__(self, name: str, value) -> None:
        """Every assignment is validated, in `__init__` and after it (`cfg.batch_size = 7` is refused)."""
        value = _check(field_info(name), value)
        if self.__dict__.get("_complete"):
            _check_together({**self.__dict__, name: value})
        object.__setattr__(self, name, value)

    def __post_init__(self):
        _check_together(self.__dict__)
        object.__setattr__(self, "_complete", True)


# ------------------------------------------------------------------ reading the declarations
@dataclass(frozen=True)
class FieldInfo:
    """One `PPOConfig` field as declared: its default and its `metadata`."""
    name: str
    default: object
    kind: str                 # "int", "float", "float?" (a float or None), "choice", "str" or "bool"
    help: str                 # one line: what the field does
    symbol: str = ""          # as on the slides: ε, ε_v, c1, c2, β, γ, λ; "" when none
    term: str = ""            # the lecture's term; "" when none
    low: float | None = None  # numbers: valid in [low, high], or in (low, high] when open_low
    high: float | None = None
    open_low: bool = False
    choices: tuple = ()       # "choice": the valid values

    @property
    def is_number(self) -> bool:
        return self.kind in ("int", "float", "float?")

    @property
    def label(self) -> str:
        """"clip_eps (ε)", or the bare name when there is no symbol."""
        return f"{self.name} ({self.symbol})" if self.symbol else self.name

    def interval(self, show=str) -> str:
        """"(0.0, 10.0]" (each bound written by `show`)."""
        return f"{'(' if self.open_low else '['}{show(self.low)}, {show(self.high)}]"

    def valid(self) -> str:
        """The valid values in a few words: "int in [1, 4096]", "float or None in (0, 10]", "one of k1/k3"."""
        if self.kind == "choice":
            return "one of " + "/".join(self.choices)
        if not self.is_number:
            return self.kind
        return f"{'float or None' if self.kind == 'float?' else self.kind} in {self.interval(_short)}"

    def summary(self) -> str:
        """Everything but the label: "float or None in (0, 10], default 0.2 — trust region of the ratio …"."""
        return f"{self.valid()}, default {self.default!r} — {self.help}"


FIELDS: dict[str, FieldInfo] = {f.name: FieldInfo(f.name, f.default, **f.metadata)
                                for f in dataclasses.fields(PPOConfig)}


def field_info(name: str) -> FieldInfo:
    """The declaration of one field, or ConfigError listing the fields."""
    if name not in FIELDS:
        raise ConfigError(f"{name!r} is not a PPOConfig field; valid: {', '.join(FIELDS)}")
    return FIELDS[name]


def describe(name: str) -> str:
    """One line: "clip_eps (ε) float or None in (0, 10], default 0.2 — trust region of the ratio (…)"."""
    info = field_info(name)
    return f"{info.label} {info.summary()}"


def _short(bound) -> str:
    """A bound as a reader writes it: 0.0 → "0", 1e6 → "1e6", 4096 → "4096"."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}".replace("e+0", "e").replace("e-0", "e-")


# ------------------------------------------------------------------ validation
REWARD_PROGRAMS = ("exact-match", "exact-match+format")   # `verifiable.PROGRAMS`: rewards that are programs
def _check_together(values: dict) -> None:
    """Checks that involve two fields."""
    if values["batch_size"] % values["minibatch_size"]:
        raise ConfigError(f"minibatch_size={values['minibatch_size']} does not divide "
                          f"batch_size={values['batch_size']}; valid: a divisor of {values['batch_size']}, "
                          f"e.g. {_divisors(values['batch_size'])}")
    _check_groups(values["group_size"], values["batch_size"], values["advantage_estimator"])
    if values["dynamic_sampling"] > 1 and values["group_size"] < 2:
        raise ConfigError(f"dynamic_sampling={values['dynamic_sampling']} keeps the groups whose scores differ, so it "
                          f"needs groups; valid: group_size ≥ 2 (got {values['group_size']}), or dynamic_sampling=1")
    if values["reward_model"] in REWARD_PROGRAMS and not values["stop_at_eos"]:
        raise ConfigError(f"reward_model={values['reward_model']!r} reads each completion up to its end-of-text, so "
                          "completions must stop there; valid: stop_at_eos=True (the 'arithmetic' preset sets it)")


def _check_groups(group_size: int, batch_size: int, estimator: str) -> None:
    """batch_size completions are batch_size / G prompts × G; grpo and rloo compare within a group of 2 or more."""
    if batch_size % group_size:
        raise ConfigError(f"group_size={group_size} does not divide batch_size={batch_size} (completions per "
                          f"rollout = prompts × G); valid: a divisor of {batch_size}, e.g. {_divisors(batch_size)}")
    if group_size < 2 and estimator in ("grpo", "rloo"):
        raise ConfigError(f"group_size={group_size} with advantage_estimator={estimator!r}: its baseline is the "
                          f"other completions of the same prompt; valid: a group_size ≥ 2 that divides "
                          f"batch_size={batch_size}, e.g. {_divisors(batch_size, 2) or 'none (raise batch_size)'}")


def _divisors(n: int, low: int = 1) -> list[int]:
    return [d for d in range(low, n + 1) if n % d == 0][:8]


def _check(info: FieldInfo, value):
    """The value as the field's type (numpy scalars → Python numbers), or ConfigError naming the field,
    the value, the valid range or choices, and a fix."""
    name = info.name
    if info.kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name}={value!r} must be a non-empty string: a bundled name "
                              f"('tiny-gpt2', 'tiny-reward'), a model name or a local folder")
        return str(value)
    if info.kind == "choice":   # a text only (a numpy string scalar is one); an array is not a choice
        if not isinstance(value, str) or value not in info.choices:
            raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(info.choices)}")
        return str(value)
    if info.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be True or False")
        return value
    if info.kind == "float?" and value is None:
        return None
    value = _as_number(info, value)
    _check_range(info, value)
    return value


def _as_number(info: FieldInfo, value):
    """int for "int" fields, float for the others; numpy and other numeric scalars are converted."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if info.kind == "int" and not whole:
        raise ConfigError(f"{info.name}={value!r} must be a whole number in {info.interval()}, "
                          f"not {type(value).__name__}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        none = " or None" if info.kind == "float?" else ""
        raise ConfigError(f"{info.name}={value!r} must be a number{none}, not {type(value).__name__}")
    return int(value) if info.kind == "int" else float(value)


def _check_range(info: FieldInfo, value) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{info.name}={value!r} must be a finite number in {info.interval()}")
    if value < info.low or value > info.high or (info.open_low and value == info.low):
        hint = "; use None for no clipping" if info.kind == "float?" and info.name.startswith("clip") else ""
        raise ConfigError(f"{info.name}={value!r} is out of range; valid: {info.interval()}{hint}")


# ------------------------------------------------------------------ presets
PRESETS: dict[str, dict] = {
    "tiny": {},
    # seconds, for tests and notebooks in CI: same code, smaller batches, a bolder step size
    "ci": {"iterations": 10, "batch_size": 32, "minibatch_size": 8, "ppo_epochs": 4, "learning_rate": 3e-4,
           "sample_every": 4, "num_samples": 4},
    "gpt2": {"policy": "gpt2", "reward_model": "lvwerra/distilbert-imdb", "device": "auto",
             "batch_size": 64, "minibatch_size": 16, "response_length": 48, "prompt_length": 16,
             "learning_rate": 1.41e-5, "temperature": 1.0, "kl_target": 6.0, "iterations": 100},
    # verifiable rewards (notebook 11): sums checked by a program, GRPO; PPO or RLOO by changing advantage_estimator
    "arithmetic": {"policy": "tiny-arith", "reward_model": "exact-match", "stop_at_eos": True, "prompt_length": 8,
                   "response_length": 5, "temperature": 1.0, "iterations": 200, "batch_size": 64,
                   "minibatch_size": 32, "ppo_epochs": 1, "learning_rate": 3e-4, "kl_coef": 0.0, "kl_target": None,
                   "advantage_estimator": "grpo", "group_size": 8, "scale_rewards": True, "kl_in": "loss",
                   "kl_estimator": "k3", "loss_aggregation": "sequence_mean", "sample_every": 10},
}

# the family (notebook 09): each member as its changes to a config, e.g. `config.replace(**FAMILY["GRPO"])`
FAMILY: dict[str, dict] = {
    "PPO": {},
    "REINFORCE": {"advantage_estimator": "reinforce", "group_size": 1},
    "RLOO": {"advantage_estimator": "rloo", "group_size": 4, "kl_in": "reward", "loss_aggregation": "token_mean"},
    "GRPO": {"advantage_estimator": "grpo", "group_size": 4, "scale_rewards": True, "kl_in": "loss",
             "kl_estimator": "k3", "loss_aggregation": "sequence_mean"},
    "Dr. GRPO": {"advantage_estimator": "grpo", "group_size": 4, "scale_rewards": False, "kl_in": "loss",
                 "kl_estimator": "k3", "loss_aggregation": "constant"},
}


# settings that only some members of the family read: field → (the estimators that read it, why not the others)
READ_BY = {
    "scale_rewards": (("grpo",), "only GRPO divides by the group's standard deviation"),
    "vf_coef": (("gae",), "the critic-free family has no value head, so no value loss to weigh"),
    "clip_eps_value": (("gae",), "the critic-free family has no value head, so no value loss to clip"),
    "whiten_advantages": (("gae",), "the critic-free family's advantages are per completion, from its group"),
    "gamma": (("gae",), "γ discounts inside GAE, which the critic-free family does not run"),
    "lam": (("gae",), "λ weighs GAE's steps, which the critic-free family does not run"),
}


def inert_settings(config: PPOConfig) -> list[str]:
    """One line for each setting changed from its default that the chosen member of the family never reads."""
    return [f"{name}={getattr(config, name)!r} does nothing with advantage_estimator={config.advantage_estimator!r}: "
            f"{why}" for name, (readers, why) in READ_BY.items()
            if config.advantage_estimator not in readers and getattr(config, name) != FIELDS[name].default]


def check_preset(name: str) -> None:
    """ConfigError unless `name` is one of the PRESETS (used by `PPOConfig.preset` and the CLI)."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r} is not a preset; choose one of {sorted(PRESETS)}")


__all__ = ["check_preset", "choice", "ConfigError", "describe", "FAMILY", "field_info", "FieldInfo", "FIELDS", "flag",
           "inert_settings", "READ_BY", "number", "PPOConfig", "PRESETS", "REWARD_PROGRAMS", "text"]
