"""The exercises of notebook 08: gpt2 on a GPU — memory by hand, and TRL's batch arguments.

Content only (questions, checkers, hints, solutions, known slips); `exercises` checks the answers.
"""
from __future__ import annotations

from .base import Exercise, close


def _trl_batch_args_ok(fn) -> bool:
    """TRL 1.16's GRPOConfig, one GPU, no accumulation: an optimiser step takes per_device_train_batch_size
    completions (our minibatch), and one generation feeds steps_per_generation of them (our rollout)."""
    for batch, mini in ((64, 16), (64, 64), (32, 8), (12, 4), (96, 24)):
        args = fn(batch, mini)
        p, g, s = (args[k] for k in ("per_device_train_batch_size", "gradient_accumulation_steps",
                                     "steps_per_generation"))
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (p, g, s)):
            return False
        if not (g == 1 and p == mini and s * p == batch):
            return False
    return True


# 08.adam_gb: wrong numbers of bytes per parameter, or the wrong unit, for gpt2-xl's N parameters
_N_XL = 1_557_611_200
_ADAM_SLIPS = (
    (close(4 * _N_XL / 1e9, 0.05), ("That is 4N bytes, the weights alone; training also keeps a gradient and Adam's "
                                    "two moments per parameter.")),
    (close(8 * _N_XL / 1e9, 0.05), "That is 8N bytes, weights and gradients; Adam adds two moments (m and v) too."),
    (close(12 * _N_XL / 1e9, 0.05), ("That is 12N bytes, three numbers per parameter; Adam keeps TWO moments (m and "
                                     "v) besides the weight and its gradient.")),
    (close(20 * _N_XL / 1e9, 0.05), ("That is 20N bytes: you added the frozen reference's 4N. The question asks for "
                                     "the trained model only: weights, gradients and Adam's two moments.")),
    (close(16 * _N_XL / 2**30, 0.05), "That is in GiB (2³⁰ bytes); the question asks for GB, 10⁹ bytes."),
    (close(16 * _N_XL, 1e8), "That is in bytes; the question asks for GB: divide by 10⁹."),
)


EXERCISES = {
    "08.adam_gb": Exercise(
        "gpt2-xl has 1,557,611,200 parameters. In fp32 with Adam, weights + gradients + Adam's two moments take how "
        "many GB (10⁹ bytes)?", close(24.92, 0.0101),  # 24.91 to 24.93, the exact 24.9217792 included
        (("Four fp32 numbers per parameter: the weight, its gradient and Adam's two moments (m and v); a fp32 "
          "number takes 4 bytes."),
         "16 bytes × N (N = 1,557,611,200), then ÷ 10⁹ for GB (÷ 2³⁰ would give GiB)."),
        "1,557,611,200 parameters × 4 numbers × 4 bytes = 24,921,779,200 bytes ≈ 24.92 GB (23.21 GiB). The frozen "
        "reference model would add another 4N bytes = 6.23 GB, but it is not trained: no gradient, no moments.",
        stars=2, minutes=4, mistakes=_ADAM_SLIPS),
    "08.logits_mb": Exercise(
        "The gpt2 preset's minibatch: 16 completions, logits kept for 48 + 1 positions over a vocabulary of 50,257, "
        "in fp32: how many MB (10⁶ bytes)?", close(16 * 49 * 50257 * 4 / 1e6, 1.0),
        (("The logits tensor has shape (completions, positions, vocabulary); multiply the three sizes, then the bytes "
          "of one float32, then convert bytes to MB."),
         "16 × 49 × 50,257 numbers, 4 bytes each, then ÷ 10⁶."),
        "16 × 49 × 50,257 = 39,401,488 numbers; × 4 bytes = 157,605,952 bytes ≈ 157.6 MB.", stars=2, minutes=4,
        mistakes=((close(16 * 49 * 50257 / 1e6, 0.5), "That counts 1 byte per number; a float32 takes 4."),
                  (close(16 * 48 * 50257 * 4 / 1e6, 0.5), "48 + 1 = 49 positions are kept, not 48."),
                  (close(16 * 49 * 50257 * 4 / 2**20, 0.5), ("That is in MiB (2²⁰ bytes); the question asks for MB, "
                                                             "10⁶ bytes.")))),
    "08.trl_batch_args": Exercise(
        "Write trl_batch_args(batch_size, minibatch_size) → dict of TRL 1.16 GRPOConfig's per_device_train_batch_size, "
        "gradient_accumulation_steps (keep it 1) and steps_per_generation, on one GPU.",
        lambda fn: callable(fn) and _trl_batch_args_ok(fn),
        (("In TRL 1.16 one optimiser step takes per_device_train_batch_size × gradient_accumulation_steps completions "
          "per GPU, and one generation is reused for steps_per_generation steps. Which of our settings is which?"),
         ("per_device_train_batch_size = minibatch_size (with gradient_accumulation_steps = 1) and "
          "steps_per_generation = batch_size // minibatch_size: whole numbers (//), not floats.")),
        'def trl_batch_args(batch_size, minibatch_size):\n'
        '    return {"per_device_train_batch_size": minibatch_size, "gradient_accumulation_steps": 1,\n'
        '            "steps_per_generation": batch_size // minibatch_size}', stars=2, minutes=8,
        mistakes=((lambda fn: fn(64, 16)["per_device_train_batch_size"] == 64, ("per_device_train_batch_size × "
                   "gradient_accumulation_steps is one optimiser step (our minibatch), not the whole rollout: that "
                   "was TRL 1.12's PPOTrainer.")),
                  (lambda fn: isinstance(fn(64, 16)["steps_per_generation"], float), ("Use whole numbers: batch_size "
                   "// minibatch_size, not /.")))),
}


__all__ = ["EXERCISES"]
