"""The diagnostics dashboard: every panel titled and labelled, healthy ranges shaded, seeds as a band."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import ppo_lab as lab
from ppo_lab.course.dashboard import HEALTHY
from ppo_lab.rl import experiments

TINY = lab.PPOConfig.preset("ci", iterations=2, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8)


@pytest.fixture(scope="module")
def runs(bundled):
    return experiments.over_seeds(TINY, (0, 1), bundled, progress=False)


def test_every_metric_is_recorded_by_the_trainer(runs):
    assert set(HEALTHY) <= set(runs[0].history[0])
    for metric, (_, _, healthy) in HEALTHY.items():
        assert healthy is None or healthy[0] < healthy[1], metric


def test_one_run_gives_eight_titled_labelled_panels_with_healthy_bands(runs):
    fig = lab.dashboard(runs[0], title="one run")
    axes = fig.axes
    assert len(axes) == 9 and not axes[8].axison and fig._suptitle.get_text() == "one run"   # 9th: the legend's
    for ax, (metric, (title, ylabel, healthy)) in zip(axes, HEALTHY.items()):
        assert ax.get_title().startswith(title) and ax.get_xlabel() == "PPO iteration"
        assert ax.get_ylabel().replace("\n", " ") == ylabel
        line, = ax.get_lines()
        assert np.allclose(line.get_ydata(), runs[0].metric(metric), equal_nan=True)
        if healthy is None:
            assert len(ax.patches) == 0 and "read the trend" in ax.get_title()
        else:
            band, = ax.patches
            assert band.get_y() == pytest.approx(healthy[0]) and band.get_y() + band.get_height() == pytest.approx(
                healthy[1])
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == ["run", "healthy range"]
    plt.close(fig)


def test_groups_over_seeds_are_mean_lines_with_a_band(runs):
    fig = lab.dashboard({"clip_eps=0.2": runs, "first seed": runs[:1]})
    ax = fig.axes[0]
    mean_line, _ = ax.get_lines()
    expected = np.mean([r.metric("env/reward_mean") for r in runs], axis=0)
    assert np.allclose(mean_line.get_ydata(), expected)
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1     # one seed: no band
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == ["clip_eps=0.2 (mean of 2 seeds)", "first seed (1 seed)", "band: min–max over seeds",
                            "healthy range"]
    assert "2 iterations" in fig._suptitle.get_text()
    plt.close(fig)


@pytest.mark.parametrize("bad", [[], {}, {"a": []}, {"a": [1]}, "run"])
def test_anything_else_is_refused_clearly(bad):
    with pytest.raises(TypeError, match="expected a Run or a dict"):
        lab.dashboard(bad)


def fake_run(values, status="finished", seed=0):
    """A Run with a made-up history: every dashboard metric takes `values` in turn (no training)."""
    history = [{**{m: float(v) for m in HEALTHY}, "iteration": i} for i, v in enumerate(values)]
    return lab.Run(TINY.replace(seed=seed), None, history, status=status)


def test_dashboard_of_runs_of_unequal_length_and_an_empty_one_is_ragged():
    groups = {"a": [fake_run([0, 1, 2, 3]), fake_run([10, 11], "stopped at iteration 2: loss/total became "
                                                                  "non-finite (NaN or inf). …", seed=1),
                    fake_run([], "interrupted: the run keeps its 0 completed iterations", seed=2)],
              "b": [fake_run([], "interrupted: before its first iteration (Ctrl-C outside training)")]}
    fig = lab.dashboard(groups, title="ragged")
    ax = fig.axes[0]
    line_a, line_b = ax.get_lines()
    assert np.allclose(line_a.get_ydata(), [5, 6, 2, 3]) and len(line_b.get_ydata()) == 0
    band, = [c for c in ax.collections if isinstance(c, PolyCollection)]
    legend_texts = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
    assert legend_texts == ["a (mean of 2 seeds; 1 stopped at iteration 2; 1 skipped, no iterations: interrupted)",
                            "b (1 skipped, no iterations: interrupted)", "band: min–max over seeds", "healthy range"]
    plt.close(fig)
    fig = lab.dashboard(fake_run([], "interrupted: the run keeps its 0 completed iterations"))
    assert "over 0 iterations" in fig._suptitle.get_text()
    assert fig.legends[0].get_texts()[0].get_text().replace("\n", " ") == "run (1 skipped, no iterations: interrupted)"
    plt.close(fig)


def test_labels_are_readable_at_notebook_width_and_names_have_one_home():
    """Shown ~900 px wide (the figure's own size at 100 dpi), no text is under 9 pt; titles come from plots.METRICS."""
    from ppo_lab.course.plots import METRICS

    fig = lab.dashboard({"a": [fake_run([0, 1, 2]), fake_run([1, 2, 3], seed=1)]})
    assert fig.get_figwidth() * 100 <= 900
    texts = [t for ax in fig.axes[:8] for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels())]
    texts += list(fig.legends[0].get_texts())
    assert min(t.get_fontsize() for t in texts) >= 9
    for ax, metric in zip(fig.axes, HEALTHY):
        assert ax.get_title().startswith(METRICS[metric][0])
    assert fig.axes[7].get_title().startswith("value loss")          # not "loss/value_avg"
    plt.close(fig)


def test_the_legend_sits_in_the_empty_ninth_cell_not_on_a_panel():
    fig = lab.dashboard({"a": [fake_run([0, 1, 2])], "b": [fake_run([2, 1, 0], seed=1)]})
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert fig.axes[8].get_window_extent().contains(*box.p0) and fig.axes[8].get_window_extent().contains(*box.p1)
    assert not any(ax.get_window_extent().overlaps(box) for ax in fig.axes[:8])
    plt.close(fig)


def test_outside_bands_names_each_metric_iteration_and_seed_mean():
    from ppo_lab.course.dashboard import BANDS, outside_bands

    inside = {m: (band[0] + band[1]) / 2 for m, band in BANDS.items() if band}
    healthy = [lab.Run(TINY.replace(seed=s), None, [dict(inside) for _ in range(3)]) for s in (0, 1)]
    assert outside_bands(healthy) == {}
    # seed 0 leaves the clip-fraction band at iteration 2, seed 1 stays inside: the mean decides
    high, low = BANDS["policy/clipfrac_avg"][1] + 0.2, BANDS["policy/clipfrac_avg"][1] - 0.05
    healthy[0].history[2]["policy/clipfrac_avg"] = high
    healthy[1].history[2]["policy/clipfrac_avg"] = low
    assert outside_bands(healthy) == {"policy/clipfrac_avg": [(2, round((high + low) / 2, 4))]}
    healthy[1].history[2]["policy/clipfrac_avg"] = -0.5                 # now the mean is back inside
    assert outside_bands(healthy) == {}
