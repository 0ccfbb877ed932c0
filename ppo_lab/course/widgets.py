"""ipywidgets explorers of the maths. Every slider takes its range from `PPOConfig`'s validation,
so a learner can never dial in a value the engine would refuse: the widget clamps it."""
from __future__ import annotations

import html

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from ..config import FIELDS, field_info
from ..maths.losses import entropy
from ..rl.rollout import encode_prompts, token_texts
from ..world import data
from .plots.mechanics import CLIP_CASES, clip_explorer_figure, gae_figure, value_loss_figure
from .plots.tokens import next_token_figure

# the smallest value a slider offers for a field whose valid range is open at 0 (e.g. ε > 0)
_OPEN_LOW_MIN = {"learning_rate": 1e-6, "temperature": 0.05, "clip_eps": 0.01, "clip_eps_value": 0.01,
                 "max_grad_norm": 0.01, "kl_target": 0.1}
# the largest value a slider offers, where the valid range is far wider than is useful to explore
_SLIDER_MAX = {"learning_rate": 1e-2, "temperature": 3.0, "clip_eps": 1.0, "clip_eps_value": 10.0,
               "vf_coef": 5.0, "ent_coef": 0.5, "kl_coef": 1.0, "kl_target": 50.0, "max_grad_norm": 10.0,
               "iterations": 500, "batch_size": 256, "minibatch_size": 256, "ppo_epochs": 16,
               "response_length": 48, "prompt_length": 16}


def slider_range(field: str) -> tuple[float, float]:
    """(min, max) of the slider for a config field: inside the valid range, within useful limits."""
    info = field_info(field)
    if not info.is_number:
        raise ValueError(f"field={field!r} is not numeric; numeric fields: "
                         f"{sorted(name for name, f in FIELDS.items() if f.is_number)}")
    low = _OPEN_LOW_MIN.get(field, info.low) if info.open_low else info.low
    return low, min(info.high, _SLIDER_MAX.get(field, info.high))


def config_slider(field: str, value=None, step=None, description: str | None = None):
    """A slider for one `PPOConfig` field; out-of-range values are clamped to its valid range."""
    low, high = slider_range(field)
    value = field_info(field).default if value is None else value
    value = low if value is None else value
    cls = widgets.IntSlider if field_info(field).kind == "int" else widgets.FloatSlider
    step = step or (1 if cls is widgets.IntSlider else (high - low) / 100)
    return cls(value=min(max(value, low), high), min=low, max=high, step=step,
               description=description or field, continuous_update=False)


def clip_explorer():
    """ε slider and sign of A → L_clip and its gradient against the ratio, with the six cases named."""

    eps = config_slider("clip_eps", value=0.2, description="ε (clip_eps)")
    sign = widgets.ToggleButtons(options=[("A > 0", 1), ("A < 0", -1)], value=1, description="advantage")

    def draw(clip_eps, advantage):
        clip_explorer_figure(clip_eps, advantage)
        plt.show()
        for (_, s), text in CLIP_CASES.items():
            if s == advantage:
                print(f"• {text}")

    return _explorer(draw, {"clip_eps": eps, "advantage": sign})


def _explorer(draw, controls: dict):
    """Sliders in a row, the figure below, redrawn on every change."""
    out = widgets.interactive_output(draw, controls)
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    display(box)
    return box


def gae_explorer(rewards, values):
    """γ and λ sliders redraw the advantages of a fixed reward sequence (notebook 02)."""

    def draw(gamma, lam):
        gae_figure(rewards, values, gamma, lam)
        plt.show()

    return _explorer(draw, {"gamma": config_slider("gamma", step=0.01, description="γ (gamma)"),
                            "lam": config_slider("lam", step=0.01, description="λ (lam)")})


def value_loss_explorer():
    """V_old, R and ε_v sliders: the plain and the clipped value loss against the new value (notebook 03)."""

    def draw(old_value, ret, clip_eps_value):
        value_loss_figure(old_value, ret, clip_eps_value)
        plt.show()

    return _explorer(draw, {
        "old_value": widgets.FloatSlider(value=0.0, min=-3, max=3, step=0.1, description="V_old"),
        "ret": widgets.FloatSlider(value=1.5, min=-3, max=3, step=0.1, description="return R"),
        "clip_eps_value": config_slider("clip_eps_value", value=0.2, description="ε_v"),
    })


def temperature_explorer(models, prompt: str = "this movie was", k: int = 20):
    """Temperature slider → the bundled policy's real next-token distribution and its entropy (notebook 05)."""

    ids, mask = encode_prompts(models.tokenizer, [prompt], models.policy.lm.device)
    with torch.inference_mode():
        logits = models.policy.lm(input_ids=ids, attention_mask=mask).logits[0, -1].float()   # (V,)

    def draw(temperature):
        scaled = logits / temperature
        probs = torch.softmax(scaled, -1)
        top = probs.topk(k)
        tokens = token_texts([top.indices.tolist()], models.tokenizer)[0]   # end-of-text shows as ∎
        s = entropy(scaled[None, None], torch.ones(1, 1, dtype=torch.bool)).item()
        next_token_figure(tokens, top.values.numpy(), temperature, s, prompt)
        plt.show()

    return _explorer(draw, {"temperature": config_slider("temperature", step=0.05, description="T")})


class Labeller:
    """"You are the human" (notebook 01): pick the better of two reviews, pair after pair.

    In a live notebook the learner clicks; outside one (CI) `scripted` answers ("left"/"right")
    stand in for the clicks. `preferences()` gives the (chosen, rejected) pairs; pairs left
    unclicked take the `default` answers (saying so), or raise a clear error when there is none.
    """

    def __init__(self, pairs: list[tuple[str, str]], scripted: list[str] | None = None,
                 default: list[str] | None = None, positive=()):
        self.pairs, self.answers, self.positive = list(pairs), [None] * len(pairs), set(positive)
        for name, answers in (("scripted", scripted), ("default", default)):
            if answers is not None and (len(answers) != len(self.pairs) or set(answers) - {"left", "right"}):
                raise ValueError(f"{name}={answers!r}: give one 'left' or 'right' per pair ({len(self.pairs)})")
        self.default = default
        if scripted is not None:
            self.answers = list(scripted)

    @classmethod
    def of_reviews(cls, n: int = 10, scripted: str | None = None, default: str | None = None) -> Labeller:
        """`n` (even) pairs of short held-out reviews, each a human-positive one beside a human-negative one, the
        positive on the left in every other pair. `scripted` / `default`: a taste, "positive" or "negative" (the
        answers a labeller who prefers that review gives), for the clicks / for pairs left unclicked."""
        if n < 2 or n % 2:
            raise ValueError(f"Labeller.of_reviews: n={n!r}; valid: an even number of pairs, 2 or more")
        short = [r for r in data.split("held_out") if r.source == "rotten_tomatoes"]
        pos = [r.text for r in short if r.label == 1][:n // 2]
        neg = [r.text for r in short if r.label == 0][:n // 2]
        pairs = [(p, q) if i % 2 == 0 else (q, p) for i, (p, q) in enumerate(zip(pos, neg))]
        pairs += [(q, p) if i % 2 == 0 else (p, q) for i, (p, q) in enumerate(zip(pos[::-1], neg))]
        taste = {name: answers_of(pairs, pos, t) for name, t in (("scripted", scripted), ("default", default))}
        return cls(pairs, taste["scripted"], taste["default"], positive=pos)

    def share_positive(self) -> float:
        """How often the preferences chose the human-positive review (0.5: no taste either way)."""
        if not self.positive:
            raise ValueError("share_positive: this Labeller was not told which reviews are positive; valid: one "
                             "made by Labeller.of_reviews, or Labeller(pairs, positive=[...])")
        prefs = self.preferences()
        return sum(chosen in self.positive for chosen, _ in prefs) / len(prefs)

    def widget(self):
        """Two buttons per pair; the choice is highlighted. The texts are shown whole, left-aligned."""

        rows = []
        for i, (left, right) in enumerate(self.pairs):
            buttons = [widgets.Button(description=side, layout=widgets.Layout(width="90px"))
                       for side in ("left", "right")]
            for button in buttons:
                button.on_click(lambda b, i=i, bs=buttons: self._choose(i, b, bs))
            texts = [widgets.HTML(f"<div style='width:380px; text-align:left'>{html.escape(t)}</div>")
                     for t in (left, right)]
            rows.append(widgets.HBox([widgets.Label(f"{i + 1}."), texts[0], buttons[0], texts[1], buttons[1]]))
        return widgets.VBox(rows)

    def _choose(self, i: int, button, buttons) -> None:
        self.answers[i] = button.description
        for b in buttons:
            b.button_style = "success" if b is button else ""

    def preferences(self) -> list[tuple[str, str]]:
        """(chosen, rejected) for every pair; a clear error while some are unanswered."""
        missing = [i + 1 for i, a in enumerate(self.answers) if a is None]
        if missing and self.default is None:
            raise ValueError(f"pairs {missing} are not labelled yet: click 'left' or 'right' on each, then rerun")
        if missing:
            print(f"pairs {missing} are not labelled yet: the default labeller answers them. Click 'left' or "
                  "'right' on each pair, then rerun this cell to use your own taste.")
        answers = [a if a is not None else d for a, d in zip(self.answers, self.default or self.answers)]
        return [(left, right) if a == "left" else (right, left) for (left, right), a in zip(self.pairs, answers)]


def answers_of(pairs: list[tuple[str, str]], positive, taste: str | None) -> list[str] | None:
    """The clicks ("left"/"right") of a labeller who prefers the `taste` ("positive"/"negative") review."""
    if taste is None:
        return None
    if taste not in ("positive", "negative"):
        raise ValueError(f"taste={taste!r} is not a taste; valid: 'positive' or 'negative'")
    return ["left" if (left in positive) == (taste == "positive") else "right" for left, _ in pairs]


__all__ = ["answers_of", "clip_explorer", "config_slider", "gae_explorer", "Labeller", "slider_range",
           "temperature_explorer", "value_loss_explorer"]
