"""What a bigger policy costs (notebook 08): seconds per PPO iteration, Phase I and Phase II stacked, beside the
memory of the weights with their optimiser state and of the frozen reference, one bar per policy.

Draws the measurements of `rl.experiments.cost_by_model`; `plots` re-exports the figure as `lab.plots.cost_bars`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from .style import legend_below, style_axes

NEEDED = ("Phase I s/iteration", "Phase II s/iteration", "policy + Adam GB (16N)", "reference GB (4N)")


def cost_bars(measured: dict[str, dict[str, float]], title: str, device: str = "cpu"):
    """Two panels, one bar per policy: seconds per iteration (Phase I below, Phase II stacked on it) on `device`,
    and GB of the policy's weights, gradients and Adam moments (16N bytes) with the reference's 4N stacked on it.

    `measured`: {policy: {measure: value}} as `cost_by_model` returns it (it needs the keys in `NEEDED`)."""
    if not measured:
        raise ValueError("cost_bars: measured={} is empty; valid: {policy: {measure: value}} from cost_by_model")
    for name, row in measured.items():
        lacking = [key for key in NEEDED if key not in row]
        if lacking:
            raise ValueError(f"cost_bars: measured[{name!r}] lacks {lacking}; valid: a row of cost_by_model, "
                             f"with {list(NEEDED)}")
    names = list(measured)
    column = {key: [measured[n][key] for n in names] for key in NEEDED}
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    ax_t.bar(names, column[NEEDED[0]], label="Phase I: generate, score, log-probs")
    ax_t.bar(names, column[NEEDED[1]], bottom=column[NEEDED[0]], label="Phase II: PPO updates")
    style_axes(ax_t, f"Time per PPO iteration on {device.upper()}", "policy", "seconds per iteration",
               legend=False, grid="y")
    ax_m.bar(names, column[NEEDED[2]], color="C2", label="policy: weights, gradients, Adam (16N bytes)")
    ax_m.bar(names, column[NEEDED[3]], bottom=column[NEEDED[2]], color="C7", label="frozen reference (4N bytes)")
    style_axes(ax_m, "Memory of the weights and optimiser state", "policy", "GB (10⁹ bytes)", legend=False, grid="y")
    fig.suptitle(title)
    legend_below(fig, [ax_t, ax_m], ncol=2)
    return fig


__all__ = ["cost_bars", "NEEDED"]
