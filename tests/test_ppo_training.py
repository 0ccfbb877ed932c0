"""The PPO engine on the bundled models: Phase I, Phase II, the trainer, determinism, the gpt2 shape."""
import copy

import pytest
import torch

from ppo_lab.config import PPOConfig
from ppo_lab.maths.kl_penalty import adaptive_kl_coef, per_token_rewards
from ppo_lab.maths.losses import logprobs_from_logits
from ppo_lab.rl import experiments, ppo as trainer
from ppo_lab.rl.rollout import encode_prompts, response_logits, reward_scores, rollout

CI = PPOConfig.preset("ci")


def without_times(history):
    return [{k: v for k, v in h.items() if not k.startswith("time/")} for h in history]


# ---------------------------------------------------------------- rewards
def test_per_token_rewards_by_hand():
    # β = 0.5; KL = [[1, 2, 3], [4, 0, 0]], rows of length 3 and 1, scores [10, 20]
    # row 0: [−0.5, −1, −1.5 + 10] ; row 1: [−2 + 20, 0, 0] (padding gets nothing)
    kl = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    r = per_token_rewards(torch.tensor([10.0, 20.0]), kl, mask, 0.5)
    assert torch.allclose(r, torch.tensor([[-0.5, -1.0, 8.5], [18.0, 0.0, 0.0]]))


def test_adaptive_kl_coef_by_hand():
    # KL 12 vs target 6: error = clip(12/6 − 1, −0.2, 0.2) = 0.2; β = 0.1·(1 + 0.2·64/1000) = 0.10128
    assert adaptive_kl_coef(0.1, 12.0, 6.0, 1000, 64) == pytest.approx(0.10128)
    # KL 5.4 vs 6: error = −0.1; β = 0.1·(1 − 0.1·0.064) = 0.09936
    assert adaptive_kl_coef(0.1, 5.4, 6.0, 1000, 64) == pytest.approx(0.09936)


# ---------------------------------------------------------------- Phase I
def test_rollout_shapes_and_exact_response_length(models):
    torch.manual_seed(0)
    batch = rollout(models, ["this film was", "i rented this movie because", "awful"], CI)
    L = CI.response_length
    assert batch.response.shape == (3, L) and batch.mask.all()
    assert batch.logprobs.shape == batch.ref_logprobs.shape == batch.values.shape == (3, L)
    assert (batch.logprobs <= 0).all()
    assert torch.equal(batch.logprobs, batch.ref_logprobs)         # policy = reference at the start
    assert torch.count_nonzero(batch.values) == 0  # zero-initialised value head
    assert not (batch.response == models.tokenizer.pad_token_id).any()


def test_left_padding_gives_the_same_logprobs_as_no_padding(models):
    prompts = ["this film was", "i rented this movie because it"]
    ids, mask = encode_prompts(models.tokenizer, prompts)
    response = torch.randint(10, 4000, (2, 5), generator=torch.Generator().manual_seed(0))
    full, full_mask = torch.cat([ids, response], 1), torch.cat([mask, torch.ones_like(response)], 1)
    with torch.inference_mode():
        padded = logprobs_from_logits(response_logits(models.ref, full, full_mask, 5, 1.0)[0], response)
        ids0, mask0 = encode_prompts(models.tokenizer, prompts[:1])
        alone = torch.cat([ids0, response[:1]], 1)
        single = logprobs_from_logits(response_logits(models.ref, alone, torch.ones_like(alone), 5, 1.0)[0],
                                      response[:1])
        judge = (models.reward_model, models.reward_tokenizer, models.tokenizer)
        s_pad = reward_scores(*judge, full[:1], full_mask[:1], None)
        s_one = reward_scores(*judge, alone, torch.ones_like(alone), None)
    assert (mask[0] == 0).any(), "the first prompt should be left-padded in this test"
    assert torch.allclose(padded[0], single[0], atol=1e-5)
    assert torch.allclose(s_pad, s_one, atol=1e-5)


def test_reward_model_with_another_tokenizer_reencodes_text(models):
    other = copy.deepcopy(models.tokenizer)
    other.add_special_tokens({"additional_special_tokens": ["<|other|>"]})  # a different vocabulary
    texts = ["this film was wonderful, i loved it.", "this film was awful and boring."]
    ids, mask = encode_prompts(models.tokenizer, texts)
    with torch.inference_mode():
        same = reward_scores(models.reward_model, models.tokenizer, models.tokenizer, ids, mask, texts)
        reenc = reward_scores(models.reward_model, other, models.tokenizer, ids, mask, texts)
    assert torch.allclose(same, reenc, atol=1e-4)
    assert same[0] > same[1]


def test_two_label_classifier_gives_log_odds(models):
    from transformers import GPT2Config, GPT2ForSequenceClassification
    config = GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=len(models.tokenizer), num_labels=2,
                        id2label={0: "NEGATIVE", 1: "POSITIVE"}, pad_token_id=models.tokenizer.pad_token_id)
    clf = GPT2ForSequenceClassification(config).eval()
    ids, mask = encode_prompts(models.tokenizer, ["good", "bad film"])
    with torch.inference_mode():
        logits = clf(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
        scores = reward_scores(clf, models.tokenizer, models.tokenizer, ids, mask, None)
    assert torch.allclose(scores, logits[:, 1] - logits[:, 0])


# ---------------------------------------------------------------- Phase II and the trainer
def test_first_minibatch_has_ratio_one_and_engine_functions_are_used(models):
    calls = {name: 0 for name in trainer.PPO_FUNCTIONS}

    def counting(name):
        fn = trainer.PPO_FUNCTIONS[name]
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    run = trainer.train(CI.replace(iterations=1), models, progress=False,
                        overrides={name: counting(name) for name in calls})
    # 1 up to float rounding: a minibatch forward may round differently from Phase I's whole-batch one
    # on another CPU's kernels (README, "Determinism"), so exactness here would be a property of one machine
    assert abs(run.history[0]["val/first_ratio"] - 1.0) < 1e-5
    steps = CI.ppo_epochs * CI.batch_size // CI.minibatch_size
    # c2 = 0 in the CI preset: the entropy term is left out of the objective, so never computed there
    assert calls == {"policy_loss": steps, "value_loss": steps, "entropy": 0, "ppo_loss": steps,
                     "kl_per_token": 1, "gae": 1, "group_advantages": 0, "rloo_advantages": 0}
    calls.update(entropy=0)
    trainer.train(CI.replace(iterations=1, ent_coef=0.01), models, progress=False,
                  overrides={"entropy": counting("entropy")})
    assert calls["entropy"] == steps


def test_history_names_the_metrics_as_trl_does(models):
    run = trainer.train(CI.replace(iterations=1), models, progress=False)
    for key in ("env/reward_mean", "objective/kl", "objective/entropy", "policy/clipfrac_avg",
                "policy/approxkl_avg", "loss/policy_avg", "loss/value_avg", "val/ratio",
                "val/explained_variance", "gold/vader_mean", "gold/fraction_positive", "env/fraction_positive"):
        assert key in run.history[0], key
    assert run.status == "finished" and run.samples


def test_same_seed_same_history_to_the_last_digit(bundled):
    a = trainer.train(CI.replace(iterations=2), copy.deepcopy(bundled), progress=False)
    b = trainer.train(CI.replace(iterations=2), copy.deepcopy(bundled), progress=False)
    assert without_times(a.history) == without_times(b.history)
    assert a.samples == b.samples


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ci_run_raises_the_reward(bundled, seed):
    # through the run cache: notebook 00 trains the same runs (seeds 0, 1), and the suite's cache is shared
    [run] = experiments.over_seeds(CI, (seed,), copy.deepcopy(bundled), progress=False)
    reward = run.metric("env/reward_mean")
    assert sum(reward[-2:]) / 2 - reward[0] > 0.3, f"reward did not rise clearly: {reward}"


@pytest.mark.slow
def test_gpt2_shaped_policy_runs_one_iteration(bundled):
    from transformers import GPT2Config, GPT2LMHeadModel

    from ppo_lab.world.models import Models, PolicyWithValueHead
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config()).eval()  # 124 M parameters, random weights, no download
    assert sum(p.numel() for p in lm.parameters()) > 120e6
    policy = PolicyWithValueHead(lm)
    models = Models(policy, copy.deepcopy(lm).requires_grad_(False), bundled.reward_model,
                    bundled.tokenizer, bundled.reward_tokenizer)
    config = PPOConfig(iterations=1, batch_size=4, minibatch_size=2, ppo_epochs=1, response_length=8)
    run = trainer.train(config, models, progress=False)
    assert run.status == "finished" and len(run.history) == 1


def test_value_head_saves_and_loads_with_safetensors(models, tmp_path):
    with torch.no_grad():
        models.policy.value_head.linear.weight.normal_()
    models.policy.save_pretrained(str(tmp_path))
    assert (tmp_path / "value_head.safetensors").exists() and (tmp_path / "model.safetensors").exists()
    from ppo_lab.world.models import load_policy
    loaded = load_policy(str(tmp_path))
    assert torch.equal(loaded.value_head.linear.weight, models.policy.value_head.linear.weight)


def test_a_policy_saved_with_its_tokenizer_loads_back_as_a_config_name(models, tmp_path):
    from ppo_lab.world.models import AssetError, load_models
    models.policy.save_pretrained(str(tmp_path / "bare"))
    with pytest.raises(AssetError, match="no tokenizer"):
        load_models(PPOConfig(policy=str(tmp_path / "bare")))
    models.policy.save_pretrained(str(tmp_path / "whole"), models.tokenizer)
    loaded = load_models(PPOConfig(policy=str(tmp_path / "whole")))
    assert len(loaded.tokenizer) == len(models.tokenizer)
    for a, b in zip(loaded.policy.parameters(), models.policy.parameters()):
        assert torch.equal(a, b)


def test_loading_the_bundled_models_prints_no_progress_bars(capfd):
    from transformers.utils import logging as hf_logging

    from ppo_lab.world.models import load_models
    load_models(PPOConfig())
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err, "a learner's cell shows no library progress bars"
    assert hf_logging.is_progress_bar_enabled(), "the library's own setting is left as it was"


def test_before_after_on_a_number_completes_that_many_held_out_openings(models):
    from ppo_lab.config import PPOConfig
    from ppo_lab.rl.experiments import before_after
    from ppo_lab.rl.loop import Run
    from ppo_lab.world.data import make_prompts

    run = Run(PPOConfig.preset("ci", response_length=6), models)
    rows = before_after(run, 3, seed=4)
    assert [r["prompt"] for r in rows] == make_prompts(3, seed=4)
    assert rows == before_after(run, make_prompts(3, seed=4), seed=4)
