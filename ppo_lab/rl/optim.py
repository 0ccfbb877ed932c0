"""Plumbing shared by the asset build and the live reward-model training: schedule and step."""
from __future__ import annotations

import math

import torch


def lr_at(step: int, steps: int, peak: float, floor: float, warmup: int = 100) -> float:
    """Linear warm-up, then cosine from `peak` down to `floor`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def adam(params, lr: float, *, eps: float = 1e-8, betas=(0.9, 0.999), weight_decay: float = 0.0,
         decoupled: bool = False) -> torch.optim.Optimizer:
    """Adam (AdamW when `decoupled`) as one fused kernel over all parameters: on a CPU, torch's default is a
    loop over tensors, 5× slower for our tiny GPT-2 (8.3 ms → 1.6 ms a step); same update up to rounding."""
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    return kind(params, lr=lr, eps=eps, betas=betas, weight_decay=weight_decay, fused=True)


def optimiser_step(model, opt, loss, lr: float, bar=None, step: int = 0) -> None:
    """Set the learning rate, backprop, clip the gradient norm at 1, step, show the loss."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    if bar is not None and step % 20 == 0:
        bar.set_postfix(loss=f"{loss.item():.3f}")


__all__ = ["adam", "lr_at", "optimiser_step"]
