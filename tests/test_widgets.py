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
