"""The explorers draw the package's own maths: L_clip and its gradient (policy_loss), the value loss (value_loss)
and δ_t, A_t (gae), evaluated on a grid, equal the textbook formulas to float precision, in the helpers and in
the lines of the figures themselves."""
import ast
import pathlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from ppo_lab.course import plots
from ppo_lab.course.plots.mechanics import clip_objective, gae_lines, value_loss_curves

EXACT = {"rtol": 1e-12, "atol": 1e-12}      # float64, a few roundings apart


def formula_l_clip(r, advantage, eps):
    """min(r·A, clip(r, 1−ε, 1+ε)·A) and its slope in r (A where the min picks the unclipped term, else 0)."""
    clipped = r if eps is None else np.clip(r, 1 - eps, 1 + eps)
    unclipped_obj, clipped_obj = r * advantage, clipped * advantage
    return np.minimum(unclipped_obj, clipped_obj), np.where(unclipped_obj <= clipped_obj, advantage, 0.0)


def away_from_kinks(r, eps):
    """At r = 1 ± ε the slope jumps: there either one-sided value is right, so compare elsewhere."""
    if eps is None:
        return np.ones_like(r, dtype=bool)
    return (np.abs(r - (1 - eps)) > 1e-9) & (np.abs(r - (1 + eps)) > 1e-9)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2, 0.3, 0.5, None])
@pytest.mark.parametrize("advantage", [1.0, -1.0, 0.3, -2.5])
def test_l_clip_and_its_gradient_from_policy_loss_equal_the_formula(eps, advantage):
    r = np.linspace(0.0, 2.0, 401)
    objective, grad = clip_objective(r, advantage, eps)
    want, want_grad = formula_l_clip(r, advantage, eps)
    assert objective.shape == grad.shape == r.shape
    np.testing.assert_allclose(objective, want, **EXACT)
    keep = away_from_kinks(r, eps)
    np.testing.assert_allclose(grad[keep], want_grad[keep], **EXACT)


@pytest.mark.parametrize("eps, advantage", [(0.2, 1.0), (0.3, -1.0)])
def test_the_clip_explorer_draws_those_values(eps, advantage):
    fig = plots.clip_explorer_figure(eps, advantage)
    r = np.linspace(0.0, 2.0, 401)
    want, want_grad = formula_l_clip(r, advantage, eps)
    (drawn,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("L_clip")]
    (slope,) = [line for line in fig.axes[1].get_lines() if line.get_label() == "∂L_clip/∂r"]
    np.testing.assert_allclose(drawn.get_ydata(), want, **EXACT)
    keep = away_from_kinks(r, eps)
    np.testing.assert_allclose(np.asarray(slope.get_ydata())[keep], want_grad[keep], **EXACT)
    assert fig.axes[0].get_title() == f"L_clip for A = {advantage:+.0f}, ε = {eps:.2f}"
    assert fig.axes[1].get_ylabel() == "gradient w.r.t. the ratio"
    plt.close(fig)


@pytest.mark.parametrize("old_value, ret, eps", [(0.0, 1.5, 0.2), (-1.0, 2.0, 0.5), (2.5, -3.0, 0.05), (0.3, 0.3, 0.2)])
def test_value_loss_from_value_loss_equals_the_formula(old_value, ret, eps):
    v = np.linspace(ret - 3, ret + 3, 401)
    plain, clipped = value_loss_curves(v, old_value, ret, eps)
    v_clip = old_value + np.clip(v - old_value, -eps, eps)
    np.testing.assert_allclose(plain, 0.5 * (v - ret) ** 2, **EXACT)
    np.testing.assert_allclose(clipped, 0.5 * np.maximum((v - ret) ** 2, (v_clip - ret) ** 2), **EXACT)
    fig = plots.value_loss_figure(old_value, ret, eps)
    lines = {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["½(V − R)²"], plain, **EXACT)
    np.testing.assert_allclose(lines["clipped: ½·max((V − R)², (V_clip − R)²)"], clipped, **EXACT)
    assert fig.axes[0].get_ylabel() == "value loss (reward units²)"
    plt.close(fig)


def formula_gae(rewards, values, gamma, lam):
    """δ_t = r_t + γ·V_{t+1} − V_t (V = 0 after the end) and A_t = δ_t + γλ·A_{t+1}, as a slow loop."""
    rewards, values = np.asarray(rewards, dtype=float), np.asarray(values, dtype=float)
    delta = rewards + gamma * np.append(values[1:], 0.0) - values
    advantages, later = np.zeros_like(delta), 0.0
    for t in reversed(range(len(delta))):
        later = advantages[t] = delta[t] + gamma * lam * later
    return delta, advantages


@pytest.mark.parametrize("gamma, lam", [(1.0, 1.0), (0.95, 0.9), (0.9, 0.0), (0.5, 0.3)])
def test_td_errors_and_advantages_from_gae_equal_the_formula(gamma, lam):
    rewards, values = [0.0, -0.1, 0.0, 0.2, 1.0], [0.3, 0.4, 0.2, 0.5, 0.6]
    delta, advantages = gae_lines(rewards, values, gamma, lam)
    want_delta, want_advantages = formula_gae(rewards, values, gamma, lam)
    np.testing.assert_allclose(delta, want_delta, **EXACT)
    np.testing.assert_allclose(advantages, want_advantages, **EXACT)
    fig = plots.gae_figure(rewards, values, gamma, lam)
    ax = fig.axes[0]
    (td,) = [line for line in ax.get_lines() if line.get_label() == "TD error δ_t"]
    np.testing.assert_allclose(td.get_ydata(), want_delta, **EXACT)
    (bars,) = [c for c in ax.containers if c.get_label() == "advantage A_t (GAE)"]
    np.testing.assert_allclose([bar.get_height() for bar in bars], want_advantages, **EXACT)
    plt.close(fig)


def test_plots_re_exports_every_figure_and_the_figures_do_not_import_plots():
    assert all(hasattr(plots, name) for name in plots.__all__)
    folder = pathlib.Path(plots.__file__).parent
    for path in [*sorted(folder.glob("*.py")), folder.parent / "dashboard.py"]:
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        sources = {(node.level, node.module) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not sources & {(1, None), (2, "plots")}, f"{path.name} imports plots: the cycle is back"


def test_the_dpo_figures_draw_the_package_functions():
    """The loss curve is −log σ(z), its weight σ(−z); the bars are π_ref and kl_regularised_optimum's π*."""
    fig = plots.loss_and_weight("t")
    loss, weight = (np.asarray(line.get_ydata()) for line in fig.axes[0].get_lines()[:2])
    z = np.asarray(fig.axes[0].get_lines()[0].get_xdata())
    assert np.allclose(loss, np.log1p(np.exp(-z))) and np.allclose(weight, 1 / (1 + np.exp(z)))
    plt.close(fig)
    ref, r = [0.5, 0.3, 0.2], [0.0, 1.0, -1.0]
    fig = plots.optimum_bars(ref, r, [1.0], "t")
    heights = [patch.get_height() for patch in fig.axes[0].patches]
    want = np.array(ref) * np.exp(r) / (np.array(ref) * np.exp(r)).sum()
    assert np.allclose(heights[:3], ref) and np.allclose(heights[3:], want)
    plt.close(fig)


def test_moving_mean_averages_the_last_values_and_fewer_at_the_start():
    from ppo_lab.course.plots.style import moving_mean

    assert moving_mean([1, 3, 5], 2) == [1.0, 2.0, 4.0]
    assert moving_mean([1, 3, 5, 7], 3) == [1.0, 2.0, 3.0, 5.0]
    assert moving_mean([2, 4], 1) == [2.0, 4.0]
