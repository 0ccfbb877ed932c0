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


def test_mystery_runs_given_the_healthy_runs_refuse_a_mystery_whose_bug_does_not_show(monkeypatch, models):
    from ppo_lab.config import PPOConfig

    monkeypatch.setattr(failures, "broken_runs", lambda *a, **kw: ["a broken run"])
    checked = []
    monkeypatch.setattr(failures, "mystery_shows", lambda ex, runs, healthy: checked.append((ex, healthy)) or False)
    with pytest.raises(RuntimeError, match="07.bug_1 do not carry their bug's signature"):
        failures.mystery_runs("07.bug_1", PPOConfig.preset("ci"), models, ["healthy"])
    assert checked == [("07.bug_1", ["healthy"])]
    monkeypatch.setattr(failures, "mystery_shows", lambda ex, runs, healthy: True)
    assert failures.mystery_runs("07.bug_1", PPOConfig.preset("ci"), models, ["healthy"]) == {
        "mystery run": ["a broken run"]}


def test_preference_pairs_take_a_split_by_name():
    assert data.preference_pairs("held_out", seed=2) == data.preference_pairs(data.split("held_out"), seed=2)
    with pytest.raises(ValueError, match="which='test'"):
        data.preference_pairs("test")


def test_train_reward_starts_from_a_language_model_or_fine_tunes_a_copy(models):
    tok = models.tokenizer
    pairs = reward_model.encode_pairs(tok, data.preference_pairs("train")[:40])
    settings = dict(steps=3, seed=0, batch=4, lengths=(8, 8), warmup=1, progress=False)
    torch.manual_seed(0)
    from_lm = reward_model.train_reward(models.policy.lm, tok, pairs, **settings)
    torch.manual_seed(0)                                   # by hand: a new reward model on the trunk, then trained
    by_hand = reward_model.train_reward(reward_model.reward_model_from_lm(models.policy.lm), tok, pairs, **settings)
    for (name, a), b in zip(from_lm.state_dict().items(), by_hand.state_dict().values()):
        assert torch.equal(a, b), name
    bundled = {k: v.clone() for k, v in models.reward_model.state_dict().items()}
    tuned = reward_model.train_reward(models.reward_model, tok, pairs, **settings)
    assert tuned is not models.reward_model and all(p.requires_grad for p in tuned.parameters())
    assert all(torch.equal(v, bundled[k]) for k, v in models.reward_model.state_dict().items())   # left as it was
    assert not all(torch.equal(v, bundled[k]) for k, v in tuned.state_dict().items())            # the copy learned


def test_standardise_on_a_number_of_prompts_uses_that_many_held_out_openings(models):
    import copy

    rm, lm, tok = models.reward_model, models.policy.lm, models.tokenizer
    by_number = reward_model.standardise(copy.deepcopy(rm), lm, tok, 24, 8, 0.8, seed=1)
    by_list = reward_model.standardise(copy.deepcopy(rm), lm, tok, data.make_prompts(24), 8, 0.8, seed=1)
    assert by_number == by_list


def test_review_scores_read_each_held_out_review_as_the_reward_model_does(models):
    rm, tok = models.reward_model, models.tokenizer
    scores = reward_model.review_scores(rm, tok, n=5, length=12)
    assert set(scores) == {"positive", "negative"} and all(s.shape == (5,) for s in scores.values())
    negative = [r.text for r in data.split("held_out") if r.label == 0][:5]
    ids = [[tok.eos_token_id] + tok(t, add_special_tokens=False)["input_ids"][:11] for t in negative]
    torch.testing.assert_close(scores["negative"], _raw(rm, tok, ids), rtol=1e-5, atol=1e-5)


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


def test_score_histogram_draws_review_scores_as_review_scores_returns_them(models):
    import matplotlib

    matplotlib.use("Agg")
    from ppo_lab.course import plots

    scores = reward_model.review_scores(models.reward_model, models.tokenizer, n=6, length=8)   # torch tensors
    fig = plots.score_histogram(scores["positive"], scores["negative"], 0.25, "scores by label")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == [   # one legend, below the figure
        "negative reviews (human label)", "positive reviews (human label)", "positive threshold +0.25"]
    assert sum(p.get_height() for p in ax.patches) == 12                 # every review counted once
