"""Reproducibly train the bundled tokenizer, tiny GPT-2 and tiny reward model into `assets/`.

    python -m ppo_lab.build.assets [--seed 0] [--lm-steps 1800] [--rm-steps 3200] [--reuse-lm] [--out assets]

Learners never need to run this: the assets ship with the course. Same seed, same machine →
byte-identical weights. The figures the build measured go into `assets/MANIFEST.json`.
"""
from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # deterministic tokenizer training
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import random
import time

import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from tqdm.auto import tqdm
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

from ..rl.optim import lr_at, optimiser_step
from ..rl.reward_model import encode_pairs, reward_model_from_lm, train_reward
from ..world import data
from ..world.assets import ASSETS_DIR, MANIFEST_FILE, sha256
from .evaluate import CONTEXT, evaluate, pack

VOCAB = 4096          # byte-level BPE vocabulary
EOS, PAD = "<|endoftext|>", "<|pad|>"


# ---------------------------------------------------------------- tokenizer
def train_tokenizer(texts: list[str], out_dir: str, vocab_size: int = VOCAB):
    """Byte-level BPE (GPT-2's scheme) with a dedicated pad token, saved for AutoTokenizer."""
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    # every text starts with <|endoftext|>, as every training document does
    tok.post_processor = processors.TemplateProcessing(single=f"{EOS} $A", pair=f"{EOS} $A {EOS} $B",
                                                       special_tokens=[(EOS, tok.token_to_id(EOS))])
    hf = GPT2TokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD,
                           model_max_length=CONTEXT)
    hf.save_pretrained(out_dir)
    return hf


# ---------------------------------------------------------------- language model
def train_lm(tokenizer, openers: torch.Tensor, pieces: torch.Tensor, steps: int, batch: int = 64):
    """A 4 × 192 GPT-2, half openers and half later pieces in every batch, AdamW + cosine."""
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=192, n_layer=4, n_head=6,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    half = batch // 2
    bar = tqdm(range(steps), desc="tiny-gpt2")
    for step in bar:
        rows = torch.cat([openers[torch.randint(len(openers), (half,))],
                          pieces[torch.randint(len(pieces), (half,))]])  # (batch, CONTEXT)
        loss = model(input_ids=rows, labels=rows).loss
        optimiser_step(model, opt, loss, lr_at(step, steps, 1e-3, 1e-4), bar, step)
    return model.eval()


# ---------------------------------------------------------------- the build
def write_manifest(out: str, seed: int, figures: dict) -> dict:
    """Every file under `out` with its sha256, and the build's figures; the other build's figures are kept
    (the review models' build keeps "arithmetic", which `build.arithmetic` writes)."""
    manifest_path = os.path.join(out, MANIFEST_FILE)
    if "arithmetic" not in figures and os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            figures = figures | {k: v for k, v in json.load(f)["figures"].items() if k == "arithmetic"}
    files = {}
    for root, _, names in os.walk(out):
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out)
            if rel != MANIFEST_FILE:
                files[rel] = {"sha256": sha256(path), "bytes": os.path.getsize(path)}
    manifest = {"seed": seed, "files": dict(sorted(files.items())), "figures": figures}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def reuse_lm(args, lm_dir: str):
    """The tokenizer and LM a previous build of the same seed and --lm-steps left in --out."""
    with open(os.path.join(args.out, MANIFEST_FILE)) as f:
        old = json.load(f)
    if old["seed"] != args.seed or old["figures"]["lm_steps"] != args.lm_steps:
        raise SystemExit(f"--reuse-lm: {args.out} was built with seed {old['seed']} and "
                         f"{old['figures']['lm_steps']} LM steps, not {args.seed} and {args.lm_steps}")
    lm = GPT2LMHeadModel.from_pretrained(lm_dir, use_safetensors=True).eval()
    return AutoTokenizer.from_pretrained(lm_dir), lm, old["figures"]["lm_train_minutes"]


def deterministic(threads: int, seed: int) -> None:
    """Every build starts here: same seed, machine and thread count → byte-identical weights."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lm-steps", type=int, default=1800)
    p.add_argument("--rm-steps", type=int, default=3200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse-lm", action="store_true",
                   help="keep the tokenizer and tiny-gpt2 already in --out (same seed and --lm-steps) and rebuild "
                        "only the reward model")
    p.add_argument("--out", default=ASSETS_DIR)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Tokenizer → tiny-gpt2 → tiny-reward (trained, then measured and normalised) → MANIFEST.json."""
    args = parse_args(argv)
    t0 = time.time()
    deterministic(args.threads, args.seed)
    train, held_out = data.split("train"), data.split("held_out")
    openers, pieces = data.lm_documents(train, seed=args.seed)
    tok_dir, lm_dir, rm_dir = (os.path.join(args.out, d) for d in ("tokenizer", "tiny-gpt2", "tiny-reward"))
    if args.reuse_lm:
        tokenizer, lm, lm_minutes = reuse_lm(args, lm_dir)
    else:
        tokenizer = train_tokenizer(openers + pieces, tok_dir)
        lm = train_lm(tokenizer, pack(tokenizer, openers), pack(tokenizer, pieces), args.lm_steps)
        lm_minutes = (time.time() - t0) / 60
    t_lm = time.time()
    pairs = encode_pairs(tokenizer, data.preference_pairs(train, seed=args.seed))
    torch.manual_seed(args.seed + 1)  # each stage seeded on its own, so a stage can be rerun alone
    rm = train_reward(reward_model_from_lm(lm), tokenizer, pairs, args.rm_steps, args.seed, desc="tiny-reward")
    figures = evaluate(tokenizer, lm, rm, held_out, seed=args.seed)  # also normalises rm
    for d, model in ((lm_dir, lm), (rm_dir, rm)):
        model.save_pretrained(d, safe_serialization=True)
        tokenizer.save_pretrained(d)
    figures.update(build_minutes=round(lm_minutes + (time.time() - t_lm) / 60, 1),
                   lm_train_minutes=round(lm_minutes, 1), threads=args.threads, lm_steps=args.lm_steps,
                   rm_steps=args.rm_steps, lm_parameters=sum(p.numel() for p in lm.parameters()),
                   rm_parameters=sum(p.numel() for p in rm.parameters()),
                   torch=torch.__version__)
    manifest = write_manifest(args.out, args.seed, figures)
    print(json.dumps(manifest["figures"], indent=2))
    return manifest


if __name__ == "__main__":
    main()
