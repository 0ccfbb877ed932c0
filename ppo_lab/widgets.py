"""ipywidgets explorers of the maths. Every slider takes its range from `PPOConfig`'s validation,
so a learner can never dial in a value the engine would refuse: the widget clamps it."""
from __future__ import annotations

from .config import _SPEC

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
    kind, *rest = _SPEC[field]
    if kind not in ("int", "float", "float?"):
        raise ValueError(f"field={field!r} is not numeric; numeric fields: "
                         f"{sorted(k for k, v in _SPEC.items() if v[0] in ('int', 'float', 'float?'))}")
    low, high = rest[0], rest[1]
    low = _OPEN_LOW_MIN.get(field, low) if len(rest) > 2 else low
    return low, min(high, _SLIDER_MAX.get(field, high))


def config_slider(field: str, value=None, step=None, description: str | None = None):
    """A slider for one `PPOConfig` field; out-of-range values are clamped to its valid range."""
    import ipywidgets as widgets
    from .config import PPOConfig

    low, high = slider_range(field)
    default = getattr(PPOConfig(), field)
    value = default if value is None else value
    value = low if value is None else value
    cls = widgets.IntSlider if _SPEC[field][0] == "int" else widgets.FloatSlider
    step = step or (1 if cls is widgets.IntSlider else (high - low) / 100)
    return cls(value=min(max(value, low), high), min=low, max=high, step=step,
               description=description or field, continuous_update=False)
