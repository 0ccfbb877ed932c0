"""Helpers of notebooks 05 and 06: diversity, the objective term by term, their figures and widgets."""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.course import plots
from ppo_lab.course.plots import style as figure_style
from ppo_lab.maths import diversity
from ppo_lab.rl import loop, ppo as trainer, update
from ppo_lab.rl.rollout import rollout


def test_distinct_n_by_hand():
    texts = ["a b a b", "a b c"]                     # bigrams: ab ba ab | ab bc → 3 unique of 5
    assert diversity.distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert diversity.distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert diversity.distinct_n(["same same same"] * 4, 2) == pytest.approx(1 / 8)
    assert diversity.distinct_n(["one"], 2) == 0.0
    assert diversity.unique_fraction(["x", "x", "y", "z"]) == 0.75
    with pytest.raises(ValueError, match="n=0"):
        diversity.distinct_n(texts, 0)


def test_objective_terms_match_the_engine_loss(models):
    config = PPOConfig.preset("ci", batch_size=8, minibatch_size=8, ent_coef=0.05, vf_coef=0.5)
    torch.manual_seed(0)
    batch = rollout(models, ["this movie"] * 8, config)
    _, adv, ret, _ = trainer.rewards_and_advantages(batch, config, config.kl_coef, trainer.PPO_FUNCTIONS)
    terms = update.objective_terms(models, batch, adv, ret, config)
    total = sum(t["weighted"] for t in terms.values())
    # the first minibatch reproduces the engine's own step (ratio 1): same loss
    stats = trainer.ppo_step(models, torch.optim.SGD(models.policy.parameters(), lr=0.0), batch,
                             torch.arange(8), adv, ret, config, trainer.PPO_FUNCTIONS)
    assert total == pytest.approx(stats["loss/total"], rel=1e-4, abs=1e-6)
    assert terms["value  c1·L_VF"]["weighted"] == pytest.approx(0.5 * terms["value  c1·L_VF"]["value"])
    assert terms["entropy  −c2·S"]["weighted"] == pytest.approx(-0.05 * terms["entropy  −c2·S"]["value"])
    assert all(t["grad_norm"] > 0 for t in terms.values())
    fig = plots.term_bars(terms, "terms")
    assert fig.axes[0].get_title() and fig.axes[1].get_ylabel()


def engine_batch(models, config):
    """A rollout of 8 prompts with the engine's own advantages and returns."""
    torch.manual_seed(0)
    batch = rollout(models, ["this movie"] * 8, config)
    _, adv, ret, _ = trainer.rewards_and_advantages(batch, config, config.kl_coef, trainer.PPO_FUNCTIONS)
    return batch, adv, ret


def test_objective_terms_follow_a_learners_overrides(models):
    config = PPOConfig.preset("ci", batch_size=8, minibatch_size=8, ent_coef=0.05)
    batch, adv, ret = engine_batch(models, config)

    def doubled_policy_loss(*args):
        loss, stats = trainer.PPO_FUNCTIONS["policy_loss"](*args)
        return 2 * loss, stats

    plain = update.objective_terms(models, batch, adv, ret, config)
    mine = update.objective_terms(models, batch, adv, ret, config, overrides={"policy_loss": doubled_policy_loss})
    policy = "policy  −L_clip"
    assert mine[policy]["value"] == 2 * plain[policy]["value"]
    assert mine[policy]["weighted"] == 2 * plain[policy]["weighted"]
    assert mine[policy]["grad_norm"] == pytest.approx(2 * plain[policy]["grad_norm"], rel=1e-6)
    assert plain[policy]["grad_norm"] > 0
    for other in ("value  c1·L_VF", "entropy  −c2·S"):
        assert mine[other] == plain[other], other
    with pytest.raises(ConfigError, match="policy_los"):
        update.objective_terms(models, batch, adv, ret, config, overrides={"policy_los": doubled_policy_loss})


@pytest.mark.parametrize("ent_coef", [0.0, 0.05])
def test_loss_terms_give_the_numbers_of_ppo_step(models, ent_coef):
    config = PPOConfig.preset("ci", batch_size=8, minibatch_size=8, ent_coef=ent_coef, vf_coef=0.5)
    batch, adv, ret = engine_batch(models, config)
    idx = torch.arange(8)
    fns = trainer.PPO_FUNCTIONS
    pg, vf, s, stats = update.loss_terms(models, batch, idx, adv, ret, config, fns, with_entropy=ent_coef > 0)
    total = fns["ppo_loss"](pg, vf, s, config.vf_coef, config.ent_coef)
    step = trainer.ppo_step(models, torch.optim.SGD(models.policy.parameters(), lr=0.0), batch, idx, adv, ret,
                            config, fns)
    assert (step["loss/policy"], step["loss/value"], step["entropy"], step["loss/total"]) == (
        pg.item(), vf.item(), s.item(), total.item())
    assert {k: step[k] for k in stats} == stats
    assert (s.item() == 0.0) == (ent_coef == 0.0)


def test_grad_norm_by_hand():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    assert update.grad_norm((w ** 2).sum() / 2, [w]) == pytest.approx(5.0)
    unused = torch.zeros(2, requires_grad=True)
    assert update.grad_norm((w * 0).sum() + 0 * w.sum(), [unused]) == 0.0


def test_heatmap_and_reward_against_kl(models):
    run = trainer.train(PPOConfig.preset("ci", iterations=2, batch_size=8, minibatch_size=8), models, progress=False)
    assert "env/distinct_2" in run.history[0] and 0 <= run.history[0]["env/distinct_2"] <= 1
    assert plots.heatmap([[0.1, 0.2], [0.3, 0.4]], [0, 1], ["a", "b"], "t", "x", "y", "v").axes[0].get_title() == "t"
    assert "KL" in plots.curves({"β": [run]}, ["env/reward_mean"], "rk", x="objective/kl").axes[0].get_xlabel()


def test_temperature_explorer_renders(bundled):
    from ppo_lab.course import widgets
    box = widgets.temperature_explorer(bundled, "this movie was")
    slider = box.children[0].children[0]
    assert slider.min > 0 and slider.max >= 2
    slider.value = 1.5   # redraws without error


def fake_run(values, seed=0):
    """A Run whose history gives every plotted metric `values` in turn (no training)."""
    metrics = list(plots.METRICS)
    return loop.Run(PPOConfig.preset("ci", seed=seed), None, [{**{m: float(v) for m in metrics}, "iteration": i}
                                                                  for i, v in enumerate(values)])


def test_curves_name_each_metric_in_words_and_keep_the_legend_off_the_data():
    groups = {"vf_coef=0.1": [fake_run([0, 1, 2]), fake_run([1, 2, 3], seed=1)], "vf_coef=1.0": [fake_run([2, 1, 0])]}
    fig = plots.curves(groups, ["val/explained_variance", "loss/value_avg", "env/reward_mean"], "c1")
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes]
    assert titles[1] == "value loss ½(V − R)²" and "reward units²" in fig.axes[1].get_ylabel()
    assert fig.get_figwidth() <= 10 and all(ax.get_legend() is None for ax in fig.axes)
    fig.canvas.draw()
    legend = fig.legends[0]
    assert not any(ax.get_tightbbox().overlaps(legend.get_window_extent()) for ax in fig.axes)
    assert [t.get_text() for t in legend.get_texts()] == ["vf_coef=0.1 (mean of 2 seeds)", "vf_coef=1.0 (1 seed)",
                                                          figure_style.BAND]
    assert plots.seeds_note(1) == "1 seed" and plots.seeds_note(3) == "mean of 3 seeds"


def test_the_temperature_chart_autoscales_so_flat_distributions_stay_visible():
    probs = torch.full((20,), 0.002)                               # T = 3: every bar tiny
    fig = plots.next_token_figure([f"w{i}" for i in range(20)], probs.numpy(), 3.0, 7.9, "this movie was")
    low, high = fig.axes[0].get_ylim()
    assert low == 0 and 0.002 < high < 0.01
    assert "4% of the probability" in fig.legends[0].get_texts()[0].get_text().replace("\n", " ")


def test_the_cycle_diagram_arrows_cross_no_label():
    from matplotlib.path import Path

    fig = plots.ppo_cycle_diagram()
    fig.canvas.draw()
    ax = fig.axes[0]
    arrows = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    labels = [(t.get_bbox_patch() or t).get_window_extent() for t in ax.texts
              if getattr(t, "arrow_patch", None) is None]
    assert len(arrows) == 5 and len(labels) == 7
    for arrow in arrows:
        path = arrow.get_path()
        points = path.vertices if path.codes is None else path.vertices[path.codes != Path.CLOSEPOLY]
        assert not any(box.shrunk(0.96, 0.9).count_contains(points) for box in labels)


def test_a_line_added_after_curves_joins_the_one_legend_below():
    fig = plots.curves({"adaptive": [fake_run([1, 5, 9])]}, ["objective/kl", "objective/kl_coef"], "adaptive")
    fig.axes[0].axhline(8, color="red", ls="--", label="KL target")
    plots.legend_below(fig, fig.axes)
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == [
        "adaptive (1 seed)", "KL target"]
