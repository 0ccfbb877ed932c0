"""The PPO cycle (notebook 00): Phase I rollouts, Phase II updates, repeat.

    for each iteration:
        rollout  → rewards (score + KL penalty) → advantages (GAE, whitened)
        → ppo_epochs × shuffled minibatches of  L = L_clip − c1·L_VF + c2·S  → log

The algorithm lives in `iteration`, `rewards_and_advantages` and `ppo_step`; the rest is plumbing
(progress bar, history, NaN guard, interrupts, checkpoints) and is marked as such.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field

import torch

from . import advantages as adv_lib, checkpoint, kl_penalty, losses
from .config import PPOConfig
from .diversity import distinct_n
from .gold import gold_scores
from .models import Models, load_models
from .rollout import Rollout, positive_threshold, response_logits, reward_scores, rollout

# the pure functions the engine calls; `train(..., overrides=...)` may swap any of them for a run
ENGINE_FUNCTIONS = {
    "policy_loss": losses.policy_loss, "value_loss": losses.value_loss, "entropy": losses.entropy,
    "kl_per_token": losses.kl_per_token, "ppo_loss": losses.ppo_loss, "gae": adv_lib.gae,
}


class NonFiniteError(FloatingPointError):
    """A loss, advantage or weight became NaN or infinite."""


@dataclass
class Run:
    """What a training run leaves: config, per-iteration history, samples, models, and how it ended."""
    config: PPOConfig
    models: Models
    history: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    status: str = "running"

    def metric(self, name: str) -> list[float]:
        """One metric over the iterations, e.g. `run.metric("env/reward_mean")`."""
        return [h[name] for h in self.history]


# ====================================================================== the algorithm
def rewards_and_advantages(batch: Rollout, config: PPOConfig, kl_coef: float, fns: dict):
    """r_t = −β·KL_t (+ score at the end), then GAE, then whitening. Returns rewards, A, R, KL."""
    kl = fns["kl_per_token"](batch.logprobs, batch.ref_logprobs, config.kl_estimator)      # (B, L)
    r = kl_penalty.per_token_rewards(batch.scores, kl, batch.mask, kl_coef)                      # (B, L)
    advantages, returns = fns["gae"](r, batch.values, batch.mask, config.gamma, config.lam)  # (B, L)
    if config.whiten_advantages:
        advantages = adv_lib.whiten(advantages, batch.mask)
    return r, advantages, returns, kl


def ppo_step(models: Models, optimizer, batch: Rollout, idx, advantages, returns, config, fns) -> dict:
    """One minibatch of Phase II: forward, the three terms, the weighted loss, backprop, Adam."""
    logits, values = response_logits(models.policy, batch.ids[idx], batch.attention_mask[idx],
                                      config.response_length, config.temperature)      # (b, L, V), (b, L)
    mask = batch.mask[idx]
    logprobs = losses.logprobs_from_logits(logits, batch.response[idx])                 # (b, L)
    pg_loss, pg_stats = fns["policy_loss"](logprobs, batch.logprobs[idx], advantages[idx], mask, config.clip_eps)
    vf_loss, vf_stats = fns["value_loss"](values, batch.values[idx], returns[idx], mask, config.clip_eps_value)
    # S: only computed when it is in the objective (the rollout logs π_old's entropy either way)
    entropy = fns["entropy"](logits, mask) if config.ent_coef > 0 else torch.zeros(())
    loss = fns["ppo_loss"](pg_loss, vf_loss, entropy, config.vf_coef, config.ent_coef)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(models.policy.parameters(), config.max_grad_norm)
    check_finite({"loss/total": loss, "grad_norm": grad_norm})
    optimizer.step()
    return {"loss/policy": pg_loss.item(), "loss/value": vf_loss.item(), "loss/total": loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), **pg_stats, **vf_stats}


def iteration(models: Models, optimizer, prompts: list[str], config: PPOConfig, kl_coef: float,
              generator: torch.Generator, fns: dict, threshold: float = 0.0,
              tick=lambda: None) -> tuple[Rollout, dict]:
    """One PPO cycle: Phase I (rollout, rewards, advantages) then Phase II (ppo_epochs of minibatches).

    `tick()` is called after Phase I and after every minibatch (the progress bar's inner steps).
    """
    t0 = time.perf_counter()
    batch = rollout(models, prompts, config)                                             # Phase I
    r, advantages, returns, kl = rewards_and_advantages(batch, config, kl_coef, fns)
    check_finite({"env/reward": r, "advantages": advantages, "returns": returns})
    t1 = time.perf_counter()
    tick()
    steps = []
    for _ in range(config.ppo_epochs):                                                   # Phase II
        order = torch.randperm(config.batch_size, generator=generator)
        for start in range(0, config.batch_size, config.minibatch_size):
            idx = order[start:start + config.minibatch_size]
            steps.append(ppo_step(models, optimizer, batch, idx, advantages, returns, config, fns))
            tick()
    t2 = time.perf_counter()
    stats = summarise(batch, r, returns, kl, steps, config, kl_coef, threshold) | gold_model_stats(models, batch)
    stats.update({"time/rollout": t1 - t0, "time/update": t2 - t1, "time/iteration": t2 - t0})
    return batch, stats


# ====================================================================== metrics
def explained_variance(values, returns, mask) -> float:
    """1 − Var(R − V)/Var(R) over valid tokens: 1 is a perfect value head, ≤ 0 no better than a constant."""
    var_r = losses.masked_mean((returns - losses.masked_mean(returns, mask)) ** 2, mask)
    diff = returns - values
    var_d = losses.masked_mean((diff - losses.masked_mean(diff, mask)) ** 2, mask)
    return float(1 - var_d / var_r) if var_r > 0 else float("nan")


def gold_model_stats(models: Models, batch: Rollout) -> dict:
    """`gold/rm_mean`: a gold reward model's mean score of the rollout, when the run has one (notebook 06)."""
    if getattr(models, "gold_model", None) is None:
        return {}
    tok = models.tokenizer
    return {"gold/rm_mean": reward_scores(models.gold_model, tok, tok, batch.ids, batch.attention_mask, []).mean().item()}


def summarise(batch: Rollout, r, returns, kl, steps: list[dict], config, kl_coef: float, threshold: float) -> dict:
    """Metrics of one iteration, named as TRL names them where TRL has the quantity."""
    mean = lambda key: sum(s[key] for s in steps) / len(steps)
    gold = torch.tensor(gold_scores([p + c for p, c in zip(batch.prompts, batch.completions)]))
    kl_sum = (kl * batch.mask).sum(1)                                                   # (B,) nats per completion
    non_score = (r.sum(1) - batch.scores)                                                # (B,)
    return {
        "env/reward_mean": batch.scores.mean().item(), "env/reward_std": batch.scores.std().item(),
        "env/fraction_positive": (batch.scores > threshold).float().mean().item(),
        "gold/vader_mean": gold.mean().item(), "gold/fraction_positive": (gold > 0.05).float().mean().item(),
        "objective/kl": kl_sum.mean().item(), "objective/kl_coef": kl_coef,
        "objective/entropy": (-batch.logprobs * batch.mask).sum(1).mean().item(),
        "env/distinct_2": distinct_n(batch.completions, 2),
        "objective/non_score_reward": non_score.mean().item(),
        "objective/rlhf_reward": (batch.scores + non_score).mean().item(),
        "policy/clipfrac_avg": mean("clipfrac"), "policy/approxkl_avg": mean("approx_kl"),
        "policy/entropy_avg": batch.entropy, "policy/entropy_bonus": config.ent_coef * mean("entropy"),
        "loss/policy_avg": mean("loss/policy"), "loss/value_avg": mean("loss/value"),
        "loss/total_avg": mean("loss/total"), "val/ratio": mean("ratio_mean"), "val/clipfrac_avg": mean("vf_clipfrac"),
        "val/explained_variance": explained_variance(batch.values, returns, batch.mask),
        "val/grad_norm": mean("grad_norm"), "val/first_ratio": steps[0]["ratio_mean"],
    }


# ====================================================================== plumbing
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
    from .config import ConfigError

    if not isinstance(config, PPOConfig):
        fix = f"lab.PPOConfig(**{config!r})" if isinstance(config, dict) else "lab.PPOConfig.preset('tiny')"
        raise ConfigError(f"config must be a PPOConfig, not {type(config).__name__}; e.g. {fix}")
    if models is not None and not isinstance(models, Models):
        raise ConfigError(f"models must be the Models that lab.load_models(config) returns, "
                          f"not {type(models).__name__}")


def guarded_iteration(models: Models, optimizer, prompts, config, kl_coef, generator, fns, threshold, progress):
    """`iteration` with an inner progress bar (shown when an iteration takes over 2 s) and the NaN guard:
    any non-finite metric, or sampling from non-finite weights, becomes a NonFiniteError."""
    from tqdm.auto import tqdm

    steps = config.ppo_epochs * (config.batch_size // config.minibatch_size)
    with tqdm(total=1 + steps, desc="Phase I, then Phase II minibatches", delay=2.0, leave=False,
              disable=not progress) as inner:
        try:
            batch, stats = iteration(models, optimizer, prompts, config, kl_coef, generator, fns, threshold,
                                     tick=inner.update)
        except RuntimeError:            # e.g. torch.multinomial on NaN probabilities, whatever the device
            check_weights(models.policy, "the policy")   # NonFiniteError when the weights are the cause
            raise
    check_finite({k: v for k, v in stats.items() if k != "val/explained_variance"})
    return batch, stats


def nan_report(error: Exception, it: int, start: int, done: int, config) -> str:
    """What the learner reads when a run stops on NaN/inf: where, what was kept, and the likely causes."""
    kept = ("the starting weights were restored" if it == start == 0 else
            f"the last good weights (after iteration {it - 1}) were restored")
    causes = []
    if config.temperature < 0.05:
        causes.append(f"temperature={config.temperature} divides the logits by almost 0 (try 0.7–1.0)")
    if "weights" in str(error) or it == start:
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


def seed_everything(seed: int) -> torch.Generator:
    """One seed for Python, torch (sampling) and the minibatch shuffles."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def prompt_pool(tokenizer, config: PPOConfig, prompts: list[str] | None = None) -> list[str]:
    """The held-out review openings that fit `prompt_length` tokens (or the caller's own prompts)."""
    from . import data
    from .config import ConfigError

    if prompts is not None:
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, (list, tuple)):
            raise ConfigError(f"prompts={prompts!r} must be a list of texts, e.g. ['This film was'], "
                              "or None for the held-out reviews")
        if len(prompts) == 0:
            raise ConfigError("prompts=[] is empty; give at least one prompt, or None for the held-out reviews")
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise ConfigError(f"prompts: {p!r} is not a text; valid: a list of non-empty strings")
            n = len(tokenizer(p)["input_ids"])
            if n > config.prompt_length:
                raise ConfigError(f"prompts: {p!r} has {n} tokens; valid: a non-empty text of at most "
                                  f"prompt_length={config.prompt_length} tokens (raise prompt_length or shorten it)")
        return list(prompts)
    pool = data.make_prompts(seed=0)
    lengths = [len(ids) for ids in tokenizer(pool)["input_ids"]]
    fitting = [p for p, n in zip(pool, lengths) if n <= config.prompt_length]
    if not fitting:
        raise ConfigError(f"prompt_length={config.prompt_length}: no held-out prompt is that short (the shortest "
                          f"has {min(lengths)} tokens); valid: prompt_length ≥ {min(lengths)}, e.g. 8")
    return fitting


def ready_to_start(models: Models, config: PPOConfig, prompts: list[str] | None = None) -> list[str]:
    """Everything a run needs, checked before its first iteration; returns the prompt pool.

    (Sweeps call it for every group before training any, so a bad group never costs the others.)
    """
    check_context(models, config)
    check_weights(models.policy, "the starting policy")
    return prompt_pool(models.tokenizer, config, prompts)


def check_context(models: Models, config: PPOConfig) -> None:
    """prompt_length + response_length must fit the policy's context window."""
    from .config import ConfigError

    context = getattr(models.policy.lm.config, "n_positions", None) or models.policy.lm.config.max_position_embeddings
    if config.prompt_length + config.response_length > context:
        raise ConfigError(f"response_length={config.response_length} with prompt_length={config.prompt_length} "
                          f"exceeds the policy's context of {context} tokens; valid: prompt_length + "
                          f"response_length ≤ {context}")


def train(config: PPOConfig | None = None, models: Models | None = None, *, prompts: list[str] | None = None,
          overrides: dict | None = None, progress: bool = True, checkpoint_dir: str | None = None,
          resume: bool = False) -> Run:
    """Align the policy with PPO for `config.iterations` cycles; returns the `Run`.

    `overrides` swaps engine functions for this run, e.g. `{"policy_loss": my_policy_loss}`.
    A NaN/inf stops the run at that iteration and restores the last good weights; stopping the
    cell (KeyboardInterrupt) returns the run up to the last completed iteration. With
    `checkpoint_dir` the whole state is saved after every iteration; `resume=True` continues
    from it and gives exactly the history an uninterrupted run would have.
    """
    from tqdm.auto import tqdm

    config = PPOConfig() if config is None else config
    check_arguments(config, models)
    fns = engine_functions(overrides)
    generator = seed_everything(config.seed)
    models = models or load_models(config)
    pool = ready_to_start(models, config, prompts)
    optimizer = torch.optim.Adam(models.policy.parameters(), lr=config.learning_rate, eps=1e-5)
    run, kl_coef, start = Run(config, models), config.kl_coef, 0
    if checkpoint.resumable(checkpoint_dir, resume):  # also checks checkpoint_dir before any training
        kl_coef, start = restore(run, checkpoint_dir, optimizer, generator)
    threshold = positive_threshold(models.reward_model)
    good_state = copy.deepcopy(models.policy.state_dict())
    bar = tqdm(range(start, config.iterations), desc="PPO", disable=not progress,
               initial=start, total=config.iterations)
    try:
        for it in bar:
            picks = torch.randint(len(pool), (config.batch_size,), generator=generator).tolist()
            try:
                batch, stats = guarded_iteration(models, optimizer, [pool[i] for i in picks], config, kl_coef,
                                                 generator, fns, threshold, progress)
            except NonFiniteError as e:
                models.policy.load_state_dict(good_state)
                return finish(run, nan_report(e, it, start, len(run.history), config))
            good_state = copy.deepcopy(models.policy.state_dict())
            run.history.append({**stats, "iteration": it})
            record_samples(run, batch, it, threshold)
            if config.kl_target is not None:
                kl_coef = kl_penalty.adaptive_kl_coef(kl_coef, stats["objective/kl"], config.kl_target,
                                                   config.kl_horizon, config.batch_size)
            if checkpoint_dir:
                checkpoint.save(checkpoint_dir, models.policy, optimizer, generator,
                                {"iteration": it, "kl_coef": kl_coef, "history": run.history,
                                 "samples": run.samples, "config": config.to_dict()})
            bar.set_postfix(reward=f"{stats['env/reward_mean']:+.2f}", pos=f"{stats['env/fraction_positive']:.2f}",
                            kl=f"{stats['objective/kl']:.1f}")
    except KeyboardInterrupt:
        models.policy.load_state_dict(good_state)
        return finish(run, f"interrupted: the run keeps its {plural(len(run.history), 'completed iteration')} "
                           "(history, samples and the weights after the last one)")
    return finish(run, "finished", quiet=True)


def engine_functions(overrides: dict | None) -> dict:
    """The package's pure functions, with any of them swapped for this run."""
    from .config import ConfigError

    unknown = set(overrides or {}) - set(ENGINE_FUNCTIONS)
    if unknown:
        raise ConfigError(f"overrides: {sorted(unknown)} are not engine functions; valid: {sorted(ENGINE_FUNCTIONS)}")
    return {**ENGINE_FUNCTIONS, **(overrides or {})}


def restore(run: Run, folder: str, optimizer, generator) -> tuple[float, int]:
    """Load a checkpoint into the run; returns (β, first iteration still to do).

    The settings are compared before anything is loaded: a refused resume leaves the models as they were.
    """
    from .config import ConfigError

    state, tensors = checkpoint.read(folder)
    saved = {k: v for k, v in state["config"].items() if k != "iterations"}
    now = {k: v for k, v in run.config.to_dict().items() if k != "iterations"}
    if saved != now:
        changed = sorted(k for k in now if now[k] != saved.get(k))
        raise ConfigError(f"resume: checkpoint_dir={str(folder)!r} was made with other settings ({changed}); "
                          "valid: the same config (only `iterations` may change), or a new checkpoint_dir")
    checkpoint.apply(folder, state, tensors, run.models.policy, optimizer, generator)
    run.history, run.samples = state["history"], state["samples"]
    return state["kl_coef"], state["iteration"] + 1


def finish(run: Run, status: str, quiet: bool = False) -> Run:
    run.status = status
    if not quiet:
        print(status)
    return run


def record_samples(run: Run, batch: Rollout, it: int, threshold: float) -> None:
    """Keep a few completions at the first, every `sample_every`-th and the last iteration.

    "completion" is the text VADER ("gold") scored, end-of-text dropped; "readable" is the same completion
    as a learner should read it, end-of-text shown as ∎ (`rollout.END_MARK`): print that one.
    """
    config = run.config
    if it % config.sample_every and it != config.iterations - 1:
        return
    gold = gold_scores([p + c for p, c in zip(batch.prompts, batch.completions)][:config.num_samples])
    for i in range(min(config.num_samples, len(batch.prompts))):
        run.samples.append({"iteration": it, "prompt": batch.prompts[i], "completion": batch.completions[i],
                            "readable": batch.readable_completions[i],
                            "score": round(batch.scores[i].item(), 4), "gold": gold[i],
                            "positive": bool(batch.scores[i].item() > threshold)})
