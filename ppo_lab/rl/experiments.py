"""Runs over seeds and settings (live ablations, the critic-free family), and before/after comparisons."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math

import numpy as np
import torch

from ..config import FAMILY, ConfigError, PPOConfig
from ..world.data import make_prompts
from ..world.models import Models, load_models
from . import cache, ppo
from .checks import prompt_pool
from .loop import Run, ready_to_start
from .metrics import explained_variance
from .rollout import (
    complete,
    encode_prompts,
    positive_threshold,
    readable,
    reward_scores,
    rollout as rollout_batch,
    sample,
    token_texts,
)

MODEL_FIELDS = ("policy", "reward_model", "device")   # fields that change which models a run starts from
OUTSIDE_TRAINING = "interrupted: before its first iteration (Ctrl-C outside training)"


def interrupted(run: Run) -> bool:
    """True for a run stopped by Ctrl-C (`ppo.train` catches it and says so in `run.status`)."""
    return str(run.status).startswith("interrupted")


def over_seeds(config: PPOConfig, seeds=(0, 1), models: Models | None = None, use_cache: bool = True,
               **train_kwargs) -> list[Run]:
    """The same config trained once per seed, each from a fresh copy of the starting models.

    Finished runs come from the run cache when an identical one was trained before (`ppo_lab.rl.cache`;
    `use_cache=False` or `PPO_LAB_CACHE=off` always trains). Ctrl-C stops here: the interrupted run
    is the last one returned (a Ctrl-C outside training gives a run with no history) and no further
    seed is started.
    """
    configs = [config.replace(seed=s) for s in seeds]          # every seed valid before any training
    base = models or load_models(config)
    start = cache.weights_checksum(base) if use_cache and cache.cache_dir() else None
    runs = []
    for cfg in configs:
        try:
            run = cache.cached_train(cfg, base, use_cache=use_cache, starting_weights=start, **train_kwargs)
        except KeyboardInterrupt:
            run = Run(cfg, base, status=OUTSIDE_TRAINING)
        runs.append(run)
        if interrupted(run):
            break
    return runs


def ablation_configs(config: PPOConfig, field: str, values, seeds=(0, 1)) -> dict[str, PPOConfig]:
    """{"field=value": config} for every value, all validated (with every seed) before anything trains."""
    if field == "seed":
        raise ConfigError(f"ablation(field='seed', values={list(values)!r}): seeds are set with seeds=(…), "
                          "not ablated; valid: another config field, e.g. "
                          "ablation(config, 'clip_eps', [0.1, 0.2], seeds=(3, 4))")
    if not len(seeds):
        raise ConfigError(f"ablation: seeds={seeds!r} is empty; valid: at least one seed, e.g. seeds=(0, 1)")
    if field not in config.to_dict():
        raise ConfigError(f"ablation: field={field!r} is not a config field; valid: {', '.join(config.to_dict())}")
    configs = {}
    for value in values:
        name = f"{field}={value}"
        if name in configs:
            raise ConfigError(f"ablation: {name} is listed twice in values={list(values)!r}; give each value once")
        configs[name] = config.replace(**{field: value})
        for seed in seeds:
            configs[name].replace(seed=seed)
    return configs


def ablation_models(config: PPOConfig, field: str, configs: dict[str, PPOConfig]) -> dict[str, Models]:
    """The starting models of each group: loaded once, or once per distinct model/device setting."""
    if field not in MODEL_FIELDS:
        base = load_models(config)
        return {name: base for name in configs}
    loaded = {}
    for cfg in configs.values():
        key = (cfg.policy, cfg.reward_model, cfg.device)
        if key not in loaded:
            loaded[key] = load_models(cfg)        # a missing model or an absent GPU fails here, before training
    return {name: loaded[(cfg.policy, cfg.reward_model, cfg.device)] for name, cfg in configs.items()}


def ablation(config: PPOConfig, field: str, values, seeds=(0, 1), use_cache: bool = True,
             **train_kwargs) -> dict[str, list[Run]]:
    """One group of runs per value of a config field: {"field=value": [runs over seeds]}.

    Every value, seed and model load is checked before the first run trains; `policy`, `reward_model`
    and `device` groups each start from their own models. Ctrl-C stops the ablation: it returns the
    groups trained so far (the last one may hold an interrupted run) and prints which are missing.
    """
    configs = ablation_configs(config, field, values, seeds)
    models = ablation_models(config, field, configs)
    for name, cfg in configs.items():             # context, weights, prompts: a bad group fails before any run
        ready_to_start(models[name], cfg, train_kwargs.get("prompts"))
    groups = {}
    for name, cfg in configs.items():
        try:
            groups[name] = over_seeds(cfg, seeds, models[name], use_cache, **train_kwargs)
        except KeyboardInterrupt:                 # e.g. while hashing the starting weights
            groups[name] = [Run(cfg.replace(seed=seeds[0]), models[name], status=OUTSIDE_TRAINING)]
        if any(interrupted(r) for r in groups[name]) or len(groups[name]) < len(seeds):
            missing = [n for n in configs if n not in groups]
            print(f"ablation interrupted during {name}; not trained: {', '.join(missing) or 'none'}")
            break
    return groups


@torch.inference_mode()
def before_after(run: Run, prompts: list[str] | int, seed: int = 0) -> list[dict]:
    """The same prompts (or that many held-out openings, `make_prompts(n, seed=seed)`) completed by the starting
    model (the frozen reference) and by the aligned policy, each with the sampling seed `seed`."""
    if isinstance(prompts, int):
        prompts = make_prompts(prompts, seed=seed)
    m, cfg = run.models, run.config
    rows = [{"prompt": p} for p in prompts]
    for name, lm in (("before", m.ref), ("after", m.policy.lm)):
        torch.manual_seed(seed)
        texts, shown = completed(lm, m.tokenizer, prompts, cfg)
        full = [p + t for p, t in zip(prompts, texts)]
        ids, mask = encode_prompts(m.tokenizer, full, lm.device)
        scores = reward_scores(m.reward_model, m.reward_tokenizer, m.tokenizer, ids, mask, full)
        for row, text, seen, score in zip(rows, texts, shown, scores.tolist()):
            row[name], row[f"{name}_readable"], row[f"{name}_score"] = text, seen, round(score, 2)
    threshold = positive_threshold(m.reward_model)
    for row in rows:
        row["flipped"] = row["before_score"] <= threshold < row["after_score"]
    return rows


def completed(lm, tokenizer, prompts: list[str], config: PPOConfig) -> tuple[list[str], list[str]]:
    """Each prompt's completion as the metrics read it and as a learner reads it (end-of-text as ∎): the whole
    `response_length`, or up to the first end-of-text with `config.stop_at_eos`."""
    if config.stop_at_eos:
        texts = complete(lm, tokenizer, prompts, config.response_length, config.temperature)
        return texts, texts
    texts, full = sample(lm, tokenizer, prompts, config.response_length, config.temperature)
    return texts, readable([f[-config.response_length:] for f in full], tokenizer)


def inspect_rollout(models: Models, config: PPOConfig, prompts: list[str] | int, seed: int = 0) -> dict:
    """One Phase I batch with its per-token rewards, values, advantages and returns, for plots and for the
    terms of the objective (`update.objective_terms`), and how much of the returns' variance the values explain.

    `prompts`: the prompts to complete, or a number n: the first n prompts of the training pool. Tokens come
    back as strings, one list per completion; tensors are (B, L).
    """
    if isinstance(prompts, int):
        prompts = prompt_pool(models.tokenizer, config)[:prompts]
    torch.manual_seed(seed)
    batch = rollout_batch(models, prompts, config)
    r, advantages, returns, kl = ppo.rewards_and_advantages(batch, config, config.kl_coef, ppo.PPO_FUNCTIONS)
    tokens = token_texts(batch.response, models.tokenizer)
    return {"batch": batch, "tokens": tokens, "rewards": r, "values": batch.values, "advantages": advantages,
            "returns": returns, "kl": kl, "explained_variance": explained_variance(batch.values, returns, batch.mask)}


# ------------------------------------------------------------------ the critic-free family (notebook 09)
BASELINES = {"gae": "V(s_t): a learned value head (the critic)", "reinforce": "none: the score itself",
             "rloo": "the mean of the other G − 1 completions", "grpo": "the group's mean"}


def family(config: PPOConfig, seeds=(0, 1), models: Models | None = None, names=None,
           **train_kwargs) -> dict[str, list[Run]]:
    """Each member of `config.FAMILY` (or those in `names`) trained over `seeds`: {member: runs}, the same
    completions per iteration for all (`batch_size`: G per prompt, batch_size / G prompts)."""
    members = {name: config.replace(**FAMILY[name]) for name in (names or FAMILY)}   # all valid before training
    base = models or load_models(config)
    return {name: over_seeds(cfg, seeds, base, **train_kwargs) for name, cfg in members.items()}


def family_table(config: PPOConfig) -> list[dict]:
    """One row per member of the family, read from the configs themselves: what each one changes."""
    rows = []
    for name, changes in FAMILY.items():
        c = config.replace(**changes)
        scaled = " ÷ its std" if c.advantage_estimator == "grpo" and c.scale_rewards else ""
        rows.append({"member": name, "advantage_estimator": c.advantage_estimator,
                     "baseline": BASELINES[c.advantage_estimator] + scaled,
                     "critic": "value head" if c.has_critic else "none", "G": c.group_size,
                     "clip ε": c.clip_eps, "KL goes in": f"the {c.kl_in} ({c.kl_estimator})",
                     "loss_aggregation": c.loss_aggregation})
    return rows


@contextlib.contextmanager
def saved_activation_bytes():
    """Counts the bytes of every tensor autograd keeps for a backward pass inside the block, weights excluded
    (each saved tensor counted once per save): {"bytes": n}, filled as the block runs."""
    total = {"bytes": 0}

    def pack(t):
        if not (t.is_leaf and t.requires_grad):                      # an activation, not a weight
            total["bytes"] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield total


def iteration_cost(config: PPOConfig, models: Models, names=None, repeats: int = 2) -> dict[str, dict]:
    """What one iteration costs each member of the family, measured: its seconds (the fastest of `repeats`, the
    members interleaved so a busy machine slows them alike) and the megabytes of activations autograd keeps for
    one minibatch's backward pass."""
    names = list(names or FAMILY)
    cost = {name: {"seconds": math.inf, "activation MB per minibatch": 0.0} for name in names}
    for _ in range(repeats):
        for name in names:
            cfg = config.replace(**FAMILY[name], iterations=1)
            with saved_activation_bytes() as saved:
                run = ppo.train(cfg, copy.deepcopy(models), progress=False)
            minibatches = cfg.ppo_epochs * (cfg.batch_size // cfg.minibatch_size)
            cost[name]["seconds"] = min(cost[name]["seconds"], run.history[0]["time/iteration"])
            cost[name]["activation MB per minibatch"] = saved["bytes"] / minibatches / 1e6
    return cost



# ------------------------------------------------------------------ seconds on one clock (notebooks 09–11)
AS_TRAINED = "time/iteration (as trained)"


def logged_seconds(run: Run, iterations: int) -> float:
    """The seconds `run` logged, as it trained, for the iterations `retimed_seconds` trains again."""
    n = min(len(run.history), 1 + iterations)
    logged = [h.get(AS_TRAINED, h["time/iteration"]) for h in run.history]
    return sum(logged[1:n] if n > 1 else logged[:1])


def retimed_seconds(run: Run, models: Models, iterations: int) -> float:
    """The seconds, now, of the iterations `logged_seconds` reads: the run's first 1 + `iterations` iterations
    trained again from `models` (never from the cache), the first left out (its one-off warm-up)."""
    n = min(len(run.history), 1 + iterations)
    fresh = cache.cached_train(run.config.replace(iterations=n), models, use_cache=False, method=run.method,
                               progress=False).metric("time/iteration")
    return sum(fresh[1:n] if n > 1 else fresh[:1])


def timed_together(groups: dict[str, list[Run]], models: Models, iterations: int = 1,
                   repeats: int = 2) -> dict[str, list[Run]]:
    """The same runs with their seconds on one clock, for figures and tables against wall-clock time.

    A run's `time/iteration` is what it took when it trained: a run from the run cache may have trained an hour
    ago under another load, or on another machine. Here each group's first run trains its first iterations again
    (`retimed_seconds`), the groups interleaved and the fastest of `repeats` kept, so all are timed now, side by
    side; each run of the group is scaled by (those seconds now) / (the same iterations' seconds it logged), its
    seeds assumed to cost alike per iteration. Returns copies (the runs given, and the cache, are left as they
    were) whose `time/iteration` is this clock's; the logged seconds stay under "time/iteration (as trained)"."""
    empty = [label for label, runs in groups.items() if not runs or not all(r.history for r in runs)]
    if not groups or empty:
        raise ValueError(f"timed_together: groups={list(groups)}, of which {empty} hold no run or one with no "
                         "iteration; valid: at least one group, each of runs of one iteration or more")
    now = {label: math.inf for label in groups}
    for _ in range(max(1, repeats)):
        for label, runs in groups.items():
            now[label] = min(now[label], retimed_seconds(runs[0], models, iterations))
    return {label: [rescaled(r, now[label] / logged_seconds(r, iterations)) for r in runs]
            for label, runs in groups.items()}


def rescaled(run: Run, factor: float) -> Run:
    """A copy of `run` whose `time/iteration` is `factor` × the seconds it logged when it trained."""
    history = []
    for h in run.history:
        trained = h.get(AS_TRAINED, h["time/iteration"])
        history.append({**h, AS_TRAINED: trained, "time/iteration": trained * factor})
    return dataclasses.replace(run, history=history)


# ------------------------------------------------------------------ what a bigger policy costs (notebook 08)
def memory_gb(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset (CUDA), or the resident memory of this whole process (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    try:
        import psutil  # here: only this measurement needs it
    except ImportError:                                     # the process's peak instead (kB on Linux)
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return psutil.Process().memory_info().rss / 1e9


def cost_by_model(bundles: dict[str, tuple[PPOConfig, Models]],
                  progress: bool = True) -> tuple[dict[str, Run], dict[str, dict[str, float]]]:
    """Each (config, models) pair trained in place, in order, and what one PPO iteration cost it (notebook 08).

    Per name: the parameters N of the policy's LM, the seconds per iteration of Phase I, Phase II and the whole
    (means over the iterations after the first, whose one-off warm-up they leave out; the only one if there is
    one), the arithmetic memory of fp32 weights + gradients + Adam's two moments (16N bytes) and of the frozen
    reference (4N), one minibatch's logits (b · (L + 1) · V · 4 bytes), and the memory measured after its run:
    peak GPU memory on CUDA (reset before each run), else the process's resident memory.
    Returns ({name: run}, {name: {measure: value}}).
    """
    if not bundles:
        raise ConfigError("cost_by_model: bundles={} is empty; valid: {name: (config, models)}, at least one pair")
    runs, measured = {}, {}
    for name, pair in bundles.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], PPOConfig)
                and isinstance(pair[1], Models)):
            raise ConfigError(f"cost_by_model: bundles[{name!r}] is {type(pair).__name__}, not a (PPOConfig, "
                              "Models) pair; valid: e.g. {'tiny': (config, lab.load_models(config))}")
        config, models = pair
        device = models.policy.device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        runs[name] = run = ppo.train(config, models, progress=progress)
        later = run.history[1:] or run.history                       # the first cycle includes one-off warm-up
        n, vocab = sum(p.numel() for p in models.policy.lm.parameters()), models.policy.lm.config.vocab_size
        mean = {key: sum(h[key] for h in later) / max(len(later), 1) for key in
                ("time/rollout", "time/update", "time/iteration")}
        measured[name] = {
            "parameters (M)": n / 1e6, "Phase I s/iteration": mean["time/rollout"],
            "Phase II s/iteration": mean["time/update"], "s/iteration": mean["time/iteration"],
            "policy + Adam GB (16N)": 16 * n / 1e9, "reference GB (4N)": 4 * n / 1e9,
            "logits of a minibatch GB": config.minibatch_size * (config.response_length + 1) * vocab * 4 / 1e9,
            ("peak GPU memory GB" if device.type == "cuda" else "process memory GB"): memory_gb(device)}
    return runs, measured




# ------------------------------------------------------------------ runs judged at their evaluations (notebook 11)
def eval_points(run: Run, metric: str = "env/accuracy", start: float | None = None) -> tuple[list, list, list]:
    """(updates done, seconds of training, values) at each evaluation of a run; with `start`, a first point at
    0 updates and 0 s (the starting model's value). `env/accuracy` at iteration t is measured after t's update."""
    iterations, values = run.evaluations(metric)
    seconds = torch.tensor(run.metric("time/iteration"), dtype=torch.float64).cumsum(0).tolist()  # (iterations,)
    updates, times = [i + 1 for i in iterations], [seconds[i] for i in iterations]
    if start is not None:
        updates, times, values = [0] + updates, [0.0] + times, [start] + list(values)
    return updates, times, list(values)


@dataclasses.dataclass(frozen=True)
class Spread:
    """One number over seeds: their mean and half their min–max spread, shown as "0.823 ± 0.030" ("—": not
    logged by these runs)."""

    mean: float
    half: float

    @classmethod
    def of(cls, values) -> Spread:
        """The spread of a list of numbers, one per seed (NaN ones mean "not logged": all NaN gives NaN)."""
        kept = [v for v in values if not math.isnan(v)]
        return cls(sum(kept) / len(kept), (max(kept) - min(kept)) / 2) if kept else cls(math.nan, math.nan)

    def __repr__(self) -> str:
        if math.isnan(self.mean):
            return "—"
        digits = 3 if abs(self.mean) < 1 else 1
        return f"{self.mean:.{digits}f} ± {self.half:.{digits}f}"

    __str__ = __repr__


def logged_mean(run: Run, metric: str) -> float:
    """A metric's mean over the iterations that logged it (NaN if none did: `env/zero_std_groups` without groups)."""
    values = run.evaluations(metric)[1]
    return sum(values) / len(values) if values else math.nan


def eval_summary(groups: dict[str, list[Run]], start: float | None = None) -> dict[str, dict[str, Spread]]:
    """Each group of runs over seeds in numbers, each a `Spread` over its seeds: held-out accuracy (sampled, and
    greedy) at the end; its gain over `start` in points (given a start); the seconds of training; the mean
    accuracy over the evaluations (ahead per update); the accuracy at equal seconds, interpolated at the seconds
    of training the quickest run of all took (ahead per second); and the groups with no signal, trained on and
    sampled (dynamic sampling), mean over iterations. A column no run logged is left out."""
    unevaluated = [name for name, runs in groups.items() if not runs or not all(r.evaluations("env/accuracy")[0]
                                                                                 for r in runs)]
    if not groups or unevaluated:
        raise ValueError(f"eval_summary: groups={list(groups)}, of which {unevaluated} hold no run or a run never "
                         "evaluated; valid: at least one group, each of runs with env/accuracy logged at least once")
    quickest = min(sum(r.metric("time/iteration")) for runs in groups.values() for r in runs)
    table = {}
    for name, runs in groups.items():
        finals = [r.evaluations("env/accuracy")[1][-1] for r in runs]
        columns = {
            "held-out accuracy (end)": finals,
            "greedy (end)": [r.evaluations("env/accuracy_greedy")[1][-1] for r in runs],
            "gain (points)": [100 * (a - start) for a in finals] if start is not None else [math.nan],
            "seconds of training": [sum(r.metric("time/iteration")) for r in runs],
            "mean accuracy over the evaluations": [logged_mean(r, "env/accuracy") for r in runs],
            "accuracy at equal seconds": [float(np.interp(quickest, *eval_points(r)[1:])) for r in runs],
            "groups with no signal": [logged_mean(r, "env/zero_std_groups") for r in runs],
            "sampled groups with no signal": [logged_mean(r, "env/zero_std_groups_sampled") for r in runs]}
        table[name] = {column: Spread.of(values) for column, values in columns.items()}
    logged = [c for c in next(iter(table.values())) if any(not math.isnan(t[c].mean) for t in table.values())]
    return {name: {c: row[c] for c in logged} for name, row in table.items()}


__all__ = ["ablation", "ablation_configs", "ablation_models", "BASELINES", "before_after", "completed",
           "cost_by_model", "eval_points", "eval_summary", "family", "family_table", "inspect_rollout", "interrupted",
           "iteration_cost", "logged_mean", "memory_gb", "MODEL_FIELDS", "OUTSIDE_TRAINING", "over_seeds",
           "logged_seconds", "rescaled", "retimed_seconds", "saved_activation_bytes", "Spread", "timed_together",
           "AS_TRAINED"]
