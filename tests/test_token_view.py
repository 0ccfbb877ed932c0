"""The token inspector: honest ratios (1 before any update, moved after), every quantity drawn per token."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import ppo_lab as lab
from ppo_lab.course import failures, plots, token_view

CONFIG = lab.PPOConfig.preset("ci", response_length=8, learning_rate=1e-3)
PROMPTS = ["This film was", "I rented this movie", "The acting"]


def test_ratio_is_exactly_one_before_any_update(models):
    stats = token_view.token_stats(models, CONFIG, PROMPTS, updates=0)
    assert stats["ratio"].shape == (3, 8)
    assert torch.allclose(stats["ratio"], torch.ones(3, 8), atol=1e-5)


def test_update_moves_the_ratio_with_the_advantage_and_leaves_the_callers_model(models):
    before = {k: v.clone() for k, v in models.policy.state_dict().items()}
    stats = token_view.token_stats(models, CONFIG, PROMPTS, updates=4)
    assert all(torch.equal(before[k], v) for k, v in models.policy.state_dict().items())
    moved = stats["ratio_minus_1"]
    assert moved.abs().max() > 1e-3
    big = stats["advantages"].abs() > 0.5
    agree = (torch.sign(moved[big]) == torch.sign(stats["advantages"][big])).float().mean()
    assert agree > 0.6, f"tokens with A > 0 should mostly become more likely (agreement {agree:.2f})"


def test_dropout_makes_the_ratio_differ_from_one_before_any_update(models):
    failures.dropout_on(models)
    stats = token_view.token_stats(models, CONFIG, PROMPTS, updates=0)
    assert (stats["ratio"] - 1).abs().max() > 1e-2


@pytest.mark.parametrize("by", sorted(token_view.BY))
def test_every_quantity_colours_each_token(models, by):
    with torch.no_grad():  # away from the reference (KL ≠ 0) and from the zero-initialised value head (V ≠ 0)
        for p in models.policy.parameters():
            p.add_(0.02 * torch.randn_like(p))
    stats = token_view.token_stats(models, CONFIG, PROMPTS, updates=1)
    fig = lab.show_tokens(stats, by=by)
    ax = fig.axes[0]
    boxes = [t for t in ax.texts if t.get_bbox_patch() is not None]
    assert len(boxes) == 3 * 8 and ax.get_title()
    label = fig.axes[1].get_xlabel().replace("\n", " ")
    assert label.startswith(token_view.BY[by][1])                    # the colour bar names the quantity
    colours = {tuple(np.round(b.get_bbox_patch().get_facecolor(), 3)) for b in boxes}
    assert len(colours) > 1
    plt.close(fig)


def test_a_run_is_inspected_with_its_own_models_and_bad_input_is_named(models):
    run = lab.Run(CONFIG, models)
    fig = lab.show_tokens(run, by="value", prompts=PROMPTS[:2], updates=0)
    assert len([t for t in fig.axes[0].texts if t.get_bbox_patch() is not None]) == 2 * 8
    plt.close(fig)
    with pytest.raises(ValueError, match="valid"):
        lab.show_tokens(run, by="reward")
    with pytest.raises(TypeError, match="Run"):
        lab.show_tokens([1, 2, 3])
    with pytest.raises(ValueError, match="updates"):
        token_view.token_stats(models, CONFIG, PROMPTS, updates=-1)


def test_one_extreme_token_does_not_grey_out_the_rest_and_the_clip_is_said():
    values = np.full((2, 8), 0.01)
    values[0, ::2] = -0.02
    values[1, 3] = 55.0                                           # one dropout-sized outlier
    toks = [[f" t{i}" for i in range(8)], [" a", "∎", " b", " c", " d", " e", " f", " g"]]
    fig = plots.token_heatmap(toks, values, "ratio", "ratio − 1", ["this film", "the acting"])
    label = fig.axes[1].get_xlabel().replace("\n", " ")
    assert "colour clipped at ±0.02 (95th percentile of |value|)" in label
    boxes = {t.get_text(): t.get_bbox_patch() for t in fig.axes[0].texts if t.get_bbox_patch() is not None}
    assert tuple(boxes[" c"].get_edgecolor())[:3] == (0, 0, 0)   # the outlier: outlined, beyond the scale
    assert boxes[" t0"].get_facecolor() != boxes[" t1"].get_facecolor()   # the others still differ
    assert "∎" in boxes
    plt.close(fig)


def test_the_ratio_colour_bar_stops_at_minus_one():
    values = np.array([[-0.9, -0.5, 0.2, 1.5, 1.99, -0.95, 0.1, 0.3]])      # ratio − 1: never below −1
    fig = plots.token_heatmap([[f" t{i}" for i in range(8)]], values, "ratio", "ratio − 1", ["p"], floor=-1.0)
    low, high = fig.axes[1].get_xlim()
    assert low == pytest.approx(-1.0) and high >= 1.5                        # not a symmetric ±1.5
    plt.close(fig)
    fig = plots.token_heatmap([[f" t{i}" for i in range(8)]], values, "ratio", "ratio − 1", ["p"])
    assert fig.axes[1].get_xlim()[0] == pytest.approx(-1.5)                  # without a floor: symmetric
    plt.close(fig)


def test_long_completions_wrap_inside_the_figure():
    toks = [[" word"] * 60]
    fig = plots.token_heatmap(toks, np.linspace(-1, 1, 60)[None], "t", "v", ["a prompt"])
    fig.canvas.draw()
    right = max(t.get_window_extent().x1 for t in fig.axes[0].texts)
    assert right <= fig.bbox.x1 and len({round(t.get_position()[1], 3) for t in fig.axes[0].texts}) > 1
    plt.close(fig)


def test_the_title_counts_updates_in_words(models):
    stats = token_view.token_stats(models, CONFIG, PROMPTS[:1], updates=1)
    fig = lab.show_tokens(stats, by="ratio")
    assert fig.axes[0].get_title().endswith("after 1 update")
    assert all("<|endoftext|>" not in t for row in stats["tokens"] for t in row)
    plt.close(fig)
