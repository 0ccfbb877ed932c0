"""Seconds per GRPO iteration: PPO Lab vs TRL 1.16's GRPOTrainer vs the model-pass floor.

    pip install -r benchmarks/requirements-grpo.txt
    python benchmarks/bench_grpo.py [--prompts 16 --group 4 --response-len 24 --epochs 4 --minibatches 4
                                     --iters 12 --threads 2]

One process, the same randomly initialised GPT-2 (the shape of `bench_iteration.py`), the same prompts and
settings for all three: `prompts` × G completions per iteration, GRPO's advantages (÷ the group's std), the KL
to the reference in the loss (β = 0.1, k3), sequence-mean aggregation, ε = 0.2, `epochs` × `minibatches`
Adam steps, temperature 1, no vLLM. TRL loads the policy and builds its reference from a folder (it needs a path
for the reference when β > 0); the reward is the same random sequence classifier for both. The floor is
`bench_iteration`'s: one `generate`, the Phase I passes, epochs × minibatches of forward + backward + Adam.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from bench_iteration import build, floor_iteration, parse as parse_shape, ppo_lab_iteration, report, timed

from ppo_lab.config import FAMILY


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("prompts", 16), ("group", 4), ("iters", 12), ("warmup", 2)):
        p.add_argument(f"--{name}", type=int, default=default)
    own, rest = p.parse_known_args(argv)
    args = parse_shape(rest)
    args.iters, args.warmup, args.batch = own.iters, own.warmup, own.prompts * own.group
    args.prompts, args.group = own.prompts, own.group
    return args


def trl_iteration_times(args, tokenizer, prompts, lm, reward) -> list[float]:
    """TRL's GRPOTrainer for warmup + iters generations; one iteration = epochs × minibatches optimiser steps."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            stamps.append(time.perf_counter())

    folder = tempfile.mkdtemp()
    lm.save_pretrained(folder)                       # safetensors; TRL builds its reference from this path
    tokenizer.save_pretrained(folder)
    steps = args.epochs * args.minibatches
    config = GRPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch // args.minibatches,
                        steps_per_generation=args.minibatches, num_iterations=args.epochs, num_generations=args.group,
                        max_completion_length=args.response_len, temperature=1.0, top_k=0, beta=0.1, epsilon=0.2,
                        loss_type="grpo", scale_rewards="group", learning_rate=1e-4, disable_dropout=True,
                        max_steps=(args.warmup + args.iters) * steps, report_to=[], save_strategy="no",
                        logging_steps=1000, use_cpu=True, bf16=False, seed=0, shuffle_dataset=False)
    dataset = Dataset.from_dict({"prompt": prompts * (args.warmup + args.iters + 1)})
    trainer = GRPOTrainer(model=folder, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, reward_processing_classes=tokenizer, callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    ends = [start] + stamps[steps - 1::steps]        # the last optimiser step of each generation
    durations = [b - a for a, b in zip(ends, ends[1:])]
    return durations[args.warmup: args.warmup + args.iters]


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    tokenizer, prompts, lm, reward = build(args)
    prompts = prompts[: args.prompts]
    print(f"threads {args.threads}, policy {sum(p.numel() for p in lm.parameters()) / 1e6:.1f} M parameters, "
          f"{args.prompts} prompts × G = {args.group}, ({args.prompt_len} + {args.response_len}) tokens, "
          f"{args.epochs} epochs × {args.minibatches} minibatches")
    member = {**FAMILY["GRPO"], "group_size": args.group}
    grpo = ppo_lab_iteration(args, tokenizer, prompts, lm, reward, device, **member)
    lab = report("PPO Lab", timed(grpo, args.warmup, args.iters, lambda: None))
    grouped = [p for p in prompts for _ in range(args.group)]
    floor = report("floor", timed(floor_iteration(args, tokenizer, grouped, lm, reward, device), args.warmup,
                                  args.iters, lambda: None))
    trl = report("TRL 1.16", trl_iteration_times(args, tokenizer, prompts, lm, reward))
    print(f"TRL / PPO Lab = {trl / lab:.2f}   PPO Lab / floor = {lab / floor:.2f}")


if __name__ == "__main__":
    main()
