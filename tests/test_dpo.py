"""DPO on preference pairs (notebook 10): the pairs share their prompt, the sequence log-probs match a slow loop,
the loop logs PPO's names, and a DPO run is as reliable as a PPO run (clear errors, NaN guard, Ctrl-C, cache,
determinism). The loss itself: tests/test_dpo_loss.py."""
import copy
from types import SimpleNamespace

import pytest
import torch

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.maths import losses, preference
from ppo_lab.rl import cache, dpo, preference_pairs
from ppo_lab.rl.rollout import Rollout
from ppo_lab.world import data

SMALL = dict(iterations=2, batch_size=8, minibatch_size=4, response_length=6, ppo_epochs=1)
ROWS = [("this movie", " was a delight from start to end", " was a waste of two hours"),
        ("i rented this film", " and loved every minute", " and fell asleep"),
        ("the acting", " is superb", " is wooden and dull")]


def small(**changes) -> PPOConfig:
    return PPOConfig.preset("ci", **{**SMALL, **changes})


# ---------------------------------------------------------------- the pairs
def test_human_pairs_share_their_prompt_and_take_the_positive_review_as_chosen():
    reviews = data.split("train")[::8]
    label = {r.text: r.label for r in reviews}
    triples = data.shared_prompt_pairs(reviews)
    assert len(triples) > 100
    assert triples == data.shared_prompt_pairs(reviews)                                    # deterministic
    for prompt, chosen, rejected in triples[:50]:
        assert chosen.startswith(" ") and rejected.startswith(" ") and len(prompt.split()) in (2, 3, 4)
        assert {label[t] for t in label if t.startswith(prompt + chosen)} == {1}          # a positive review's
        assert {label[t] for t in label if t.startswith(prompt + rejected)} == {0}        # a negative review's


def test_train_and_held_out_pairs_share_no_review():
    train = {c for _, c, _ in data.shared_prompt_pairs(data.split("train"))}
    held = {c for _, c, _ in data.shared_prompt_pairs(data.split("held_out"))}
    assert held and not train & held


def test_encoded_pairs_cut_completions_and_mask_the_padding(models):
    pairs = preference_pairs.encode_pairs(models.tokenizer, ROWS, small(response_length=5))
    assert pairs.chosen.shape == pairs.rejected.shape == (3, 5)
    short = len(models.tokenizer(" is superb", add_special_tokens=False)["input_ids"])
    assert pairs.chosen_mask[2].sum() == short < 5                                          # padded, masked
    assert (pairs.chosen[2, short:] == models.tokenizer.pad_token_id).all()
    assert [p["prompt"] for p in pairs.texts(models.tokenizer)] == [r[0] for r in ROWS]


def test_pair_logps_match_a_slow_loop_over_unpadded_sequences(models):
    """One padded batched pass == each prompt + completion alone, token by token (float tolerance)."""
    pairs = preference_pairs.encode_pairs(models.tokenizer, ROWS, small(response_length=7))
    chosen, rejected = dpo.pair_logps(models.ref, pairs)
    for i, (prompt, c, r) in enumerate(ROWS):
        for text, got in ((c, chosen[i]), (r, rejected[i])):
            p_ids = models.tokenizer(prompt)["input_ids"]
            c_ids = models.tokenizer(text, add_special_tokens=False)["input_ids"][:7]
            ids = torch.tensor([p_ids + c_ids])
            with torch.no_grad():
                logp = torch.log_softmax(models.ref(input_ids=ids).logits[0].double(), -1)
            slow = sum(logp[len(p_ids) - 1 + t, tok].item() for t, tok in enumerate(c_ids))
            assert got.item() == pytest.approx(slow, abs=1e-3)


def test_a_minibatch_drops_padding_columns_no_pair_uses_and_keeps_its_log_probs(models):
    """take() trims the prompt's all-pad columns and the completions' all-pad tail: narrower, same numbers."""
    pairs = preference_pairs.encode_pairs(models.tokenizer, ROWS, small(response_length=12))
    part = pairs.take([0, 2])                                         # two short prompts, short completions
    widest = max(len(models.tokenizer(ROWS[i][0])["input_ids"]) for i in (0, 2))
    longest = int((pairs.chosen_mask | pairs.rejected_mask)[[0, 2]].sum(1).max())
    assert part.prompt_ids.shape[1] == widest < pairs.prompt_ids.shape[1]
    assert part.chosen.shape[1] == part.rejected.shape[1] == longest < 12
    untrimmed = preference_pairs.Pairs(part.prompts, *(t[[0, 2]] for t in pairs.tensors()))
    for got, want in zip(dpo.pair_logps(models.ref, part), dpo.pair_logps(models.ref, untrimmed)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_sequence_logps_sum_the_valid_tokens_by_hand():
    token_logps = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    assert preference.sequence_logps(token_logps, mask).tolist() == [-6.0, -1.0]


def fake_rollout(scores):
    n = len(scores)
    ids = torch.arange(n * 5).reshape(n, 5)
    return Rollout([f"p{i // 2}" for i in range(n)], [""] * n, ids, torch.ones(n, 5, dtype=torch.long), ids[:, 2:],
                   torch.ones(n, 3, dtype=torch.bool), *(torch.zeros(n, 3),) * 3, torch.tensor(scores), 0.0)


def test_pairs_from_a_rollout_choose_the_higher_score_and_drop_ties():
    pairs = preference_pairs.pairs_from_rollout(fake_rollout([0.1, 0.9, 2.0, -1.0, 1.0, 1.0]))
    assert pairs.prompts == ["p0", "p1"]                                                   # the tie is gone
    assert pairs.chosen[:, 0].tolist() == [7, 12] and pairs.rejected[:, 0].tolist() == [2, 17]
    assert (pairs.prompt_ids[:, 0] == torch.tensor([0, 10])).all()


def test_a_pair_stream_hands_out_every_pair_once_per_pass():
    pairs = preference_pairs.Pairs([str(i) for i in range(5)], *(torch.arange(5).unsqueeze(1),) * 6)
    stream = preference_pairs.PairStream(pairs, torch.Generator().manual_seed(0))
    seen = stream.next(3).prompts + stream.next(2).prompts
    assert sorted(seen) == ["0", "1", "2", "3", "4"]


# ---------------------------------------------------------------- bad input: the field, the value, the range
@pytest.mark.parametrize("pairs, words", [
    ([("this movie", " great", "  ")], "rejected is empty"),
    ([{"prompt": "", "chosen": " a", "rejected": " b"}], "prompt is empty"),
    ({"prompt": ["a", "b"], "chosen": [" x"], "rejected": [" y", " z"]}, "mismatched prompt"),
    ([], "no preference pairs"),
    ([("a", " b")], "is not (prompt, chosen, rejected)"),
])
def test_bad_pairs_are_refused_with_the_pair_named(pairs, words):
    with pytest.raises(ConfigError, match="pairs") as e:
        dpo.train_dpo(small(), pairs)
    assert words in str(e.value)


def test_bad_settings_are_refused_before_anything_loads():
    with pytest.raises(ConfigError, match=r"dpo_beta=0\.0 is out of range; valid: \(0\.0, 100\.0\]"):
        small(dpo_beta=0.0)
    with pytest.raises(ConfigError, match=r"batch_size=9 is odd: .* pairs"):
        dpo.train_dpo(small(batch_size=9, minibatch_size=3))
    with pytest.raises(ConfigError, match=r"minibatch_size=2 .*|dpo_pairs='online'"):
        dpo.train_dpo(small(dpo_pairs="online"), ROWS)
    with pytest.raises(ConfigError, match="not DPO functions"):
        dpo.train_dpo(small(), overrides={"policy_loss": losses.policy_loss})
    with pytest.raises(ConfigError, match="dpo_pairs='nope' is not valid"):
        dpo.train_dpo(small(), "nope")


# ---------------------------------------------------------------- the loop
@pytest.mark.parametrize("source", ["human", "policy", "online"])
def test_a_dpo_run_logs_ppo_names_and_trl_names(models, source):
    run = dpo.train_dpo(small(), source, models, progress=False)
    assert run.status == "finished" and len(run.history) == 2 and run.config.dpo_pairs == source
    for name in ("env/reward_mean", "env/fraction_positive", "gold/vader_mean", "objective/kl", "env/distinct_2",
                 "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                 "logps/rejected", "loss/dpo_avg", "time/iteration"):
        assert all(isinstance(h[name], float) for h in run.history), name
    assert run.history[0]["objective/kl"] == pytest.approx(0.0, abs=1e-4)     # the policy starts as the reference
    assert run.history[0]["loss/dpo_avg"] == pytest.approx(0.6931, abs=0.05)  # −log σ(0) on the first step
    assert run.samples


def test_the_same_seed_gives_the_same_run_and_another_seed_another(bundled):
    runs = [dpo.train_dpo(small(seed=s), "online", copy.deepcopy(bundled), progress=False) for s in (3, 3, 4)]
    assert runs[0].history[1]["loss/dpo_avg"] == runs[1].history[1]["loss/dpo_avg"]
    assert runs[0].history[1]["loss/dpo_avg"] != runs[2].history[1]["loss/dpo_avg"]


def test_training_on_pairs_teaches_the_implicit_reward_to_rank_them(models):
    """Before: π = π_ref, every implicit reward is 0 up to rounding; after a few epochs on the pairs every pair is
    ranked right."""
    config = small(learning_rate=1e-3, iterations=4, ppo_epochs=4, batch_size=6, minibatch_size=6)
    pairs = preference_pairs.encode_pairs(models.tokenizer, ROWS, config)
    assert all(r.abs().max() < 1e-4 for r in dpo.implicit_rewards(models, pairs, 0.1))
    run = dpo.train_dpo(config, ROWS, models, progress=False)
    assert dpo.implicit_reward_accuracy(run.models, pairs, 0.1) == 1.0
    assert run.history[-1]["rewards/margins"] > run.history[0]["rewards/margins"]


def test_a_nan_stops_the_run_and_keeps_the_last_good_weights(models):
    calls = []

    def exploding(*args):
        calls.append(1)
        loss, stats = preference.dpo_loss(*args)
        return (loss * float("nan") if len(calls) > 1 else loss), stats   # iteration 1's step (one a iteration)

    run = dpo.train_dpo(small(iterations=3, ppo_epochs=1, minibatch_size=8), "human", models, progress=False,
                        overrides={"dpo_loss": exploding})
    assert len(run.history) == 1 and "non-finite" in run.status and "iteration" in run.status
    assert all(torch.isfinite(p).all() for p in run.models.policy.parameters())


def test_ctrl_c_keeps_the_iterations_that_finished(models, monkeypatch):
    real, calls = dpo.dpo_iteration, []

    def iteration(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(dpo, "dpo_iteration", iteration)
    run = dpo.train_dpo(small(iterations=3), "human", models, progress=False)
    assert run.status.startswith("interrupted") and len(run.history) == 1


def test_the_run_cache_keeps_dpo_and_ppo_runs_apart(bundled, tmp_path, monkeypatch):
    monkeypatch.setenv("PPO_LAB_CACHE", str(tmp_path))
    config = small(iterations=1)
    first = cache.cached_train(config, bundled, method="dpo", progress=False)
    again = cache.cached_train(config, bundled, method="dpo", progress=False)
    assert again.history == first.history and len(list(tmp_path.iterdir())) == 1
    cache.cached_train(config, bundled, method="dpo", pairs=ROWS, progress=False)        # your pairs: not cached
    assert len(list(tmp_path.iterdir())) == 1
    weights = cache.weights_checksum(bundled)
    assert cache.run_key(config, weights, "cpu", method="dpo") != cache.run_key(config, weights, "cpu")
    with pytest.raises(ValueError, match="method='sft'"):
        cache.cached_train(config, bundled, method="sft")


# ---------------------------------------------------------------- the implicit reward model and the notebook's helpers
def test_batched_logps_equal_one_pass_and_implicit_rewards_share_the_reference(models):
    pairs = preference_pairs.encode_pairs(models.tokenizer, ROWS * 3, small())
    whole = dpo.pair_logps(models.ref, pairs)
    parts = dpo.batched_logps(models.ref, pairs, batch=4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(whole, parts))
    with torch.no_grad():                                        # a policy that moved: another model's weights
        for p in models.policy.lm.parameters():
            p.add_(0.01 * torch.randn_like(p))
    fresh = dpo.implicit_rewards(models, pairs, 0.5)
    shared = dpo.implicit_rewards(models, pairs, 0.5, reference=parts)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(fresh, shared))
    accuracy = dpo.implicit_reward_accuracy(models, pairs, 0.5)
    assert accuracy == pytest.approx((fresh[0] > fresh[1]).float().mean().item())
    assert accuracy == dpo.implicit_reward_accuracy(models, pairs, 5.0)                 # β never changes the ranking
    by_run = dpo.implicit_rewards_of_runs({"moved": [SimpleNamespace(models=models)] * 2}, models, pairs)
    assert list(by_run) == ["moved"] and len(by_run["moved"]) == 2
    one = dpo.implicit_rewards(models, pairs, 1.0)                                     # β = 1: the log-ratio itself
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(by_run["moved"][1], one))
    assert torch.allclose(one[0], 2 * dpo.implicit_rewards(models, pairs, 0.5)[0], atol=1e-5)


def test_the_reward_model_ranks_held_out_human_pairs_as_the_build_measured(bundled):
    from ppo_lab.world import assets

    held_out = dpo.human_pairs(bundled.tokenizer, small(response_length=24), "held_out")
    accuracy = dpo.reward_model_accuracy(bundled, held_out)
    assert 0.65 < accuracy < 0.9                                 # 0.78 measured; the build's own: 0.79 at 32 tokens
    assert 0.65 < assets.build_figures()["rm_pairwise_accuracy_32"] < 0.9


def test_pair_rows_put_the_higher_score_first(models):
    rows = dpo.pair_rows(models, small(), ["this movie was", "i rented this film"], seed=1)
    assert [r["prompt"] for r in rows] == ["this movie was", "i rented this film"]
    assert all(r["chosen score"] >= r["rejected score"] for r in rows)
