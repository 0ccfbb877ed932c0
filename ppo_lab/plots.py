"""Every figure of the course, in one place: `lab.plots.<name>`.

The figures live by topic: `mechanics_figures` (how PPO's pieces work, drawn from the package's own losses),
`dpo_figures` (DPO's optimum and loss), `verifiable_figures` (held-out accuracy and pass@k, notebook 11),
`token_figures` (token by token) and `result_figures` (what training produced); the machinery they share
(metric names and units, the axis style, the legend, seeds as a band) is `figure_style`. This module
re-exports the figures and the few pieces of machinery notebooks use beside them, so notebooks look in one place.
"""
from __future__ import annotations

from .dpo_figures import loss_and_weight, optimum_bars
from .figure_style import METRICS, legend_below, seed_band, seeds_note, style_axes
from .mechanics_figures import (
    CLIP_CASES,
    clip_explorer_figure,
    clip_objective,
    gae_figure,
    ppo_cycle_diagram,
    term_bars,
    value_loss_figure,
    values_vs_returns,
)
from .result_figures import (
    accuracy_curves,
    against_time,
    curves,
    heatmap,
    kl_estimators,
    proxy_vs_gold,
    reward_vs_kl,
    score_histogram,
    text_table,
)
from .token_figures import next_token_figure, token_heatmap
from .verifiable_figures import accuracy_curves as eval_curves, evaluated as eval_points, pass_at_k_curves

__all__ = [
    # the figures
    "CLIP_CASES", "accuracy_curves", "against_time", "clip_explorer_figure", "clip_objective", "curves",
    "eval_curves", "eval_points", "gae_figure", "heatmap", "kl_estimators", "loss_and_weight", "next_token_figure",
    "optimum_bars", "pass_at_k_curves", "ppo_cycle_diagram", "proxy_vs_gold", "reward_vs_kl", "score_histogram",
    "term_bars", "text_table", "token_heatmap", "value_loss_figure", "values_vs_returns",
    # the part of their machinery a notebook uses beside them (the rest: lab.figure_style)
    "METRICS", "legend_below", "seed_band", "seeds_note", "style_axes",
]
