"""One `PPOConfig` for code, notebooks and the CLI: every field with its symbol, presets, clear errors."""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass


class ConfigError(ValueError):
    """A setting is out of range: the message names the field, the value, the valid range and a fix."""


@dataclass
class PPOConfig:
    # models (bundled names, a `from_pretrained` name, or a local folder)
    policy: str = "tiny-gpt2"         # the LLM being aligned (+ a value head)
    reward_model: str = "tiny-reward"  # scores prompt + completion: the proxy of human preference
    seed: int = 0                     # drives every random source
    device: str = "cpu"               # "cpu", "cuda" or "auto" (CUDA when present)
    # the PPO cycle
    iterations: int = 50              # PPO cycles: Phase I (rollout) + Phase II (updates)
    batch_size: int = 64              # prompts per rollout
    minibatch_size: int = 16          # completions per gradient step
    ppo_epochs: int = 4               # passes over each rollout in Phase II
    learning_rate: float = 1e-4       # Adam step size
    max_grad_norm: float = 1.0        # gradient clipping (global norm)
    # Phase I: completions
    prompt_length: int = 8            # longest prompt in tokens
    response_length: int = 24         # tokens sampled per completion
    temperature: float = 0.8          # sampling temperature (log-probs use the same)
    # Phase II: the objective  L = L_clip − c1·L_VF + c2·S
    clip_eps: float | None = 0.2      # ε: trust region of the ratio (None: no clipping)
    clip_eps_value: float | None = 0.2  # ε_v: clip of the value update (None: no clipping)
    vf_coef: float = 0.1              # c1: weight of the value loss
    ent_coef: float = 0.0             # c2: weight of the entropy bonus
    # KL penalty to the frozen reference model
    kl_coef: float = 0.1              # β: per-token KL penalty (start value when adaptive)
    kl_estimator: str = "k1"          # "k1" (log π − log π_ref) or "k3" ((r − 1) − log r)
    kl_target: float | None = 8.0     # adaptive β aims at this KL per completion (nats); None: fixed β
    kl_horizon: int = 256             # how fast the adaptive β moves (in completions)
    # advantages
    gamma: float = 1.0                # γ: discount
    lam: float = 0.95                 # λ: GAE trade-off between bias and variance
    whiten_advantages: bool = True    # normalise advantages to mean 0, std 1 per rollout
    # what gets recorded
    sample_every: int = 10            # keep sample completions every this many iterations
    num_samples: int = 8              # completions kept each time

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, **overrides) -> PPOConfig:
        """`"tiny"` (the course default), `"ci"` (seconds, for tests), `"gpt2"` (the real gpt2 on a GPU)."""
        if name not in PRESETS:
            raise ConfigError(f"preset={name!r} is not a preset; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes) -> PPOConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __setattr__(self, name: str, value) -> None:
        """Every assignment is validated, in `__init__` and after it (`cfg.batch_size = 7` is refused)."""
        if name not in _SPEC:
            raise ConfigError(f"{name!r} is not a PPOConfig field; valid: {', '.join(_SPEC)}")
        value = _check(name, value)
        if self.__dict__.get("_complete"):
            _check_together({**self.__dict__, name: value})
        object.__setattr__(self, name, value)

    def __post_init__(self):
        _check_together(self.__dict__)
        object.__setattr__(self, "_complete", True)


def _check_together(values: dict) -> None:
    """Checks that involve two fields."""
    if values["batch_size"] % values["minibatch_size"]:
        raise ConfigError(f"minibatch_size={values['minibatch_size']} does not divide "
                          f"batch_size={values['batch_size']}; valid: a divisor of {values['batch_size']}, "
                          f"e.g. {_divisors(values['batch_size'])}")


# field → (kind, low, high, choices); low/high inclusive unless noted in `_OPEN`
_SPEC = {
    "policy": ("str",), "reward_model": ("str",), "device": ("choice", ("cpu", "cuda", "auto")),
    "seed": ("int", 0, 2**32 - 1), "iterations": ("int", 1, 100_000), "batch_size": ("int", 1, 4096),
    "minibatch_size": ("int", 1, 4096), "ppo_epochs": ("int", 1, 100), "prompt_length": ("int", 1, 1024),
    "response_length": ("int", 1, 1024), "kl_horizon": ("int", 1, 10**9), "sample_every": ("int", 1, 100_000),
    "num_samples": ("int", 0, 4096),
    "learning_rate": ("float", 0.0, 1.0, "open_low"), "max_grad_norm": ("float", 0.0, 1e6, "open_low"),
    "temperature": ("float", 0.0, 100.0, "open_low"), "clip_eps": ("float?", 0.0, 10.0, "open_low"),
    "clip_eps_value": ("float?", 0.0, 1e6, "open_low"), "vf_coef": ("float", 0.0, 1e6),
    "ent_coef": ("float", 0.0, 10.0), "kl_coef": ("float", 0.0, 100.0), "kl_target": ("float?", 0.0, 1e6, "open_low"),
    "gamma": ("float", 0.0, 1.0), "lam": ("float", 0.0, 1.0),
    "kl_estimator": ("choice", ("k1", "k3")), "whiten_advantages": ("bool",),
}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0][:8]


def _check(name: str, value):
    """The value as the field's type (numpy scalars → Python numbers), or ConfigError naming the field,
    the value, the valid range or choices, and a fix."""
    kind, *rest = _SPEC[name]
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{name}={value!r} must be a non-empty string: a bundled name "
                              f"('tiny-gpt2', 'tiny-reward'), a model name or a local folder")
        return value
    if kind == "choice":
        if value not in rest[0]:
            raise ConfigError(f"{name}={value!r} is not valid; choose one of {list(rest[0])}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be True or False")
        return value
    if kind == "float?" and value is None:
        return None
    value = _as_number(name, kind, value, rest[0], rest[1])
    _check_range(name, kind, value, *rest)
    return value


def _as_number(name: str, kind: str, value, low, high):
    """int for "int" fields, float for the others; numpy and other numeric scalars are converted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if kind == "int":
            raise ConfigError(f"{name}={value!r} must be a whole number in [{low}, {high}], "
                              f"not {type(value).__name__}")
        none = " or None" if kind == "float?" else ""
        raise ConfigError(f"{name}={value!r} must be a number{none}, not {type(value).__name__}")
    if kind == "int":
        if not isinstance(value, numbers.Integral):
            raise ConfigError(f"{name}={value!r} must be a whole number in [{low}, {high}], "
                              f"not {type(value).__name__}")
        return int(value)
    return float(value)


def _check_range(name: str, kind: str, value, low, high, *open_low) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{name}={value!r} must be a finite number in "
                          f"{'(' if open_low else '['}{low}, {high}]")
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        hint = "; use None for no clipping" if kind == "float?" and name.startswith("clip") else ""
        raise ConfigError(f"{name}={value!r} is out of range; valid: {bracket}{low}, {high}]{hint}")


PRESETS: dict[str, dict] = {
    "tiny": {},
    # seconds, for tests and notebooks in CI: same code, smaller batches, a bolder step size
    "ci": {"iterations": 10, "batch_size": 32, "minibatch_size": 8, "ppo_epochs": 4, "learning_rate": 3e-4,
           "sample_every": 4, "num_samples": 4},
    "gpt2": {"policy": "gpt2", "reward_model": "lvwerra/distilbert-imdb", "device": "auto",
             "batch_size": 64, "minibatch_size": 16, "response_length": 48, "prompt_length": 16,
             "learning_rate": 1.41e-5, "temperature": 1.0, "kl_target": 6.0, "iterations": 100},
}
