"""Figures token by token: each token of a completion on a box coloured by its value (notebook 02's token
inspector, `token_view.show_tokens`), and the next-token distribution at one temperature (notebook 05's explorer).

Built on the shared figure machinery in `plots.style`; `plots` re-exports them as `lab.plots.<name>`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm

from .style import style_axes, wrapped

TOKEN_FONT = 9        # pt: the token inspector's text


def mono_char_inches(fig, size: float) -> float:
    """The width of one monospace character at `size` pt as this figure renders it (hinting included)."""
    probe = fig.text(0, 0, "m" * 40, family="monospace", fontsize=size)
    width = probe.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi / 40
    probe.remove()
    return 1.03 * width                                   # a little slack for other renderers' rounding


def robust_limit(values, percentile: float = 95) -> tuple[float, bool]:
    """Half-width of a diverging colour scale: the 95th percentile of |value| (the maximum where that is 0),
    so one extreme token cannot turn every other one grey; and whether any value lies beyond it."""
    magnitude = np.abs(np.asarray(values, dtype=float))
    magnitude = magnitude[np.isfinite(magnitude)]
    if magnitude.size == 0:
        return 1e-6, False
    limit = float(np.percentile(magnitude, percentile, method="lower")) or float(magnitude.max())
    return max(limit, 1e-6), bool(magnitude.max() > limit)


def token_lines(tokens: list[list[str]], prompts: list[str] | None, width: int) -> tuple[list[tuple], float]:
    """Where each prompt and token goes: (line, column in characters, text, (row, col), or None for a
    prompt), and the number of lines. A completion wider than `width` characters wraps, indented."""
    placed, line = [], 0.0
    for row, toks in enumerate(tokens):
        x = 0.0
        if prompts:
            placed.append((line, x, prompts[row], None))
            x = len(prompts[row]) + 1.0
        for col, tok in enumerate(toks):
            text = tok.replace("\n", "⏎") or "·"
            if x + len(text) > width and x > 6:
                line, x = line + 1, 6.0
            placed.append((line, x, text, (row, col)))
            x += len(text) + 0.7
        line += 1.4                                       # a gap between completions
    return placed, line


def token_heatmap(tokens: list[list[str]], values, title: str, label: str, prompts: list[str] | None = None,
                  floor: float | None = None):
    """Each token of each completion on a coloured box: blue below 0, red above (diverging scale).

    The scale is clipped at the 95th percentile of |value| (`robust_limit`) and the colour bar says so;
    tokens beyond it take the end colour and a black outline. `floor`: the lowest value the quantity can take
    (−1 for ratio − 1): the colour bar stops there. End-of-text shows as ∎ (`rollout.END_MARK`).
    """
    values = np.asarray(values, dtype=float)                            # (B, L)
    limit, clipped = robust_limit(values)
    low = -limit if floor is None or floor >= 0 else max(-limit, floor)
    norm, cmap = TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=limit), colormaps["coolwarm"]
    fig = plt.figure(figsize=(10.0, 1.0))
    char_in = mono_char_inches(fig, TOKEN_FONT)                         # one character, in inches
    placed, lines = token_lines(tokens, prompts, int(9.6 / char_in) - 2)
    line_in, top_in, bottom_in = 2.0 * TOKEN_FONT / 72, 0.45, 1.25
    fig.set_figheight(lines * line_in + top_in + bottom_in)
    height, fig_w = fig.get_figheight(), fig.get_figwidth()
    ax = fig.add_axes((0.2 / fig_w, bottom_in / height, 9.6 / fig_w, lines * line_in / height))
    for line, x, text, where in placed:
        value = np.nan if where is None else values[where]
        box = None if where is None else {"boxstyle": "square,pad=0.15", "fc": cmap(norm(value)), "lw": 1,
                                          "ec": "black" if value > limit or value < low else "none"}
        ax.text(x, -line, text, fontsize=TOKEN_FONT, va="center", ha="left", family="monospace", bbox=box,
                color="dimgrey" if box is None else "black", style="italic" if box is None else "normal")
    ax.set_xlim(0, 9.6 / char_in)
    ax.set_ylim(-lines + 0.7, 0.7)
    ax.axis("off")                                        # a page of tokens: no axes to label, only the title
    ax.set_title(title)
    note = (f"; colour clipped at ±{limit:.3g} (95th percentile of |value|), outlined tokens lie beyond" if clipped
            else "")
    cax = fig.add_axes((0.2, 0.75 / height, 0.6, 0.14 / height))
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal",
                 extend="both" if clipped else "neither", label=wrapped(label + note, 110))
    return fig


def next_token_figure(tokens: list[str], probs, temperature: float, entropy: float, prompt: str):
    """The k most likely next tokens and their probabilities at one temperature (notebook 05)."""
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    x, probs = np.arange(len(tokens)), np.asarray(probs, dtype=float)
    ax.bar(x, probs, color="#3367d6", label=f"T = {temperature:.2f}: these {len(tokens)} tokens hold "
                                            f"{probs.sum():.0%} of the probability")
    ax.set_xticks(x, [repr(t)[1:-1] for t in tokens], rotation=60, ha="right", fontsize=9)
    ax.set_ylim(0, 1.15 * max(float(probs.max(initial=0.0)), 1e-3))   # autoscaled: at T = 3 the bars are tiny
    style_axes(ax, f"Next token after {prompt!r}: entropy S = {entropy:.2f} nats", "next token (the most likely ones)",
               "probability π(token | prompt)\n(scale follows T)", grid="y")
    return fig


__all__ = ["mono_char_inches", "next_token_figure", "robust_limit", "TOKEN_FONT", "token_heatmap", "token_lines"]
