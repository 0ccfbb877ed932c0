"""What learners read: end-of-text shown as ∎ wherever a completion is shown, the metrics' text untouched."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from hypothesis import given, settings, strategies as st

import ppo_lab as lab
from ppo_lab.cli import reports
from ppo_lab.rl import metrics, rollout
from ppo_lab.rl.rollout import END_MARK, readable, token_texts
from ppo_lab.world.models import load_tokenizer

TOK = load_tokenizer("tiny-gpt2")
EOS = TOK.eos_token_id
ORDINARY = st.integers(0, len(TOK) - 1).filter(lambda t: t not in (EOS, TOK.pad_token_id))


def ids(text: str) -> list[int]:
    return TOK(text, add_special_tokens=False)["input_ids"]


def test_two_documents_are_shown_apart_not_glued():
    row = ids(" a good.") + [EOS] + ids("i don't get it")
    assert TOK.decode(row, skip_special_tokens=True) == " a good.i don't get it"      # what the metrics read
    assert readable(row, TOK) == " a good. ∎ i don't get it"


@settings(max_examples=60, deadline=None)
@given(st.lists(ORDINARY, max_size=24))
def test_without_end_of_text_the_text_is_exactly_the_plain_decode(row):
    assert readable(row, TOK) == TOK.decode(row, skip_special_tokens=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(ORDINARY, st.just(EOS)), max_size=24))
def test_the_mark_stands_exactly_where_each_end_of_text_token_is(row):
    mark = END_MARK.strip()
    if mark in TOK.decode([t for t in row if t != EOS]):
        return                                             # a token that itself decodes to ∎: nothing to count
    shown = readable(row, TOK)
    assert shown.count(mark) == row.count(EOS)
    pieces, run = [], []
    for t in row + [EOS]:
        if t == EOS:
            pieces.append(TOK.decode(run, skip_special_tokens=True).strip(" "))
            run = []
        else:
            run.append(t)
    assert [p.strip(" ") for p in shown.split(mark)] == pieces


def test_batches_and_tokens_show_the_mark_too():
    good, bad = ids(" good")[0], ids(" bad")[0]
    batch = torch.tensor([[good, EOS, bad], [good, bad, good]])                     # (2, 3)
    assert readable(batch, TOK) == [TOK.decode([good]) + END_MARK + TOK.decode([bad]).strip(),
                                    TOK.decode(batch[1], skip_special_tokens=True)]
    tokens = token_texts(batch, TOK)
    assert tokens[0][1] == "∎" and tokens[1] == [TOK.decode([t]) for t in batch[1].tolist()]


def with_end_of_text(monkeypatch, column: int = 3):
    """Every sampled completion gets an end-of-text token at `column` (so the mark surely appears)."""
    real = rollout.generate

    def generate(lm, tokenizer, *args, **kwargs):
        response = real(lm, tokenizer, *args, **kwargs).clone()          # (B, L)
        response[:, column] = tokenizer.eos_token_id
        return response
    monkeypatch.setattr(rollout, "generate", generate)


def test_text_metrics_read_the_plain_strings_and_samples_keep_both(models, monkeypatch):
    with_end_of_text(monkeypatch)
    seen = {"gold": [], "distinct": []}
    real_gold, real_distinct = metrics.gold_scores, metrics.distinct_n

    def gold_scores(texts):
        seen["gold"] += list(texts)
        return real_gold(texts)

    def distinct_n(texts, n):
        seen["distinct"] += list(texts)
        return real_distinct(texts, n)
    monkeypatch.setattr(metrics, "gold_scores", gold_scores)
    monkeypatch.setattr(metrics, "distinct_n", distinct_n)
    config = lab.PPOConfig.preset("ci", iterations=1, batch_size=4, minibatch_size=4, response_length=8,
                                  num_samples=2)
    run = lab.train(config, models, progress=False)
    assert run.history and seen["gold"] and seen["distinct"]
    assert not any(END_MARK.strip() in t for t in seen["gold"] + seen["distinct"])   # metrics: the old strings
    for s in run.samples:
        assert "∎" in s["readable"] and "∎" not in s["completion"]
        assert s["readable"].replace(" ∎ ", "").replace(" ", "") == s["completion"].replace(" ", "")
        assert s["prompt"] + s["completion"] in seen["gold"] and s["completion"] in seen["distinct"]


def test_a_rollout_keeps_the_metric_text_and_adds_the_readable_one(models, monkeypatch):
    with_end_of_text(monkeypatch, column=0)
    config = lab.PPOConfig.preset("ci", batch_size=3, minibatch_size=3, response_length=6)
    batch = rollout.rollout(models, ["this movie", "the acting", "what a"], config)
    assert batch.completions == models.tokenizer.batch_decode(batch.response, skip_special_tokens=True)
    assert batch.readable_completions == readable(batch.response, models.tokenizer)
    assert all(text.startswith(END_MARK) for text in batch.readable_completions)


def test_samples_markdown_shows_the_mark_and_left_aligns_text():
    run = lab.Run(lab.PPOConfig.preset("ci"), None, [{"iteration": 0}], status="finished")
    run.samples = [{"iteration": 0, "prompt": "this film", "completion": " was good.i liked it",
                    "readable": " was good. ∎ i liked it", "score": 0.5, "gold": 0.4, "positive": True}]
    rows = [{"prompt": "this film", "before": " bad.so", "before_readable": " bad. ∎ so", "before_score": -0.1,
             "after": " good", "after_score": 0.9, "flipped": True}]
    text = reports.samples_markdown(run, rows)
    assert " was good. ∎ i liked it |" in text and " bad. ∎ so |" in text and "|  good | 0.9 |" in text
    assert "|:---|:---|---:|:---|---:|:---|" in text and "|---:|:---|:---|---:|---:|:---|" in text


def test_long_reviews_tokenise_whole_and_quietly(capfd):
    review = "this film was a delight from start to finish. " * 40
    fresh = load_tokenizer("tiny-gpt2")
    got = fresh([review], add_special_tokens=False)["input_ids"][0]
    assert len(got) > fresh.model_max_length                  # nothing cropped: the ids are the same as ever
    assert got == ids(review)
    assert "Token indices sequence length" not in "".join(capfd.readouterr())


def test_text_table_left_aligns_and_never_cuts():
    long = " a good. ∎ i don't get it" * 6
    html = lab.plots.text_table([{"prompt": "this movie was", "completion": long, "score": 0.123}]).to_html()
    assert long in html and "text-align: left" in html and "0.12" in html


@pytest.mark.parametrize("key", ["before", "completion"])
def test_rows_from_before_the_mark_existed_still_show(key):
    row = {key: " plain text"}
    assert reports.shown(row, key) == " plain text"
