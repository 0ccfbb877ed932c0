"""A reward model of one's own (notebook 01): normalising, taste rules, and the disguised mysteries (notebook 07)."""
import pytest
import torch

from ppo_lab.course import failures
from ppo_lab.rl import reward_model
from ppo_lab.rl.rollout import sample
from ppo_lab.world import data


def _raw(model, tokenizer, seqs):
    return reward_model.raw_scores(model, tokenizer, seqs)


def test_normalise_reward_folds_mean_and_std_into_the_weights(models):
    rm, tok = models.reward_model, models.tokenizer
    seqs = [tok("a fine film", add_special_tokens=False)["input_ids"],
            tok("the worst acting i have seen", add_special_tokens=False)["input_ids"],
            tok("it was ok", add_special_tokens=False)["input_ids"]]
    before = _raw(rm, tok, seqs)
    reward_model.normalise_reward(rm, mean=0.7, std=2.5)
    after = _raw(rm, tok, seqs)
    # worked by hand: score' = (score − 0.7) / 2.5, on every text
    torch.testing.assert_close(after, (before - 0.7) / 2.5, rtol=1e-4, atol=1e-5)


def test_standardise_gives_the_policys_completions_mean_0_and_spread_1(models):
    rm, lm, tok = models.reward_model, models.policy.lm, models.tokenizer
    prompts = data.make_prompts(48)
    mean, std = reward_model.standardise(rm, lm, tok, prompts, response_length=12, temperature=0.8, seed=3)
    assert std > 0
    torch.manual_seed(3)                                   # the same completions standardise sampled
    _, ids = sample(lm, tok, prompts, 12, 0.8)
    scores = _raw(rm, tok, ids)
    assert abs(scores.mean().item()) < 1e-4
    assert scores.std().item() == pytest.approx(1.0, abs=1e-4)


def test_fraction_chose_counts_the_chosen_texts_in_a_set():
    prefs = [("good", "bad"), ("bad", "good"), ("great", "awful"), ("awful", "great")]
    assert reward_model.fraction_chose(prefs, {"good", "great"}) == 0.5
    assert reward_model.fraction_chose(prefs[:1], ["good"]) == 1.0
    assert reward_model.fraction_chose(prefs[1:2], ["good"]) == 0.0


def test_pairs_by_taste_keeps_or_swaps_every_pair():
    pairs = [("pos 1", "neg 1"), ("pos 2", "neg 2")]
    assert reward_model.pairs_by_taste(pairs, prefers_positive=True) == pairs
    assert reward_model.pairs_by_taste(pairs, prefers_positive=False) == [("neg 1", "pos 1"), ("neg 2", "pos 2")]


def test_every_mystery_is_a_new_disguise_of_a_gallery_recipe():
    assert set(failures.DISGUISES) == set(failures.MYSTERIES)
    seen = {0, 1}                                            # the gallery's seeds
    for exercise, (seeds, changes) in failures.DISGUISES.items():
        assert not seen & set(seeds), f"{exercise} reuses seeds {seeds}"
        seen |= set(seeds)
        recipe = failures.FAILURES[failures.MYSTERIES[exercise]]
        assert set(changes) <= set(recipe.changes) | {"learning_rate"}


def test_mystery_runs_do_not_name_their_recipe(monkeypatch, models):
    calls = []
    def broken_runs(name, config, seeds, m, **kw):
        calls.append((name, seeds, kw))
        return []
    monkeypatch.setattr(failures, "broken_runs", broken_runs)
    from ppo_lab.config import PPOConfig

    runs = failures.mystery_runs("07.bug_3", PPOConfig.preset("ci"), models)
    assert list(runs) == ["mystery run"]
    assert calls == [("lr_too_high", (15, 16), {"changes": {"learning_rate": 2e-3}})]
    with pytest.raises(ValueError, match="07.bug_9"):
        failures.mystery_runs("07.bug_9", PPOConfig.preset("ci"), models)


def test_a_gold_model_is_logged_and_changes_nothing_else(models):
    """`gold_model` (notebook 06) only watches: same training numbers, plus `gold/rm_mean` = its mean score."""
    import copy
    import dataclasses

    from ppo_lab.config import PPOConfig
    from ppo_lab.rl import cache, ppo as trainer

    config = PPOConfig.preset("ci", iterations=2, batch_size=8, minibatch_size=4, ppo_epochs=1)
    plain = trainer.train(config, copy.deepcopy(models), progress=False)
    watched = dataclasses.replace(copy.deepcopy(models), gold_model=copy.deepcopy(models.reward_model))
    run = trainer.train(config, watched, progress=False)
    for a, b in zip(plain.history, run.history):
        assert "gold/rm_mean" not in a
        # the gold model is the reward model itself here: it must give exactly the rollout's own scores
        assert b.pop("gold/rm_mean") == pytest.approx(b["env/reward_mean"], abs=1e-6)
        assert {k: v for k, v in a.items() if not k.startswith("time/")} == \
               {k: v for k, v in b.items() if not k.startswith("time/")}
    assert all(s["gold_rm"] == pytest.approx(s["score"], abs=1e-3) for s in run.samples)   # each sample's gold score
    assert all("gold_rm" not in s for s in plain.samples)
    assert cache.weights_checksum(watched) != cache.weights_checksum(models), "the cache must key the gold model"
