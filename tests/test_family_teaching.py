"""What notebooks 07 and 09 add for the critic-free family: the pass/fail reward, a learner's group functions in
training, the family's runs and table, the figure against seconds, the two gallery recipes and the exercises."""
import matplotlib

matplotlib.use("Agg")
import pytest
import torch

import ppo_lab as lab
from ppo_lab.config import FAMILY, PPOConfig
from ppo_lab.course import failures
from ppo_lab.maths import advantages as adv_lib
from ppo_lab.rl import experiments, ppo as trainer, rollout

TINY = dict(iterations=2, batch_size=8, minibatch_size=4, response_length=6, ppo_epochs=1)


def tiny(**changes) -> PPOConfig:
    return PPOConfig.preset("ci", **{**TINY, **changes})


def test_a_binary_reward_is_the_reward_models_verdict_as_1_or_0(models):
    prompts = ["this movie", "I rented this film"]
    torch.manual_seed(0)
    scores = rollout.rollout(models, prompts, tiny()).scores
    torch.manual_seed(0)
    passed = rollout.rollout(models, prompts, tiny(binary_reward=True)).scores
    assert torch.equal(passed, (scores > rollout.positive_threshold(models.reward_model)).float())
    assert set(passed.tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("member, name", [("GRPO", "group_advantages"), ("RLOO", "rloo_advantages")])
def test_training_calls_a_learners_group_function_once_per_rollout(models, member, name):
    calls = []

    def counting(*args):
        calls.append(args[1])                                    # the group size it was given
        return trainer.PPO_FUNCTIONS[name](*args)

    run = trainer.train(tiny(**FAMILY[member]), models, overrides={name: counting}, progress=False)
    assert calls == [FAMILY[member]["group_size"]] * 2 and run.status == "finished"


def test_a_flipped_group_advantage_is_minus_grpos():
    scores = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 2.0, -1.0])
    assert torch.equal(failures.flipped_group_advantages(scores, 4), -adv_lib.group_advantages(scores, 4))


def test_the_family_recipes_compare_with_their_own_member():
    config = tiny(batch_size=16)
    assert failures.healthy_config("grpo_tiny_groups", config).group_size == 8
    broken = failures.broken_config("grpo_tiny_groups", config)
    assert (broken.group_size, broken.binary_reward, broken.advantage_estimator) == (2, True, "grpo")
    assert failures.healthy_config("no_whitening", config) == config          # PPO's recipes: the PPO run


def test_family_trains_every_member_and_the_table_reads_the_configs(models):
    runs = experiments.family(tiny(iterations=1), (0,), models, names=["PPO", "GRPO"], progress=False)
    assert list(runs) == ["PPO", "GRPO"] and runs["GRPO"][0].config.group_size == FAMILY["GRPO"]["group_size"]
    rows = {row["member"]: row for row in experiments.family_table(tiny())}
    assert list(rows) == list(FAMILY)
    assert rows["Dr. GRPO"]["baseline"] == "the group's mean" and rows["GRPO"]["baseline"].endswith("÷ its std")
    assert rows["PPO"]["critic"] == "value head" and rows["RLOO"]["KL goes in"] == "the reward (k1)"


@pytest.mark.parametrize("name, right, slip", [("09.grpo_by_hand", 1.4997, 0.75), ("09.zero_variance", 0.2482, 0.2401),
                                               ("09.rloo_factor", 1.333, 0.75), ("09.length_weight", 5, 1)])
def test_notebook_09s_exercises_take_the_answer_and_name_the_slip(name, right, slip):
    exercise = lab.exercises.EXERCISES[name]
    assert exercise.correct(right) and not exercise.correct(slip)
    assert any(detect(slip) for detect, _ in exercise.mistakes), "the common slip gets its own hint"


@pytest.mark.parametrize("name", sorted(trainer.PPO_FUNCTIONS))
def test_use_impl_falls_back_to_the_package_for_every_engine_function(name, capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    assert lab.exercises.use_impl(name, stub) is trainer.PPO_FUNCTIONS[name]
    assert "yours is not implemented yet" in capsys.readouterr().out


def test_saved_activation_bytes_counts_activations_not_weights():
    weight = torch.nn.Parameter(torch.ones(3, 3))
    x = torch.ones(2, 3)                                   # an input: saved, 24 bytes
    with experiments.saved_activation_bytes() as saved:
        hidden = (x @ weight).relu()                       # matmul saves x (and the weight: not counted); relu: 24
    assert saved["bytes"] == 2 * 2 * 3 * 4 and hidden.requires_grad


def test_iteration_cost_times_every_member_and_weighs_its_activations(models):
    cost = experiments.iteration_cost(tiny(), models, names=["PPO", "GRPO"], repeats=1)
    assert list(cost) == ["PPO", "GRPO"]
    for row in cost.values():
        assert 0 < row["seconds"] < 60 and row["activation MB per minibatch"] > 0
    # PPO's value head adds its (B, L) output to what autograd keeps: never less than GRPO's
    assert cost["PPO"]["activation MB per minibatch"] >= cost["GRPO"]["activation MB per minibatch"]
