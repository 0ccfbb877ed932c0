"""Checks around a training run (plumbing, not the algorithm): the arguments, the context window and the
prompts before the first iteration, finite numbers during it, and what the learner reads when NaN/inf stops it.
"""
from __future__ import annotations

import inspect
import re

import torch

from ..config import ConfigError, PPOConfig
from ..world import verifiable
from ..world.models import Models
from ..world.prompts import fitting, token_lengths, world_prompts
from .rollout import complete


class NonFiniteError(FloatingPointError):
    """A loss, advantage or weight became NaN or infinite."""


def check_finite(named: dict) -> None:
    """Raise NonFiniteError naming the first tensor that holds NaN or ±inf."""
    for name, value in named.items():
        if not bool(torch.isfinite(torch.as_tensor(value)).all()):
            raise NonFiniteError(f"{name} became non-finite (NaN or inf)")


def check_weights(module: torch.nn.Module, what: str) -> None:
    """Raise NonFiniteError naming the first parameter that holds NaN or ±inf."""
    for name, param in module.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise NonFiniteError(f"{what} has non-finite weights (NaN or inf), first in {name!r}")


def check_arguments(config, models) -> None:
    """`train`'s arguments are of the right kinds (a dict is not a config)."""
    if not isinstance(config, PPOConfig):
        fix = f"lab.PPOConfig(**{config!r})" if isinstance(config, dict) else "lab.PPOConfig.preset('tiny')"
        raise ConfigError(f"config must be a PPOConfig, not {type(config).__name__}; e.g. {fix}")
    if models is not None and not isinstance(models, Models):
        raise ConfigError(f"models must be the Models that lab.load_models(config) returns, "
                          f"not {type(models).__name__}")


def check_overrides(fns: dict, config: PPOConfig) -> None:
    """A learner's policy_loss takes the 5 arguments of the default token mean; any other `loss_aggregation`
    reaches it as the keyword `aggregation`, so it must take that keyword."""
    if config.loss_aggregation == "token_mean":
        return
    try:
        inspect.signature(fns["policy_loss"]).bind(*range(5), aggregation=config.loss_aggregation)
    except TypeError:
        raise ConfigError(f"loss_aggregation={config.loss_aggregation!r}: your policy_loss takes no `aggregation` "
                          "keyword; valid: loss_aggregation='token_mean', or add `*, aggregation='token_mean'` and "
                          "reduce with lab.maths.losses.aggregate(per_token, mask, aggregation)") from None
    except ValueError:  # no signature to inspect (a builtin): calling it will tell
        pass


def check_context(models: Models, config: PPOConfig) -> None:
    """prompt_length + response_length must fit the policy's context window."""
    context = getattr(models.policy.lm.config, "n_positions", None) or models.policy.lm.config.max_position_embeddings
    if config.prompt_length + config.response_length > context:
        raise ConfigError(f"response_length={config.response_length} with prompt_length={config.prompt_length} "
                          f"exceeds the policy's context of {context} tokens; valid: prompt_length + "
                          f"response_length ≤ {context}")


def check_world(models: Models, config: PPOConfig) -> None:
    """The policy can act in the config's world: an end-of-text token where completions stop there, and, with a
    reward program, an answer that is a number to at least one of 8 held-out sums (greedy, no randomness used):
    a policy that never answers with a number gets reward 0 on every completion and learns nothing."""
    if config.stop_at_eos and models.tokenizer.eos_token_id is None:
        raise ConfigError(f"stop_at_eos=True: the policy's tokenizer (policy={config.policy!r}) has no end-of-text "
                          "token, so a completion cannot stop there; valid: stop_at_eos=False, or a policy whose "
                          "tokenizer has one")
    if not verifiable.is_program(config.reward_model):
        return
    probe = verifiable.prompts("held_out", 8)
    answers = complete(models.policy.lm, models.tokenizer, probe, config.response_length, None)
    if all(verifiable.parse_answer(a) is None for a in answers):
        raise ConfigError(f"reward_model={config.reward_model!r} scores an answer that is a number, but "
                          f"policy={config.policy!r} answers none of 8 held-out sums with one (e.g. {probe[0]!r} → "
                          f"{answers[0]!r}), so every reward would be 0; valid: policy='tiny-arith' (the "
                          "'arithmetic' preset), or a policy that answers sums")


def prompt_pool(tokenizer, config: PPOConfig, prompts: list[str] | None = None) -> list[str]:
    """The held-out review openings that fit `prompt_length` tokens (or the caller's own prompts); with a reward
    program (notebook 11), the training sums (`verifiable.prompts("train")`)."""
    if prompts is not None:
        return checked_prompts(tokenizer, config, prompts)
    pool = world_prompts(config, "train")
    lengths = token_lengths(tokenizer, pool)
    kept = fitting(pool, lengths, config.prompt_length)
    if not kept:
        raise ConfigError(f"prompt_length={config.prompt_length}: no held-out prompt is that short (the shortest "
                          f"has {min(lengths)} tokens); valid: prompt_length ≥ {min(lengths)}, e.g. 8")
    return kept


def checked_prompts(tokenizer, config: PPOConfig, prompts) -> list[str]:
    """The caller's own prompts, each a non-empty text of at most `prompt_length` tokens."""
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, (list, tuple)):
        raise ConfigError(f"prompts={prompts!r} must be a list of texts, e.g. ['This film was'], "
                          "or None for the held-out reviews")
    if len(prompts) == 0:
        raise ConfigError("prompts=[] is empty; give at least one prompt, or None for the held-out reviews")
    for p in prompts:
        if not isinstance(p, str) or not p.strip():
            raise ConfigError(f"prompts: {p!r} is not a text; valid: a list of non-empty strings")
        if verifiable.is_program(config.reward_model) and not re.fullmatch(r"[0-9]+\+[0-9]+=", p):
            raise ConfigError(f"prompts: {p!r} is not a sum, and reward_model={config.reward_model!r} checks sums; "
                              "valid: prompts of the form 'a+b=' with whole numbers, e.g. '47+68='")
        n = len(tokenizer(p)["input_ids"])
        if n > config.prompt_length:
            raise ConfigError(f"prompts: {p!r} has {n} tokens; valid: a non-empty text of at most "
                              f"prompt_length={config.prompt_length} tokens (raise prompt_length or shorten it)")
    return list(prompts)


def nan_report(error: Exception, it: int, start: int, done: int, config, overrides: dict | None = None) -> str:
    """What the learner reads when a run stops on NaN/inf: where, what was kept, and the likely causes (a learner's
    own functions first, when the run swapped some in)."""
    kept = ("the starting weights were restored" if it == start == 0 else
            f"the last good weights (after iteration {it - 1}) were restored")
    causes = [f"your own {', '.join(sorted(overrides))} (overrides=) may return NaN/inf: check it with "
              f"lab.exercises.check_impl({sorted(overrides)[0]!r}, your_function)"] if overrides else []
    if config.temperature < 0.05:
        causes.append(f"temperature={config.temperature} divides the logits by almost 0 (try 0.7–1.0)")
    if "weights" in str(error) or (it == start and not overrides):
        causes.append("the starting weights or the reward model may hold NaN/inf (reload them with "
                      "lab.load_models)")
    if it > start and config.learning_rate >= 1e-3:
        causes.append(f"learning_rate={config.learning_rate} may be too large (try 1e-4)")
    causes = causes or [f"a too-large step: lower learning_rate={config.learning_rate} or "
                        f"max_grad_norm={config.max_grad_norm}", "a reward model that returns NaN/inf"]
    return (f"stopped at iteration {it}: {error}. {kept[0].upper() + kept[1:]} and the run keeps its "
            f"{plural(done, 'iteration')} of history. Likely causes: {'; '.join(causes)}.")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


__all__ = ["check_arguments", "check_context", "check_finite", "check_overrides", "check_weights", "checked_prompts",
           "nan_report", "NonFiniteError", "plural", "prompt_pool"]
