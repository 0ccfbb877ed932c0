"""Seconds per PPO iteration, per phase, tokens per second and peak memory, fp32 and bf16, at the `gpt2` batch.

    python benchmarks/bench_gpu.py --device cuda                       # both models, fp32 and bf16
    python benchmarks/bench_gpu.py --device cpu --models tiny --iterations 1 --warmup 1   # a smoke check

Each model × precision runs `trainer.iteration` (what `lab.train` runs each cycle) at the `gpt2` preset's
geometry: 64 prompts of ≤ 16 tokens, 48 response tokens, 4 epochs × minibatches of 16, the bundled
`tiny-reward` as the judge. Models: `tiny` (the bundled tiny-gpt2, 2.6 M parameters) and `gpt2-shape`
(`models_from_config(GPT2Config())`: gpt2's 124 M shape, random weights, the bundled tokenizer, no download).
Precisions: `fp32` (TF32 as torch's default leaves it: off) and `bf16` (`PPOConfig.bf16`: the model passes under
bfloat16 autocast; log π, ratio, KL and losses in fp32).

Per iteration: wall seconds of the whole `iteration` call (synchronised), Phase I and Phase II seconds as the
trainer logs them (`time/rollout`: sampling, the three scoring passes, rewards and advantages; `time/update`:
every minibatch's forward, backward and Adam step; both end on a `.item()`, which waits for the GPU). Tokens per
second: generated tokens (B·L) per Phase I second; tokens through forward + backward (epochs·B·(P + L)) per
Phase II second. Peak memory: `torch.cuda.max_memory_allocated` over the measured iterations on CUDA; on CPU the
process's peak resident set size (RSS, since it started: it includes every model loaded before). Medians over the
measured iterations. Target: the 124 M shape at ≤ 1.5 s per iteration on one H100, in fp32 and in bf16.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from ppo_lab.config import PPOConfig
from ppo_lab.rl.loop import draw_prompts, ready_to_start, seed_everything
from ppo_lab.rl.optim import adam
from ppo_lab.rl.ppo import iteration
from ppo_lab.rl.update import PPO_FUNCTIONS
from ppo_lab.world.models import load_models, models_from_config

MODELS = ("tiny", "gpt2-shape")
PRECISIONS = ("fp32", "bf16")
GEOMETRY = ("batch_size", "minibatch_size", "ppo_epochs", "prompt_length", "response_length", "temperature")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--iterations", type=int, default=5, help="measured iterations per model × precision")
    p.add_argument("--warmup", type=int, default=2, help="iterations run first and not measured")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--precision", default=",".join(PRECISIONS), help=f"comma-separated, of {', '.join(PRECISIONS)}")
    p.add_argument("--out", default="bench_gpu_results.json", help="JSON file the results are written to")
    args = p.parse_args(argv)
    args.models, args.precision = args.models.split(","), args.precision.split(",")
    for given, valid, flag in ((args.models, MODELS, "--models"), (args.precision, PRECISIONS, "--precision")):
        if set(given) - set(valid):
            p.error(f"{flag}: {sorted(set(given) - set(valid))} unknown; valid: {', '.join(valid)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but no CUDA GPU is available here; use --device cpu for a smoke check")
    return args


def config_for(model: str, device: str, precision: str) -> PPOConfig:
    """The `gpt2` preset's geometry and settings, on the bundled judge (and the bundled policy for `tiny`)."""
    policy = "tiny-gpt2" if model == "tiny" else "gpt2"
    return PPOConfig.preset("gpt2", policy=policy, reward_model="tiny-reward", device=device,
                            bf16=precision == "bf16")


def build(model: str, config: PPOConfig):
    """The models of a run: the bundled ones, or gpt2's 124 M shape with random weights (as notebook 08)."""
    if model == "tiny":
        return load_models(config)
    from transformers import GPT2Config

    return models_from_config(GPT2Config(), device=config.device, reward_model=config.reward_model,
                              seed=config.seed)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(model: str, precision: str, args) -> dict:
    """Warm-up, then measured iterations of one model × precision; the per-iteration figures and their medians."""
    config = config_for(model, args.device, precision)
    models = build(model, config)
    generator = seed_everything(config.seed)
    pool = ready_to_start(models, config)
    optimizer = adam(models.policy.parameters(), config.learning_rate, eps=1e-5)     # as `trainer.train` does
    rows = []
    for i in range(args.warmup + args.iterations):
        if i == args.warmup and args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sync(args.device)
        t0 = time.perf_counter()
        batch, stats = iteration(models, optimizer, draw_prompts(pool, config, generator), config, config.kl_coef,
                                 generator, PPO_FUNCTIONS)
        sync(args.device)
        if i >= args.warmup:
            rows.append(iteration_figures(time.perf_counter() - t0, stats, batch.ids.shape[1], config))
    parameters = sum(p.numel() for p in models.policy.parameters())
    del models, optimizer
    return summary(model, precision, parameters, rows, args.device)


def iteration_figures(seconds: float, stats: dict, sequence: int, config: PPOConfig) -> dict:
    """One iteration's seconds and tokens per second; `sequence` = P + L, the width of the rollout's rows."""
    B, L = config.batch_size, config.response_length
    return {"iteration_s": seconds, "phase1_s": stats["time/rollout"], "phase2_s": stats["time/update"],
            "phase1_generated_tok_per_s": B * L / stats["time/rollout"],
            "phase2_fwd_bwd_tok_per_s": config.ppo_epochs * B * sequence / stats["time/update"]}


def summary(model: str, precision: str, parameters: int, rows: list[dict], device: str) -> dict:
    """Medians of the measured iterations, the peak memory, and every iteration's figures."""
    if device == "cuda":
        peak = {"peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
        torch.cuda.empty_cache()
    else:   # Linux reports ru_maxrss in KiB
        peak = {"peak_memory_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "peak_memory_kind": "peak RSS of the whole process so far (resource.getrusage)"}
    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {"model": model, "precision": precision, "parameters": parameters, **medians, **peak,
            "measured_iterations": rows}


def environment(device: str) -> dict:
    """What the figures were measured on."""
    name = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    return {"device": device, "device_name": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else its architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return f"{platform.machine()} CPU"


def table(results: list[dict], memory_kind: str) -> str:
    head = (f"{'model':11s} {'precision':9s} {'s/iter':>7s} {'phase I s':>9s} {'phase II s':>10s} "
            f"{'gen tok/s':>10s} {'fwd+bwd tok/s':>13s} {'peak GiB':>8s}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['model']:11s} {r['precision']:9s} {r['iteration_s']:7.3f} {r['phase1_s']:9.3f} "
                     f"{r['phase2_s']:10.3f} {r['phase1_generated_tok_per_s']:10.0f} "
                     f"{r['phase2_fwd_bwd_tok_per_s']:13.0f} {r['peak_memory_gib']:8.2f}")
    return "\n".join(lines + [f"(medians; peak memory: {memory_kind})"])


def main(argv=None):
    args = parse(argv)
    env = environment(args.device)
    geometry = config_for("tiny", args.device, "fp32")
    print(f"{env['device_name']}, torch {env['torch']}, {env['threads']} threads; batch {geometry.batch_size} × "
          f"(≤ {geometry.prompt_length} + {geometry.response_length}) tokens, {geometry.ppo_epochs} epochs × "
          f"minibatches of {geometry.minibatch_size}; {args.warmup} warm-up + {args.iterations} measured iterations")
    results = [measure(m, p, args) for m in args.models for p in args.precision]
    print(table(results, results[0]["peak_memory_kind"]))
    print("target: gpt2-shape ≤ 1.5 s per iteration on one H100, fp32 and bf16")
    with open(args.out, "w") as f:
        json.dump({**env, "warmup": args.warmup, "target_s_per_iteration_124m_h100": 1.5,
                   "geometry": {k: getattr(geometry, k) for k in GEOMETRY}, "results": results}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
