"""Seconds per PPO iteration: PPO Lab vs TRL 1.12.0's PPO trainer vs the model-pass floor.

    pip install -r benchmarks/requirements.txt
    python benchmarks/bench_iteration.py [--layers 2 --width 128 --heads 4 --vocab 2048
                                          --batch 64 --prompt-len 16 --response-len 24
                                          --epochs 4 --minibatches 4 --iters 10 --threads 2]

One process, the same randomly initialised GPT-2 weights, the same prompts and settings for all
three. TRL uses its own design (separate value model); PPO Lab its shared-trunk value head. The
floor is one `generate` of the batch, the three inference passes of Phase I (policy + values,
reference, reward model) and epochs × minibatches of forward + backward + Adam step with a bare
loss: the model passes PPO Lab's design cannot avoid. The last line prints the two ratios.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from ppo_lab.build.assets import train_tokenizer
from ppo_lab.config import PPOConfig
from ppo_lab.rl.loop import seed_everything
from ppo_lab.rl.optim import adam
from ppo_lab.rl.ppo import iteration
from ppo_lab.rl.rollout import encode_prompts, generate, position_ids, response_logits
from ppo_lab.rl.update import PPO_FUNCTIONS
from ppo_lab.world import data
from ppo_lab.world.models import Models, PolicyWithValueHead, fuse_gelu


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("layers", 2), ("width", 128), ("heads", 4), ("vocab", 2048), ("batch", 64),
                          ("prompt-len", 16), ("response-len", 24), ("epochs", 4), ("minibatches", 4),
                          ("iters", 10), ("warmup", 2), ("threads", 2)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--gpt2", action="store_true", help="a gpt2-shaped policy (124 M, GPT2Config()), random weights")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--skip-trl", action="store_true", help="time PPO Lab and the floor only")
    return p.parse_args(argv)


def build(args):
    """A tokenizer of the asked vocabulary, prompts of exactly `prompt-len` tokens, and the models."""
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    reviews = data.split("train")[:4000]
    tokenizer = train_tokenizer([r.text for r in reviews], tempfile.mkdtemp(), vocab_size=args.vocab)
    tokenizer.padding_side = "left"
    ids = [x[: args.prompt_len] for x in tokenizer([r.text for r in data.split("held_out")])["input_ids"]]
    prompts = [tokenizer.decode(x[1:]) for x in ids if len(x) == args.prompt_len]
    prompts = [p for p in prompts if len(tokenizer(p)["input_ids"]) == args.prompt_len][: args.batch]
    shape = {} if args.gpt2 else dict(n_layer=args.layers, n_embd=args.width, n_head=args.heads)
    context = max(1024 if args.gpt2 else 128, args.prompt_len + args.response_len)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=context,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, **shape)
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(config).eval()
    reward_config = copy.deepcopy(config).__class__(**{**config.to_dict(), "num_labels": 1})
    reward = GPT2ForSequenceClassification(reward_config).eval()
    return tokenizer, prompts, lm, reward


def timed(fn, warmup, iters, sync) -> list[float]:
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        fn()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def ppo_lab_iteration(args, tokenizer, prompts, lm, reward, device, **changes):
    """One iteration of `trainer.iteration` on `prompts` (each sampled `group_size` times when `changes` ask)."""
    config = PPOConfig(batch_size=args.batch, minibatch_size=args.batch // args.minibatches, ppo_epochs=args.epochs,
                       response_length=args.response_len, prompt_length=args.prompt_len, temperature=1.0,
                       kl_target=None, device="cpu", **changes)
    policy = PolicyWithValueHead(fuse_gelu(copy.deepcopy(lm))).to(device)  # as load_policy does
    models = Models(policy, copy.deepcopy(policy.lm).requires_grad_(False), fuse_gelu(copy.deepcopy(reward)).to(device),
                    tokenizer, tokenizer)
    optimizer = adam(policy.parameters(), config.learning_rate, eps=1e-5)              # as `trainer.train` does
    generator = seed_everything(0)
    return lambda: iteration(models, optimizer, prompts, config, config.kl_coef, generator, PPO_FUNCTIONS)


def floor_iteration(args, tokenizer, prompts, lm, reward, device):
    policy = PolicyWithValueHead(fuse_gelu(copy.deepcopy(lm))).to(device)
    ref, rm = copy.deepcopy(policy.lm), fuse_gelu(copy.deepcopy(reward)).to(device)
    optimizer = adam(policy.parameters(), 1e-5, eps=1e-5)
    L, mb = args.response_len, args.batch // args.minibatches

    def step():
        ids, mask = encode_prompts(tokenizer, prompts, device)
        with torch.inference_mode():
            response = generate(policy.lm, tokenizer, ids, mask, L, 1.0)
            full = torch.cat([ids, response], 1)
            full_mask = torch.cat([mask, torch.ones_like(response)], 1)
            response_logits(policy, full, full_mask, L, 1.0)
            response_logits(ref, full, full_mask, L, 1.0)
            rm(input_ids=full, attention_mask=full_mask, position_ids=position_ids(full_mask))
        full, full_mask, response = full.clone(), full_mask.clone(), response.clone()
        for _ in range(args.epochs):
            for i in range(0, args.batch, mb):
                logits, values = response_logits(policy, full[i:i + mb], full_mask[i:i + mb], L, 1.0)
                loss = logits.gather(-1, response[i:i + mb, :, None]).mean() + values.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return step


def trl_iteration_times(args, tokenizer, prompts, lm, reward, device) -> list[float]:
    """Run TRL's PPOTrainer for warmup + iters updates and read each update's wall time."""
    from datasets import Dataset
    from transformers import GPT2ForSequenceClassification, TrainerCallback
    from trl.experimental.ppo import PPOConfig as TRLConfig, PPOTrainer

    stamps = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            if device.type == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    n = args.warmup + args.iters + 1
    ids = [tokenizer(p)["input_ids"] for p in prompts]
    dataset = Dataset.from_dict({"input_ids": ids})
    value = GPT2ForSequenceClassification(reward.config).eval()
    value.transformer.load_state_dict(lm.transformer.state_dict())  # TRL's design: a separate value model
    out = tempfile.mkdtemp()
    config = TRLConfig(output_dir=out, per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                       num_mini_batches=args.minibatches, num_ppo_epochs=args.epochs, response_length=args.response_len,
                       total_episodes=args.batch * n, local_rollout_forward_batch_size=args.batch, temperature=1.0,
                       kl_coef=0.05, stop_token=None, missing_eos_penalty=None, num_sample_generations=0,
                       report_to=[], save_strategy="no", logging_steps=1000, use_cpu=device.type == "cpu",
                       seed=0, bf16=False, learning_rate=3e-4, dataloader_drop_last=True)
    trainer = PPOTrainer(args=config, processing_class=tokenizer, model=copy.deepcopy(lm),
                         ref_model=copy.deepcopy(lm), reward_model=copy.deepcopy(reward), value_model=value,
                         train_dataset=dataset, callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    stamps = [start] + stamps
    durations = [b - a for a, b in zip(stamps, stamps[1:])]
    return durations[args.warmup: args.warmup + args.iters]


def report(name, times):
    print(f"{name:10s} min {min(times):.3f} s   median {statistics.median(times):.3f} s   ({len(times)} iterations)")
    return statistics.median(times)


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    tokenizer, prompts, lm, reward = build(args)
    print(f"device {device}, threads {args.threads}, policy {sum(p.numel() for p in lm.parameters()) / 1e6:.1f} M "
          f"parameters, batch {len(prompts)} × ({args.prompt_len} + {args.response_len}) tokens, "
          f"{args.epochs} epochs × {args.minibatches} minibatches")
    setup = (args, tokenizer, prompts, lm, reward, device)
    lab = report("PPO Lab", timed(ppo_lab_iteration(*setup), args.warmup, args.iters, sync))
    floor = report("floor", timed(floor_iteration(*setup), args.warmup, args.iters, sync))
    if args.skip_trl:
        print(f"PPO Lab / floor = {lab / floor:.2f}")
        return
    trl = report("TRL 1.12", trl_iteration_times(args, tokenizer, prompts, lm, reward, device))
    print(f"TRL / PPO Lab = {trl / lab:.2f}   PPO Lab / floor = {lab / floor:.2f}")


if __name__ == "__main__":
    main()
