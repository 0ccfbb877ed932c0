"""The maths: pure functions of tensors, the formula in each docstring, nothing stored. Imports only torch.

`losses` (the PPO terms and the KL), `advantages` (GAE and the critic-free family's baselines), `kl_penalty`
(per-token rewards, adaptive β), `preference` (DPO and Bradley–Terry on pairs), `diversity` (distinct n-grams).
"""
from . import advantages, diversity, kl_penalty, losses, preference

__all__ = ["advantages", "diversity", "kl_penalty", "losses", "preference"]
