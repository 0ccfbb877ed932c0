"""What a case of `check_impl` is, and the small tensors the batteries are built from.

Each `Case` names what it tests, the arguments of one call (in the order of the package function's arguments)
and a hint for when it fails, always by keyword: cases worked by hand (with their expected outputs, stats and
gradients), random shapes and masks, garbage in padded positions, and numerically hostile inputs. The batteries
are grouped as the maths is, one module per module of `maths` (`losses`, `advantages`, `preference`) and
`verifiable` for pass@k; `checker` runs them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

F64, F32, INF = torch.float64, torch.float32, math.inf
MASK_HINT = ("Padded tokens (mask=False) must not count: average over valid tokens only, "
             "Σ(x·mask)/Σmask, never .mean() over every entry.")


@dataclass(kw_only=True)
class Case:
    """One check of a learner's engine function; built by keyword, so that each case reads as what it tests."""
    name: str                     # what the learner reads when it fails
    args: tuple                   # in the order of the package function's arguments
    hint: str                     # shown when the case fails
    want: tuple | None = None     # outputs worked by hand; None: the package's own outputs
    stats: dict | None = None     # stats worked by hand
    grad: tuple = ()              # arguments that carry gradient in training: ∂/∂ must match
    want_grad: tuple | None = None  # those gradients worked by hand
    const: tuple = ()             # rollout constants: their gradient must be 0 (or the package's)


def _t(x, dtype=F64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def _ones(n: int) -> torch.Tensor:
    return torch.ones(1, n, dtype=torch.bool)                       # (1, T) every token valid


def _zeros(n: int) -> torch.Tensor:
    return torch.zeros(1, n, dtype=F64)                             # (1, T)


def _lp(*ratios) -> torch.Tensor:
    """log π for the given ratios when log π_old = 0."""
    return torch.log(_t([ratios]))                                  # (1, T)


def _rand(gen, shape, dtype, scale=1.0) -> torch.Tensor:
    return (torch.randn(shape, generator=gen, dtype=F64) * scale).to(dtype)


def _mask(gen, shape, prefix=False) -> torch.Tensor:
    """Random valid tokens, at least one per batch; `prefix`: each row is its response then padding."""
    if prefix:
        lengths = torch.randint(0, shape[1] + 1, (shape[0],), generator=gen)  # (B,)
        lengths[0] = shape[1]
        return torch.arange(shape[1])[None, :] < lengths[:, None]           # (B, T)
    mask = torch.rand(shape, generator=gen) < 0.7                            # (B, T)
    mask.view(-1)[0] = True
    return mask


def _garble(x, mask, gen, low, high) -> torch.Tensor:
    """x with its padded positions replaced by garbage in [low, high]."""
    mask = mask if mask.dim() == x.dim() else mask[..., None].expand_as(x)
    junk = (low + (high - low) * torch.rand(x.shape, generator=gen, dtype=F64)).to(x.dtype)
    return torch.where(mask, x, junk)


# ====================================================================== policy_loss


__all__ = ["Case", "MASK_HINT"]
