"""Every figure of the course, in one place: `lab.plots.<name>`.

The figures live by topic: `mechanics` (how PPO's pieces work, drawn from the package's own losses), `dpo`
(DPO's optimum and loss), `verifiable` (held-out accuracy and pass@k, notebook 11), `tokens` (token by token) and
`results` (what training produced); the machinery they share (metric names and units, the axis style, the legend,
seeds as a band) is `style`. This module
re-exports the figures and the few pieces of machinery notebooks use beside them, so notebooks look in one place.
"""
from __future__ import annotations

from .cost import cost_bars
from .dpo import loss_and_weight, optimum_bars
from .mechanics import (
    CLIP_CASES,
    clip_explorer_figure,
    clip_objective,
    gae_figure,
    ppo_cycle_diagram,
    term_bars,
    value_loss_figure,
    values_vs_returns,
)
from .results import (
    curves,
    heatmap,
    kl_estimators,
    pairwise_accuracy_curves,
    score_histogram,
    text_table,
)
from .style import METRICS, legend_below, seed_band, seeds_note, style_axes
from .tokens import next_token_figure, token_heatmap
from .verifiable import eval_curves, pass_at_k_curves

__all__ = [
    # the figures
    "cost_bars",
    "CLIP_CASES", "clip_explorer_figure", "clip_objective", "curves",
    "eval_curves", "gae_figure", "heatmap", "kl_estimators", "loss_and_weight", "next_token_figure",
    "optimum_bars", "pairwise_accuracy_curves", "pass_at_k_curves", "ppo_cycle_diagram", "score_histogram",
    "term_bars", "text_table", "token_heatmap", "value_loss_figure", "values_vs_returns",
    # the part of their machinery a notebook uses beside them (the rest: lab.course.plots.style)
    "METRICS", "legend_below", "seed_band", "seeds_note", "style_axes",
]
