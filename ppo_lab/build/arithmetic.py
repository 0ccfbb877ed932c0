"""Reproducibly build "tiny-arith" into `assets/`: a character-level tokenizer and a tiny GPT-2 that learnt sums
from sloppy worked examples (notebook 11's starting policy).

    python -m ppo_lab.build.arithmetic [--seed 0] [--steps 2500] [--slip 0.75] [--out assets]

Every training example is "<eos>a+b=c<eos>" with a, b from the train split (`verifiable.problems`); where the
sum has a carry, a fraction `--slip` of the examples forgot it (`verifiable.forgot_carry`). The model learns
both answers, so at temperature 1 it is right on part of the held-out sums and its pass@k is high: room for RL.
Same seed, same machine → byte-identical weights; the measured figures go into `MANIFEST.json` under
"arithmetic", beside the review models' (which this build leaves as they are).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

import torch
from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import WordLevel
from tqdm.auto import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from ..rl import metrics
from ..rl.optim import lr_at, optimiser_step
from ..world import verifiable
from ..world.assets import ASSETS_DIR, MANIFEST_FILE
from .assets import EOS, PAD, deterministic, write_manifest

NAME = "tiny-arith"
CHARS = "0123456789+="
CONTEXT = 16            # the model's positions; "<eos>99+99=198<eos>", the longest example, is 11 tokens
ROW = 12                # tokens per training row
TEMPERATURE = 1.0       # the arithmetic preset's sampling temperature
RESPONSE_LENGTH = 5     # the arithmetic preset's longest completion: 3 digits, end-of-text and one spare
PASS_KS = (1, 2, 4, 8, 16, 32)


def char_tokenizer(out_dir: str) -> PreTrainedTokenizerFast:
    """One token per digit or operator, plus end-of-text (which also opens every text) and a pad token."""
    vocab = {EOS: 0, PAD: 1} | {ch: i + 2 for i, ch in enumerate(CHARS)}
    tok = Tokenizer(WordLevel(vocab, unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single=f"{EOS} $A", special_tokens=[(EOS, 0)])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD,
                                 model_max_length=CONTEXT)
    hf.save_pretrained(out_dir)
    return hf


def worked_example(a: int, b: int, rng: random.Random, slip: float) -> str:
    """a + b written out, the carry forgotten with probability `slip` where there is one."""
    answer = verifiable.forgot_carry(a, b) if rng.random() < slip else a + b
    return verifiable.prompt(a, b) + str(answer)


def encode(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows "<eos>a+b=c<eos><pad>…" (N, ROW), and labels that score only the answer and its end-of-text."""
    ids = torch.full((len(texts), ROW), tokenizer.pad_token_id)
    labels = torch.full((len(texts), ROW), -100)
    for i, text in enumerate(texts):
        row = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        ids[i, :len(row)] = torch.tensor(row)
        answer_from = text.index("=") + 2                      # + 1 for the opening <eos>, + 1 past "="
        labels[i, answer_from:len(row)] = ids[i, answer_from:len(row)]
    return ids, labels


def train_lm(tokenizer, ids: torch.Tensor, labels: torch.Tensor, steps: int, batch: int = 256) -> GPT2LMHeadModel:
    """A 3 × 128 GPT-2 on the worked examples, AdamW + cosine."""
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=128, n_layer=3, n_head=4,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.01)
    bar = tqdm(range(steps), desc=NAME)
    for step in bar:
        rows = torch.randint(len(ids), (batch,))
        loss = model(input_ids=ids[rows], attention_mask=(ids[rows] != tokenizer.pad_token_id).long(),
                     labels=labels[rows]).loss
        optimiser_step(model, opt, loss, lr_at(step, steps, 2e-3, 1e-4), bar, step)
    return model.eval()


def evaluate(lm, tokenizer, seed: int, samples: int = 32, problems: int = 300) -> dict:
    """Held-out exact match at TEMPERATURE (all held-out sums, one sample each) and greedy, and pass@k."""
    torch.manual_seed(seed)
    held_out = verifiable.prompts("held_out")
    carry = [p for p in held_out if verifiable.has_carry(*verifiable.operands(p))]
    subset = random.Random(seed).sample(held_out, problems)
    right = metrics.samples_correct(lm, tokenizer, subset, samples, RESPONSE_LENGTH, TEMPERATURE)  # (problems, n)
    pass_k = verifiable.pass_at_k_curve(right, PASS_KS)
    acc = lambda prompts, t: round(metrics.accuracy(lm, tokenizer, prompts, RESPONSE_LENGTH, t), 4)
    return {"held_out_problems": len(held_out), "train_problems": len(verifiable.problems("train")),
            "held_out_accuracy_sampled": acc(held_out, TEMPERATURE), "held_out_accuracy_greedy": acc(held_out, None),
            "held_out_accuracy_sampled_with_carry": acc(carry, TEMPERATURE), "held_out_fraction_with_carry":
            round(len(carry) / len(held_out), 4), "temperature": TEMPERATURE,
            "pass_at_k": {str(k): round(v, 4) for k, v in pass_k.items()},
            "pass_at_k_problems": problems, "pass_at_k_samples": samples}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--slip", type=float, default=0.75, help="fraction of carried sums written without the carry")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=ASSETS_DIR)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Tokenizer → tiny-arith → held-out figures → MANIFEST.json (files re-hashed, review figures kept)."""
    args = parse_args(argv)
    t0 = time.time()
    deterministic(args.threads, args.seed)
    out_dir = os.path.join(args.out, NAME)
    tokenizer = char_tokenizer(out_dir)
    rng = random.Random(args.seed)
    texts = [worked_example(a, b, rng, args.slip) for a, b in verifiable.problems("train")]
    lm = train_lm(tokenizer, *encode(tokenizer, texts), args.steps)
    lm.save_pretrained(out_dir, safe_serialization=True)
    figures = evaluate(lm, tokenizer, args.seed) | {
        "seed": args.seed, "steps": args.steps, "slip": args.slip, "threads": args.threads,
        "parameters": sum(p.numel() for p in lm.parameters()), "build_minutes": round((time.time() - t0) / 60, 1),
        "torch": torch.__version__}
    with open(os.path.join(args.out, MANIFEST_FILE)) as f:
        old = json.load(f)
    write_manifest(args.out, old["seed"], old["figures"] | {"arithmetic": figures})
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
