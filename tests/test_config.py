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
    with pytest.raises(ConfigError, match=r"preset='huge'.*\['arithmetic', 'ci', 'gpt2', 'tiny'\]"):
        PPOConfig.preset("huge")


def test_presets_are_valid_and_replace_revalidates():
    for name in ("tiny", "ci", "gpt2"):
        assert isinstance(PPOConfig.preset(name), PPOConfig)
    with pytest.raises(ConfigError, match="clip_eps"):
        PPOConfig().replace(clip_eps=-1.0)
    assert PPOConfig(clip_eps=None, clip_eps_value=None, kl_target=None).clip_eps is None


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------- every field declares its meaning and range
def test_every_field_declares_help_a_kind_and_a_valid_default():
    import dataclasses

    from ppo_lab.config import FIELDS

    assert list(FIELDS) == [f.name for f in dataclasses.fields(PPOConfig)]
    for name, info in FIELDS.items():
        assert info.help.strip() and info.kind in ("int", "float", "float?", "choice", "str", "bool"), name
        if info.is_number:
            assert info.low is not None and info.high is not None and info.low < info.high, name
            if info.default is not None or info.kind != "float?":
                assert info.low <= info.default <= info.high and not (info.open_low and info.default == info.low), name
        if info.kind == "choice":
            assert info.default in info.choices, name
        assert getattr(PPOConfig(), name) == info.default


def test_field_info_carries_the_symbols_and_lecture_terms():
    from ppo_lab.config import field_info

    symbols = {"clip_eps": "ε", "clip_eps_value": "ε_v", "vf_coef": "c1", "ent_coef": "c2", "kl_coef": "β",
               "gamma": "γ", "lam": "λ", "learning_rate": ""}
    assert {name: field_info(name).symbol for name in symbols} == symbols
    assert field_info("gamma").term == "γ of GAE" and field_info("seed").term == ""
    assert field_info("clip_eps").term == "ε: trust region (vùng tin cậy) of the policy loss (tổn thất chính sách)"
    assert field_info("kl_estimator").choices == ("k1", "k3")
    with pytest.raises(ConfigError, match=r"'clip' is not a PPOConfig field; valid: policy, reward_model, seed"):
        field_info("clip")


def test_describe_is_one_line_with_symbol_range_default_and_help():
    from ppo_lab.config import FIELDS, describe

    assert describe("clip_eps") == ("clip_eps (ε) float or None in (0, 10], default 0.2 — trust region of the "
                                    "ratio (None: no clipping)")
    assert describe("batch_size") == ("batch_size int in [1, 4096], default 64 — "
                                      "completions per rollout (batch_size / group_size prompts)")
    assert describe("kl_estimator").startswith("kl_estimator one of k1/k3, default 'k1' — ")
    assert describe("whiten_advantages").startswith("whiten_advantages bool, default True — ")
    for name in FIELDS:
        assert describe(name).startswith(name) and "\n" not in describe(name)


def test_check_preset_is_the_one_preset_check():
    from ppo_lab.config import check_preset

    check_preset("gpt2")
    with pytest.raises(ConfigError) as err:
        check_preset("huge")
    assert str(err.value) == "preset='huge' is not a preset; choose one of ['arithmetic', 'ci', 'gpt2', 'tiny']"


def test_as_member_is_the_config_with_the_members_fields_then_the_changes():
    from ppo_lab.config import FAMILY

    config = PPOConfig.preset("ci")
    assert config.as_member("GRPO") == config.replace(**FAMILY["GRPO"])
    assert config.as_member("RLOO", group_size=8, iterations=3) == config.replace(**{**FAMILY["RLOO"], "group_size": 8},
                                                                                  iterations=3)
    with pytest.raises(ConfigError, match="name='DPO'.*valid: PPO, REINFORCE, RLOO, GRPO, Dr. GRPO"):
        config.as_member("DPO")
