"""The engine speaks the critic-free family (notebook 09): GRPO, Dr. GRPO, RLOO and REINFORCE beside PPO.

Validation names the field; the rollout samples each prompt G times in a row; the advantages are the pure
functions of `advantages.py` on the sequence rewards; the KL can go into the loss; the loss aggregation reaches
the policy loss; completions can stop at end-of-text; and a learner's 5-argument policy_loss still trains.
"""
import math

import pytest
import torch

from ppo_lab.config import FAMILY, ConfigError, PPOConfig
from ppo_lab.course import token_view
from ppo_lab.maths import advantages as adv_lib, kl_penalty, losses
from ppo_lab.rl import metrics, ppo as trainer, rollout, update as phase2

TINY = dict(iterations=2, batch_size=8, minibatch_size=4, response_length=6, ppo_epochs=2)
PROMPTS = ["this movie", "I rented this film"]


def tiny(**changes) -> PPOConfig:
    return PPOConfig.preset("ci", **{**TINY, **changes})


def family(member: str, **changes) -> PPOConfig:
    return tiny(**{**FAMILY[member], **changes})


def batch_of(models, config, prompts=PROMPTS, seed=0):
    torch.manual_seed(seed)
    return rollout.rollout(models, prompts, config)


def end_of_text_at(monkeypatch, columns):
    """Row i of every sampled response gets an end-of-text token at columns[i % len(columns)] (None: none)."""
    real = rollout.generate

    def generate(lm, tokenizer, *args, **kwargs):
        response = real(lm, tokenizer, *args, **kwargs).clone()                    # (B, L)
        response[response == tokenizer.eos_token_id] = 5                           # no stray end-of-text
        for i in range(response.shape[0]):
            column = columns[i % len(columns)]
            if column is not None:
                response[i, column] = tokenizer.eos_token_id
        return response
    monkeypatch.setattr(rollout, "generate", generate)


# ---------------------------------------------------------------- the config
@pytest.mark.parametrize("changes,shown", [
    ({"batch_size": 8, "minibatch_size": 4, "group_size": 3}, "group_size=3"),
    ({"batch_size": 8, "minibatch_size": 4, "advantage_estimator": "grpo"}, "group_size=1"),
    ({"batch_size": 8, "minibatch_size": 4, "advantage_estimator": "rloo", "group_size": 1}, "group_size=1"),
    ({"group_size": 0}, "group_size=0"), ({"group_size": 2.0}, "group_size=2.0"),
    ({"advantage_estimator": "ppo"}, "advantage_estimator='ppo'"), ({"kl_in": "both"}, "kl_in='both'"),
    ({"loss_aggregation": "mean"}, "loss_aggregation='mean'"), ({"scale_rewards": 1}, "scale_rewards=1"),
    ({"stop_at_eos": "yes"}, "stop_at_eos='yes'"),
])
def test_a_bad_family_setting_is_named_with_its_value_and_the_valid_ones(changes, shown):
    with pytest.raises(ConfigError) as err:
        PPOConfig(**changes)
    message = str(err.value)
    assert shown in message and any(word in message for word in ("valid", "choose", "must")), message


def test_the_group_checks_say_what_would_do():
    with pytest.raises(ConfigError, match=r"group_size=3 does not divide batch_size=8.*\[1, 2, 4, 8\]"):
        PPOConfig(batch_size=8, minibatch_size=4, group_size=3)
    with pytest.raises(ConfigError, match=r"group_size=1 with advantage_estimator='grpo'.*\[2, 4, 8\]"):
        PPOConfig(batch_size=8, minibatch_size=4, advantage_estimator="grpo")
    config = PPOConfig(batch_size=8, minibatch_size=4, group_size=4)
    with pytest.raises(ConfigError, match="group_size=3"):
        config.group_size = 3                                          # assignment is checked too
    config.advantage_estimator = "rloo"                                # G = 4: fine
    assert PPOConfig(group_size=4, advantage_estimator="reinforce").group_size == 4


def test_the_defaults_are_todays_ppo_and_every_family_member_is_valid():
    config = PPOConfig()
    assert (config.advantage_estimator, config.group_size, config.scale_rewards, config.kl_in,
            config.loss_aggregation, config.stop_at_eos) == ("gae", 1, True, "reward", "token_mean", False)
    assert list(FAMILY) == ["PPO", "REINFORCE", "RLOO", "GRPO", "Dr. GRPO"] and FAMILY["PPO"] == {}
    for preset in ("tiny", "ci", "gpt2"):
        for changes in FAMILY.values():
            PPOConfig.preset(preset, **changes)
    assert FAMILY["Dr. GRPO"] == {**FAMILY["GRPO"], "scale_rewards": False, "loss_aggregation": "constant"}


# ---------------------------------------------------------------- Phase I: groups of G, stopping at end-of-text
def test_one_prompt_draw_per_group_and_todays_draw_at_g_1():
    pool = [f"p{i}" for i in range(50)]
    today = torch.randint(len(pool), (8,), generator=torch.Generator().manual_seed(3)).tolist()
    assert trainer.draw_prompts(pool, tiny(), torch.Generator().manual_seed(3)) == [pool[i] for i in today]
    assert len(trainer.draw_prompts(pool, tiny(group_size=4), torch.Generator().manual_seed(3))) == 2


def test_the_rollout_completes_each_prompt_g_times_in_a_row(models):
    batch = batch_of(models, family("GRPO", group_size=4))
    assert batch.prompts == [PROMPTS[0]] * 4 + [PROMPTS[1]] * 4
    assert batch.response.shape == (8, 6) and batch.scores.shape == (8,)
    assert len(set(batch.completions)) > 2                             # G samples, not one copied G times


def test_stop_at_eos_masks_after_the_first_end_of_text_and_scores_the_cut_text(models, monkeypatch):
    end_of_text_at(monkeypatch, [1, 3, None, 0])
    config = tiny(stop_at_eos=True)
    batch = batch_of(models, config, ["this movie", "this movie was", "I rented", "the film"] * 2)
    tok, eos = models.tokenizer, models.tokenizer.eos_token_id
    lengths = [2, 4, 6, 1] * 2                                         # the end-of-text token itself stays valid
    assert batch.mask.sum(1).tolist() == lengths
    assert all(batch.mask[i, :n].all() and not batch.mask[i, n:].any() for i, n in enumerate(lengths))
    assert (batch.response[~batch.mask] == tok.pad_token_id).all()
    assert (batch.attention_mask[:, -6:].bool() == batch.mask).all()
    for i, n in enumerate(lengths):
        cut = batch.response[i, :n]                                    # up to and including end-of-text
        assert batch.completions[i] == tok.decode(cut, skip_special_tokens=True)
        prompt = tok(batch.prompts[i], return_tensors="pt")["input_ids"]
        alone = torch.cat([prompt, cut[None]], dim=1)                  # (1, P_i + n): the cut text, nothing else
        score = rollout.reward_scores(models.reward_model, models.reward_tokenizer, tok, alone,
                                      torch.ones_like(alone), [])
        assert batch.scores[i].item() == pytest.approx(score.item(), abs=1e-4)
        assert (cut[-1] == eos) == (i % 4 != 2)
    r, _, _, kl = trainer.rewards_and_advantages(batch, config, 0.1, trainer.PPO_FUNCTIONS)
    last = torch.tensor(lengths) - 1
    assert torch.allclose(r[torch.arange(8), last], batch.scores - 0.1 * kl[torch.arange(8), last])
    assert (r[~batch.mask] == 0).all()


def test_without_stop_at_eos_every_token_stays_valid(models, monkeypatch):
    end_of_text_at(monkeypatch, [1])
    batch = batch_of(models, tiny())
    assert batch.mask.all() and (batch.response[:, 1] == models.tokenizer.eos_token_id).all()


# ---------------------------------------------------------------- advantages: the pure functions, broadcast
@pytest.mark.parametrize("estimator", ["reinforce", "grpo", "rloo"])
@pytest.mark.parametrize("kl_in", ["reward", "loss"])
def test_critic_free_advantages_are_the_pure_functions_of_the_sequence_rewards(models, estimator, kl_in):
    config = tiny(advantage_estimator=estimator, group_size=4, kl_in=kl_in, kl_estimator="k3")
    batch = batch_of(models, config)
    beta = 0.3
    r, advantages, returns, kl = trainer.rewards_and_advantages(batch, config, beta, trainer.PPO_FUNCTIONS)
    kl_sum = (losses.kl_per_token(batch.logprobs, batch.ref_logprobs, "k3") * batch.mask).sum(1)   # (B,)
    R = batch.scores - beta * kl_sum if kl_in == "reward" else batch.scores                           # (B,)
    want = {"reinforce": R, "grpo": adv_lib.group_advantages(R, 4, True), "rloo": adv_lib.rloo_advantages(R, 4)}
    assert torch.allclose(advantages, adv_lib.broadcast_to_tokens(want[estimator], batch.mask), atol=1e-5)
    assert torch.allclose(returns, adv_lib.broadcast_to_tokens(R, batch.mask), atol=1e-6)
    assert torch.allclose(r.sum(1), R, atol=1e-5)                      # the per-token rewards add up to R
    if kl_in == "loss":                                                # no KL in the reward: the score, at the end
        assert (r[:, :-1] == 0).all() and torch.equal(r[:, -1], batch.scores)


def test_dr_grpo_does_not_divide_by_the_std_and_whitening_is_gae_only(models):
    config = family("Dr. GRPO", whiten_advantages=True)
    batch = batch_of(models, config)
    _, advantages, returns, _ = trainer.rewards_and_advantages(batch, config, 0.1, trainer.PPO_FUNCTIONS)
    want = adv_lib.group_advantages(returns[:, 0], 4, scale=False)
    assert torch.allclose(advantages[:, 0], want) and not torch.allclose(advantages[:, 0], returns[:, 0])


def test_sequence_rewards_and_zero_std_groups_by_hand():
    kl = torch.tensor([[1.0, 2.0, 9.0], [0.5, 0.5, 0.5]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    R = kl_penalty.sequence_rewards(torch.tensor([1.0, 2.0]), kl, mask, 0.1)
    assert torch.allclose(R, torch.tensor([1.0 - 0.3, 2.0 - 0.15]))
    assert metrics.zero_std_groups(torch.tensor([1.0, 1.0, 2.0, 3.0, 4.0, 4.0]), 2) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- Phase II: KL in the loss, the aggregation
def test_kl_in_the_loss_is_added_to_the_total_with_the_current_beta(models):
    config = family("GRPO", ent_coef=0.01)
    batch = batch_of(models, config)
    _, advantages, returns, _ = trainer.rewards_and_advantages(batch, config, 0.1, trainer.PPO_FUNCTIONS)
    sgd = torch.optim.SGD(models.policy.parameters(), lr=0.0)
    everything = torch.arange(8)
    step = phase2.ppo_step(models, sgd, batch, everything, advantages, returns, config, trainer.PPO_FUNCTIONS,
                           kl_coef=0.7)
    kl = losses.aggregate(losses.kl_per_token(batch.logprobs, batch.ref_logprobs, "k3"), batch.mask, "sequence_mean")
    assert step["loss/kl"] == pytest.approx(kl.item(), rel=1e-4, abs=1e-6)   # π_θ = π_old at lr 0
    assert step["loss/value"] == 0.0                                   # no value loss in the critic-free objective
    parts = step["loss/policy"] - 0.01 * step["entropy"] + 0.7 * step["loss/kl"]
    assert step["loss/total"] == pytest.approx(parts, rel=1e-5, abs=1e-6)
    without = phase2.ppo_step(models, sgd, batch, everything, advantages, returns, config.replace(kl_in="reward"),
                              trainer.PPO_FUNCTIONS)
    assert "loss/kl" not in without
    assert without["loss/total"] == pytest.approx(step["loss/policy"] - 0.01 * step["entropy"], rel=1e-5, abs=1e-6)


def test_the_loss_aggregation_reaches_the_policy_loss(models, monkeypatch):
    end_of_text_at(monkeypatch, [0, 5, 2, None])                       # completions of 1, 6, 3 and 6 tokens
    config = family("RLOO", stop_at_eos=True)
    batch = batch_of(models, config)
    advantages = adv_lib.broadcast_to_tokens(torch.arange(8.0) - 3.5, batch.mask)     # (B, L)
    everything, got = torch.arange(8), {}
    for how in ("token_mean", "sequence_mean", "constant"):
        cfg = config.replace(loss_aggregation=how)
        terms, _ = phase2.minibatch_terms(models, batch, everything, advantages, advantages, cfg,
                                          trainer.PPO_FUNCTIONS, with_entropy=False)
        got[how] = terms["policy"].item()
        # the first step has ratio 1, so the per-token loss is −A
        assert got[how] == pytest.approx(losses.aggregate(-advantages, batch.mask, how).item(), abs=1e-5), how
    assert len(set(round(v, 5) for v in got.values())) == 3, got


def test_a_learners_five_argument_policy_loss_still_trains_at_the_default(models):
    calls = []

    def my_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps):
        calls.append(mask.shape)
        return losses.policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)

    config = family("GRPO", iterations=1, loss_aggregation="token_mean")
    run = trainer.train(config, models, overrides={"policy_loss": my_policy_loss}, progress=False)
    assert run.status == "finished" and len(calls) == config.ppo_epochs * 2
    with pytest.raises(ConfigError, match=r"loss_aggregation='sequence_mean'.*aggregation"):
        trainer.train(family("GRPO"), models, overrides={"policy_loss": my_policy_loss}, progress=False)


def test_token_mean_is_bitwise_todays_policy_loss():
    g = torch.Generator().manual_seed(0)
    logprobs, old, adv = (torch.randn(4, 5, generator=g) for _ in range(3))
    mask = torch.rand(4, 5, generator=g) > 0.3
    today = losses.policy_loss(logprobs, old, adv, mask, 0.2)
    named = losses.policy_loss(logprobs, old, adv, mask, 0.2, aggregation="token_mean")
    assert torch.equal(today[0], named[0]) and today[1] == named[1]
    assert torch.equal(named[0], losses.masked_mean(torch.max(-adv * torch.exp((logprobs - old).masked_fill(
        ~mask, 0.0)), -adv * torch.clamp(torch.exp((logprobs - old).masked_fill(~mask, 0.0)), 0.8, 1.2)), mask))


# ---------------------------------------------------------------- whole runs, and the teaching helpers
@pytest.mark.parametrize("member", ["GRPO", "Dr. GRPO", "RLOO", "REINFORCE"])
def test_each_family_member_trains_with_finite_metrics(models, member, monkeypatch):
    seen = []
    real = trainer.rollout

    def spy(models_, prompts, config):
        batch = real(models_, prompts, config)
        seen.append(batch.prompts)
        return batch
    monkeypatch.setattr(trainer, "rollout", spy)
    config = family(member, iterations=2 if member == "GRPO" else 1, stop_at_eos=member == "Dr. GRPO")
    run = trainer.train(config, models, progress=False)
    assert run.status == "finished" and len(run.history) == config.iterations
    G = config.group_size
    for prompts in seen:
        assert len(prompts) == 8 and all(len(set(prompts[i:i + G])) == 1 for i in range(0, 8, G))
    for row in run.history:
        assert all(math.isfinite(v) for k, v in row.items() if k != "val/explained_variance"), row
        assert row["loss/value_avg"] == 0.0
        assert ("env/zero_std_groups" in row) == (G > 1) and ("loss/kl_avg" in row) == (config.kl_in == "loss")
        assert ("env/response_length" in row) == config.stop_at_eos
    if G > 1:
        assert 0.0 <= run.history[-1]["env/zero_std_groups"] <= 1.0
    if config.kl_in == "loss":
        assert run.history[-1]["objective/non_score_reward"] == pytest.approx(0.0, abs=1e-6)
    if config.stop_at_eos:
        assert 1.0 <= run.history[-1]["env/response_length"] <= config.response_length


def test_objective_terms_and_the_token_view_speak_grpo(models):
    config = family("GRPO", ent_coef=0.01)
    batch = batch_of(models, config)
    _, advantages, returns, _ = trainer.rewards_and_advantages(batch, config, config.kl_coef, trainer.PPO_FUNCTIONS)
    terms = phase2.objective_terms(models, batch, advantages, returns, config)
    assert list(terms) == ["policy  −L_clip", "value  c1·L_VF", "entropy  −c2·S", "KL  β·KL"]
    assert terms["value  c1·L_VF"] == {"value": 0.0, "weighted": 0.0, "grad_norm": 0.0}
    assert terms["KL  β·KL"]["weighted"] == pytest.approx(config.kl_coef * terms["KL  β·KL"]["value"])
    step = phase2.ppo_step(models, torch.optim.SGD(models.policy.parameters(), lr=0.0), batch, torch.arange(8),
                           advantages, returns, config, trainer.PPO_FUNCTIONS)
    assert sum(t["weighted"] for t in terms.values()) == pytest.approx(step["loss/total"], rel=1e-4, abs=1e-6)
    stats = token_view.token_stats(models, config, PROMPTS, updates=1)
    assert stats["ratio"].shape == (8, 6) and stats["batch"].prompts == [PROMPTS[0]] * 4 + [PROMPTS[1]] * 4


def test_a_checkpoint_from_before_the_family_fields_resumes_as_todays_ppo(models, tmp_path):
    import json

    folder = tmp_path / "ckpt"
    trainer.train(tiny(iterations=1, ppo_epochs=1), models, progress=False, checkpoint_dir=str(folder))
    state = json.loads((folder / "checkpoint.json").read_text())
    new = ("advantage_estimator", "group_size", "scale_rewards", "kl_in", "loss_aggregation", "stop_at_eos")
    state["config"] = {k: v for k, v in state["config"].items() if k not in new}      # as an older package wrote it
    (folder / "checkpoint.json").write_text(json.dumps(state))
    resumed = trainer.train(tiny(iterations=2, ppo_epochs=1), models, progress=False, checkpoint_dir=str(folder),
                            resume=True)
    assert resumed.status == "finished" and [h["iteration"] for h in resumed.history] == [0, 1]
    with pytest.raises(ConfigError, match=r"other settings \(\['advantage_estimator', 'group_size'"):
        trainer.train(family("RLOO", iterations=3, ppo_epochs=1), models, progress=False,
                      checkpoint_dir=str(folder), resume=True)
