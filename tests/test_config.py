"""Bad input gets a clear error naming the field, the value and the valid range (at least 30 cases)."""
import math

import pytest

from ppo_lab.config import ConfigError, PPOConfig

BAD = [  # (field overrides, the text the message must contain besides the field name)
    ({"learning_rate": -1e-3}, "-0.001"), ({"learning_rate": 0.0}, "0.0"), ({"learning_rate": 5.0}, "5.0"),
    ({"clip_eps": 0.0}, "0.0"), ({"clip_eps": -0.2}, "-0.2"), ({"clip_eps_value": -1.0}, "-1.0"),
    ({"gamma": 1.5}, "1.5"), ({"gamma": -0.1}, "-0.1"), ({"lam": 2.0}, "2.0"), ({"lam": -0.5}, "-0.5"),
    ({"batch_size": 64, "minibatch_size": 10}, "10"), ({"batch_size": 0}, "0"), ({"minibatch_size": 0}, "0"),
    ({"kl_estimator": "k2"}, "'k2'"), ({"temperature": 0.0}, "0.0"), ({"temperature": -1.0}, "-1.0"),
    ({"learning_rate": math.nan}, "nan"), ({"kl_coef": math.inf}, "inf"), ({"vf_coef": math.nan}, "nan"),
    ({"iterations": "10"}, "'10'"), ({"batch_size": 8.5}, "8.5"), ({"ppo_epochs": True}, "True"),
    ({"iterations": 0}, "0"), ({"ppo_epochs": 0}, "0"), ({"response_length": 0}, "0"),
    ({"kl_coef": -0.1}, "-0.1"), ({"ent_coef": -0.01}, "-0.01"), ({"vf_coef": -1.0}, "-1.0"),
    ({"max_grad_norm": 0.0}, "0.0"), ({"device": "tpu"}, "'tpu'"), ({"whiten_advantages": "yes"}, "'yes'"),
    ({"seed": -1}, "-1"), ({"kl_target": 0.0}, "0.0"), ({"policy": ""}, "''"), ({"clip_eps": "0.2"}, "'0.2'"),
    ({"kl_horizon": 0}, "0"), ({"prompt_length": 0}, "0"),
]


@pytest.mark.parametrize("overrides,shown", BAD, ids=[",".join(f"{k}={v!r}" for k, v in o.items()) for o, _ in BAD])
def test_bad_config_value_is_named_in_the_error(overrides, shown):
    field = list(overrides)[-1]
    with pytest.raises(ConfigError) as err:
        PPOConfig(**overrides)
    message = str(err.value)
    assert field in message and shown in message, message
    assert any(word in message for word in ("valid", "choose", "must")), message


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"preset='huge'.*\['ci', 'gpt2', 'tiny'\]"):
        PPOConfig.preset("huge")


def test_presets_are_valid_and_replace_revalidates():
    for name in ("tiny", "ci", "gpt2"):
        assert isinstance(PPOConfig.preset(name), PPOConfig)
    with pytest.raises(ConfigError, match="clip_eps"):
        PPOConfig().replace(clip_eps=-1.0)
    assert PPOConfig(clip_eps=None, clip_eps_value=None, kl_target=None).clip_eps is None


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)
