"""Widgets clamp to the valid ranges of the config."""
import pytest

from ppo_lab.config import PPOConfig
from ppo_lab.course.widgets import config_slider, slider_range


@pytest.mark.parametrize("field", ["clip_eps", "gamma", "lam", "learning_rate", "temperature", "kl_coef",
                                   "ent_coef", "vf_coef", "batch_size", "ppo_epochs", "response_length"])
def test_slider_values_are_always_valid(field):
    slider = config_slider(field)
    for value in (-1e9, -1, 0, 1e9):
        slider.value = value
        PPOConfig(**{field: slider.value, **({"minibatch_size": 1} if field == "batch_size" else {})})
    slider.value = -1e9
    assert slider.value == slider_range(field)[0]
    slider.value = 1e9
    assert slider.value == slider_range(field)[1]


def test_non_numeric_field_is_refused():
    with pytest.raises(ValueError, match="kl_estimator"):
        slider_range("kl_estimator")


def test_labeller_uses_clicks_then_the_default_and_says_so(capsys):
    from ppo_lab.course.widgets import Labeller

    pairs = [("good film", "bad film"), ("dull", "great"), ("fine", "awful")]
    labeller = Labeller(pairs, default=["right", "left", "right"])
    labeller.answers[0] = "left"                      # one click: prefers "good film"
    assert labeller.preferences() == [("good film", "bad film"), ("dull", "great"), ("awful", "fine")]
    assert "pairs [2, 3] are not labelled yet" in capsys.readouterr().out
    assert Labeller(pairs, scripted=["left"] * 3).preferences()[1] == ("dull", "great")
    with pytest.raises(ValueError, match="not labelled yet"):
        Labeller(pairs).preferences()
    with pytest.raises(ValueError, match="default="):
        Labeller(pairs, default=["up", "left", "left"])


def test_labeller_shows_a_review_as_text_not_html():
    from ppo_lab.course.widgets import Labeller

    box = Labeller([("a <b>bold</b> claim", "x & y")], scripted=["left"]).widget()
    shown = box.children[0].children[1].value
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown and "text-align:left" in shown


def test_labeller_of_reviews_pairs_a_positive_and_a_negative_review_and_reads_a_taste():
    from ppo_lab.course.widgets import Labeller
    from ppo_lab.world import data

    short = [r for r in data.split("held_out") if r.source == "rotten_tomatoes"]
    positive = {r.text for r in short if r.label == 1}
    labeller = Labeller.of_reviews(6, scripted="negative")
    assert len(labeller.pairs) == 6
    assert [left in positive for left, _ in labeller.pairs] == [True, False] * 3   # positive left in every other pair
    assert all((left in positive) != (right in positive) for left, right in labeller.pairs)
    assert all(chosen not in positive for chosen, _ in labeller.preferences())
    assert labeller.share_positive() == 0.0
    assert Labeller.of_reviews(6, scripted="positive").share_positive() == 1.0
    clicks = Labeller.of_reviews(4, default="positive")
    clicks.answers[0] = "right" if clicks.pairs[0][0] in positive else "left"   # one click against the taste
    assert clicks.share_positive() == 0.75


@pytest.mark.parametrize("kwargs, match", [({"n": 5}, "n=5"), ({"n": 0}, "n=0"),
                                           ({"scripted": "neutral"}, "taste='neutral'")])
def test_labeller_of_reviews_refuses_bad_settings_by_name(kwargs, match):
    from ppo_lab.course.widgets import Labeller

    with pytest.raises(ValueError, match=match):
        Labeller.of_reviews(**kwargs)


def test_share_positive_needs_to_know_the_positive_reviews():
    from ppo_lab.course.widgets import Labeller

    with pytest.raises(ValueError, match="share_positive"):
        Labeller([("a", "b")], scripted=["left"]).share_positive()
