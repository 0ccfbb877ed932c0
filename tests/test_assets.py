"""The foundation: bundled tokenizer, tiny GPT-2 and reward model, their manifest, the data split."""
import json
import os
import re

import pytest
import torch

from ppo_lab.build.evaluate import held_out_accuracy
from ppo_lab.rl.rollout import positive_threshold, reward_scores, sample
from ppo_lab.world import assets as bundled, data, models

MANIFEST = json.load(open(os.path.join(bundled.ASSETS_DIR, "MANIFEST.json")))


def test_manifest_checksums_match_files():
    assert MANIFEST["files"], "the manifest lists no files"
    for rel, meta in MANIFEST["files"].items():
        path = os.path.join(bundled.ASSETS_DIR, rel)
        assert os.path.getsize(path) == meta["bytes"], rel
        assert bundled.sha256(path) == meta["sha256"], rel


def test_assets_are_safetensors_and_small():
    names = list(MANIFEST["files"])
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth"))]
    assert {"tiny-gpt2/model.safetensors", "tiny-reward/model.safetensors"} <= set(names)
    assert sum(m["bytes"] for m in MANIFEST["files"].values()) <= 25 * 2**20


def test_bundled_models_load_with_network_off(no_network):
    tok = models.load_tokenizer("tiny-gpt2")
    policy = models.load_policy("tiny-gpt2")
    rm = models.load_reward_model("tiny-reward")
    assert tok.pad_token_id != tok.eos_token_id and tok.padding_side == "left"
    assert type(policy.lm).__name__ == "GPT2LMHeadModel"
    assert type(rm).__name__ == "GPT2ForSequenceClassification" and rm.config.num_labels == 1
    assert 2e6 <= sum(p.numel() for p in policy.lm.parameters()) <= 6e6


def test_hub_path_builds_gpt2_from_config_without_download(tmp_path, no_network):
    from transformers import GPT2Config, GPT2LMHeadModel
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=500)).save_pretrained(tmp_path)
    policy = models.load_policy(str(tmp_path))
    assert type(policy.lm).__name__ == "GPT2LMHeadModel" and policy.lm.config.n_layer == 2
    assert torch.count_nonzero(policy.value_head.linear.weight) == 0  # zero-initialised value head


def test_lm_completes_every_prompt_with_review_words(bundled):
    torch.manual_seed(0)
    prompts = data.make_prompts()
    vocab = {w for r in data.split("train") for w in re.findall(r"[a-z']+", r.text)}
    words, known = 0, 0
    for i in range(0, len(prompts), 512):
        texts, _ = sample(bundled.policy.lm, bundled.tokenizer, prompts[i:i + 512], 24, 0.8)
        assert all(t.strip() for t in texts), "an empty completion"
        for t in texts:
            found = re.findall(r"[a-z']+", t)
            words, known = words + len(found), known + sum(w in vocab for w in found)
    assert known / words > 0.9, f"only {known / words:.2f} of the sampled words are real review words"


def test_starting_policy_is_mixed_by_the_reward_model(bundled):
    torch.manual_seed(1)
    prompts = data.make_prompts(256, seed=1)
    texts, _ = sample(bundled.policy.lm, bundled.tokenizer, prompts, 24, 0.8)
    from ppo_lab.rl.rollout import encode_prompts
    ids, mask = encode_prompts(bundled.tokenizer, [p + c for p, c in zip(prompts, texts)])
    with torch.inference_mode():
        scores = reward_scores(bundled.reward_model, bundled.reward_tokenizer, bundled.tokenizer, ids, mask, None)
    positive = (scores > positive_threshold(bundled.reward_model)).float().mean().item()
    assert 0.3 <= positive <= 0.7, positive


@pytest.mark.slow
def test_reward_model_accuracy_on_held_out_pairs(bundled):
    """Pairwise accuracy on 1,658 held-out (positive, negative) pairs, random windows of 64 and 32 tokens."""
    held_out = data.split("held_out")
    acc64 = held_out_accuracy(bundled.tokenizer, bundled.reward_model, held_out, 64, seed=0)
    acc32 = held_out_accuracy(bundled.tokenizer, bundled.reward_model, held_out, 32, seed=0)
    assert acc64 == pytest.approx(MANIFEST["figures"]["rm_pairwise_accuracy_64"], abs=2e-3)
    assert acc32 == pytest.approx(MANIFEST["figures"]["rm_pairwise_accuracy_32"], abs=2e-3)
    assert acc64 >= 0.85 and acc32 >= 0.78, (acc64, acc32)


def test_split_is_deterministic_and_disjoint():
    train, held = data.split("train"), data.split("held_out")
    assert [r.text for r in held] == [r.text for r in data.split("held_out")]
    assert not {r.text for r in train} & {r.text for r in held}
    assert 0.08 < len(held) / (len(train) + len(held)) < 0.12
    assert data.lm_documents(train[:200]) == data.lm_documents(train[:200])


def test_prompts_come_only_from_held_out_reviews():
    held_texts = [r.text for r in data.split("held_out")]
    prompts = data.make_prompts(200)
    assert prompts == data.make_prompts(200)
    openings = {" ".join(t.split()[:k]) for t in held_texts for k in range(2, 5)}
    assert all(p in openings for p in prompts)


def test_missing_pad_token_gets_a_dedicated_one_not_eos(tmp_path):
    tok = models.load_tokenizer("tiny-gpt2")
    tok.pad_token = None
    tok.save_pretrained(tmp_path)
    loaded = models.load_tokenizer(str(tmp_path))
    assert loaded.pad_token is not None and loaded.pad_token_id != loaded.eos_token_id
    assert loaded.padding_side == "left"
