"""Seconds per DPO step: PPO Lab vs TRL 1.16's DPOTrainer vs the model-pass floor.

    pip install -r benchmarks/requirements-grpo.txt
    python benchmarks/bench_dpo.py [--pairs 16 --prompt-len 16 --response-len 24 --iters 60 --threads 2]

One process, the same randomly initialised GPT-2 (the shape of `bench_iteration.py`), the same preference pairs
(human pairs from the reviews, `data.shared_prompt_pairs`, cut to `prompt-len` + `response-len` tokens) for all
three. One step = the reference's log-probs of `pairs` pairs (no precomputing), the policy's forward pass over
chosen and rejected, the sigmoid DPO loss (β = 0.1), backward, gradient clipping and one Adam step; dropout off.
The floor is the same passes with a bare loss and nothing else: what no DPO implementation can avoid.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from bench_iteration import build, parse as parse_shape, report, timed

from ppo_lab.config import PPOConfig
from ppo_lab.maths import losses
from ppo_lab.rl import dpo
from ppo_lab.rl.optim import adam
from ppo_lab.rl.preference_pairs import Pairs, encode_pairs
from ppo_lab.rl.rollout import position_ids
from ppo_lab.world import data


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("pairs", 16), ("iters", 60), ("warmup", 3)):
        p.add_argument(f"--{name}", type=int, default=default)
    own, rest = p.parse_known_args(argv)
    args = parse_shape(rest)
    args.pairs, args.iters, args.warmup = own.pairs, own.iters, own.warmup
    return args


def preference_data(args, tokenizer) -> tuple[Pairs, list[dict]]:
    """Pairs whose prompts have exactly `prompt-len` tokens and completions `response-len`, as `Pairs` and as the
    text rows TRL reads (decoded from the same ids, so both see the same tokens)."""
    config = PPOConfig(prompt_length=args.prompt_len, response_length=args.response_len)
    rows = [r for r in data.shared_prompt_pairs(data.split("train"))
            if len(tokenizer(r[0])["input_ids"]) <= args.prompt_len]
    pairs = encode_pairs(tokenizer, rows[: (args.warmup + args.iters + 1) * args.pairs], config)
    texts = [{"prompt": t["prompt"], "chosen": t["chosen"], "rejected": t["rejected"]}
             for t in pairs.texts(tokenizer)]
    return pairs, texts


def ppo_lab_step(args, pairs: Pairs, lm):
    """One step of `dpo.dpo_step`, after the reference's log-probs of its pairs."""
    models = SimpleNamespace(policy=SimpleNamespace(lm=lm), ref=copy.deepcopy(lm).requires_grad_(False))
    optimizer, config = adam(lm.parameters(), 1e-4, eps=1e-5), PPOConfig(dpo_beta=0.1)
    batches = iter(range(0, len(pairs), args.pairs))

    def step():
        start = next(batches)
        part = pairs.take(torch.arange(start, start + args.pairs))
        ref = dpo.reference_logps(models, part)
        dpo.dpo_step(models, optimizer, part, ref, torch.arange(args.pairs), config, dpo.DPO_FUNCTIONS)
    return step


def floor_step(args, pairs: Pairs, lm):
    """The passes alone: reference forward (no grad), policy forward over 2 × pairs rows, a bare loss, Adam."""
    ref, optimizer = copy.deepcopy(lm).requires_grad_(False), adam(lm.parameters(), 1e-4, eps=1e-5)
    batches = iter(range(0, len(pairs), args.pairs))

    def logps(model, part):
        ids = torch.cat([part.prompt_ids.repeat(2, 1), torch.cat([part.chosen, part.rejected])], dim=1)
        mask = torch.cat([part.prompt_mask.repeat(2, 1), torch.cat([part.chosen_mask, part.rejected_mask]).long()], 1)
        T, L = ids.shape[1], part.chosen.shape[1]
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                       logits_to_keep=torch.arange(T - L - 1, T - 1), use_cache=False).logits
        return losses.logprobs_from_logits(logits, ids[:, -L:]).sum(1)

    def step():
        start = next(batches)
        part = pairs.take(torch.arange(start, start + args.pairs))
        with torch.no_grad():
            r = logps(ref, part)
        loss = (logps(lm, part) - r).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def trl_step_times(args, tokenizer, texts: list[dict], lm) -> list[float]:
    """TRL's DPOTrainer for warmup + iters steps of `pairs` pairs each; the seconds between step ends."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            stamps.append(time.perf_counter())

    folder = tempfile.mkdtemp()
    lm.save_pretrained(folder)                       # safetensors; TRL builds its reference from this path
    tokenizer.save_pretrained(folder)
    config = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.pairs, beta=0.1,
                       learning_rate=1e-4, max_steps=args.warmup + args.iters, max_length=None,
                       disable_dropout=True, report_to=[], save_strategy="no", logging_steps=1000, use_cpu=True,
                       bf16=False, seed=0, dataloader_drop_last=True)
    trainer = DPOTrainer(model=folder, args=config, train_dataset=Dataset.from_list(texts),
                         processing_class=tokenizer, callbacks=[Clock()])
    trainer.train()
    durations = [b - a for a, b in zip(stamps, stamps[1:])]
    return durations[args.warmup - 1: args.warmup - 1 + args.iters]


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    tokenizer, _, lm, _ = build(args)
    pairs, texts = preference_data(args, tokenizer)
    print(f"threads {args.threads}, policy {sum(p.numel() for p in lm.parameters()) / 1e6:.1f} M parameters, "
          f"{args.pairs} pairs a step, (≤ {args.prompt_len} + ≤ {args.response_len}) tokens, {len(pairs)} pairs")
    lab = report("PPO Lab", timed(ppo_lab_step(args, pairs, copy.deepcopy(lm)), args.warmup, args.iters,
                                  lambda: None))
    floor = report("floor", timed(floor_step(args, pairs, copy.deepcopy(lm)), args.warmup, args.iters,
                                  lambda: None))
    trl = report("TRL 1.16", trl_step_times(args, tokenizer, texts, copy.deepcopy(lm)))
    print(f"TRL / PPO Lab = {trl / lab:.2f}   PPO Lab / floor = {lab / floor:.2f}")


if __name__ == "__main__":
    main()
