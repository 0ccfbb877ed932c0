"""Model names, local folders, the Hub and the manifest: every bad input is refused with its real cause."""
import json
import pathlib
import re
import shutil
import socket
import threading
import time

import huggingface_hub.constants
import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from ppo_lab.config import PPOConfig
from ppo_lab.rl import cache
from ppo_lab.world import assets, models as models_lib
from ppo_lab.world.models import AssetError

SMALL = {"n_layer": 1, "n_embd": 32, "n_head": 2}
HUB_FALLBACK = "the course runs offline on the bundled models"



@pytest.fixture
def lm_folder(tmp_path):
    """What `save_pretrained` writes for a small GPT-2: config.json, generation_config.json, model.safetensors."""
    folder = tmp_path / "lm"
    GPT2LMHeadModel(GPT2Config(**SMALL, vocab_size=300, bos_token_id=0, eos_token_id=0)).save_pretrained(folder)
    return folder


def copy_bundled_tokenizer(folder):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{assets.ASSETS_DIR}/tiny-gpt2/{name}", folder / name)


def rewrite_manifest(assets, change):
    path = assets / "MANIFEST.json"
    manifest = json.loads(path.read_text())
    change(manifest["files"])
    path.write_text(json.dumps(manifest))


@pytest.fixture
def no_network_online_mode(no_network, monkeypatch, tmp_path):
    """No network, but HF_HUB_OFFLINE unset (a laptop on a train); an empty HF cache; records every probe."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://huggingface.co")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    probes = []

    def refuse(address, *args, **kwargs):
        probes.append(address)
        raise OSError("network access attempted during an offline test")
    monkeypatch.setattr(socket, "create_connection", refuse)
    return probes


# ------------------------------------------------------------------ 1. a folder without its tokenizer
@pytest.mark.parametrize("field", ["policy", "reward_model"])
def test_a_folder_without_tokenizer_files_is_refused(lm_folder, field, no_network):
    with pytest.raises(AssetError) as err:
        models_lib.load_tokenizer(str(lm_folder), field)
    message = str(err.value)
    assert message.startswith(f"{field}={str(lm_folder)!r} could not be loaded: no tokenizer in {str(lm_folder)!r}")
    assert "copy tokenizer.json and tokenizer_config.json from the model you trained it from" in message
    assert message.endswith(f"or use the bundled {field}='{assets.bundled_alternative(field)}'")


def test_a_tokenizer_far_smaller_than_the_embedding_is_refused(tmp_path, no_network):
    folder = tmp_path / "wide"
    GPT2LMHeadModel(GPT2Config(**SMALL, vocab_size=50257)).save_pretrained(folder)
    copy_bundled_tokenizer(folder)  # a 4k-token tokenizer next to gpt2's 50,257-row embedding
    with pytest.raises(AssetError, match=r"policy=.*its tokenizer has \d+ tokens but the model's embedding has "
                                         r"50257 rows: the tokenizer does not belong to this model"):
        models_lib.load_models(PPOConfig(policy=str(folder)))


def test_a_folder_with_its_tokenizer_still_loads(lm_folder, no_network):
    copy_bundled_tokenizer(lm_folder)
    assert len(models_lib.load_tokenizer(str(lm_folder))) >= 4096


# ------------------------------------------------------------------ 2. local folders: the real cause, never the Hub
def truncate(path, keep=-100):
    path.write_bytes(path.read_bytes()[:keep])


SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
FOLDER_FAULTS = {
    "config_only": (lambda f: (f / "model.safetensors").unlink(), "policy", r"config\.json only: no weights"),
    "pickle_only": (lambda f: ((f / "model.safetensors").unlink(), (f / "pytorch_model.bin").write_bytes(b"\x80\x02")),
                    "policy", r"no model\.safetensors in .*; pickle-only pytorch_model\.bin is refused: convert it "
                              r"to safetensors"),
    "truncated_weights": (lambda f: truncate(f / "model.safetensors"), "policy",
                          r"model\.safetensors in .* is truncated or corrupted"),
    "garbage_weights": (lambda f: (f / "model.safetensors").write_bytes(b"not a safetensors file"), "policy",
                        r"model\.safetensors in .* is truncated or corrupted"),
    "empty_weights": (lambda f: (f / "model.safetensors").write_bytes(b""), "policy",
                      r"model\.safetensors in .* is truncated or corrupted"),
    "no_config": (lambda f: (f / "config.json").unlink(), "policy", r"no config\.json in .*save_pretrained"),
    "corrupt_config": (lambda f: truncate(f / "config.json", 40), "policy", r"config\.json in .* is not valid JSON"),
    "corrupt_value_head": (lambda f: (f / "value_head.safetensors").write_bytes(b"\x00" * 20), "policy",
                           r"value_head\.safetensors in .* is truncated or corrupted"),
    "corrupt_tokenizer": (lambda f: (copy_bundled_tokenizer(f), truncate(f / "tokenizer.json", 1000)), "tokenizer",
                          r"tokenizer\.json in .* is not valid JSON"),
    "missing_shard": (lambda f: ((f / "model.safetensors").rename(f / SHARDS[0]),
                                 (f / "model.safetensors.index.json").write_text(
                                     json.dumps({"weight_map": {"a": SHARDS[0], "b": SHARDS[1]}}))),
                      "policy", r"model-00002-of-00002\.safetensors \(a shard of model\.safetensors\) is missing"),
    "reward_config_only": (lambda f: (f / "model.safetensors").unlink(), "reward_model",
                           r"config\.json only: no weights"),
}


@pytest.mark.parametrize("fault", list(FOLDER_FAULTS))
def test_local_folder_problems_lead_with_the_real_cause_not_the_hub(lm_folder, fault, no_network):
    break_it, loader, cause = FOLDER_FAULTS[fault]
    break_it(lm_folder)
    load = {"policy": models_lib.load_policy, "reward_model": models_lib.load_reward_model,
            "tokenizer": models_lib.load_tokenizer}[loader]
    field = "reward_model" if loader == "reward_model" else "policy"
    with pytest.raises(AssetError) as err:
        load(str(lm_folder))
    message = str(err.value)
    assert message.startswith(f"{field}={str(lm_folder)!r} could not be loaded: "), message
    assert "hub" not in message.lower(), message
    assert re.search(cause, message), message


def test_a_bundled_folder_problem_names_the_file_not_the_hub(assets_copy, no_network):
    bad = assets_copy / "tiny-gpt2" / "tokenizer.json"
    truncate(bad, 5000)
    rewrite_manifest(assets_copy, lambda files: files["tiny-gpt2/tokenizer.json"].update(sha256=assets.sha256(bad)))
    with pytest.raises(AssetError) as err:
        models_lib.load_tokenizer("tiny-gpt2")
    message = str(err.value)
    assert message.startswith("policy='tiny-gpt2' could not be loaded: tokenizer.json in ")
    assert "not valid JSON" in message
    assert "hub" not in message.lower() and "build.assets" in message


# ------------------------------------------------------------------ 3. a misspelt bundled name
@pytest.mark.parametrize("name, field, meant", [
    ("tiny-gpt2 ", "policy", "tiny-gpt2"), (" tiny-gpt2", "policy", "tiny-gpt2"), ("TINY-GPT2", "policy", "tiny-gpt2"),
    ("tiny_gpt2", "policy", "tiny-gpt2"), ("tiny-gtp2", "policy", "tiny-gpt2"), ("Tiny-Reward", "reward_model",
    "tiny-reward"), ("tiny_reward\n", "reward_model", "tiny-reward"), ("tiny-rewrd", "reward_model", "tiny-reward"),
    ("gpt2 ", "policy", "gpt2"),
])
def test_a_misspelt_name_is_refused_with_the_right_spelling(name, field, meant, no_network):
    load = models_lib.load_reward_model if field == "reward_model" else models_lib.load_policy
    with pytest.raises(AssetError) as err:
        load(name)
    assert str(err.value) == f"{field}={name!r} is not a bundled model or a local folder; did you mean {meant!r}?"


@pytest.mark.parametrize("name", ["gpt2", "distilgpt2", "sshleifer/tiny-gpt2", "lvwerra/distilbert-imdb"])
def test_real_hub_names_are_not_taken_for_typos(name):
    assert models_lib.resolve(name) == name


def test_an_existing_folder_wins_over_a_near_miss(lm_folder, monkeypatch):
    monkeypatch.chdir(lm_folder.parent)
    lm_folder.rename(lm_folder.parent / "tiny_gpt2")
    assert models_lib.resolve("tiny_gpt2") == "tiny_gpt2"


# ------------------------------------------------------------------ 4. no network: fail fast
@pytest.mark.parametrize("load, name, field", [
    (models_lib.load_policy, "gpt2", "policy"), (models_lib.load_tokenizer, "gpt2", "policy"),
    (models_lib.load_reward_model, "lvwerra/distilbert-imdb", "reward_model")])
def test_hub_name_without_network_fails_fast_without_offline_mode(no_network_online_mode, load, name, field):
    start = time.monotonic()
    with pytest.raises(AssetError) as err:
        load(name)
    elapsed = time.monotonic() - start
    message = str(err.value)
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert message.startswith(f"{field}={name!r}: the Hugging Face Hub cannot be reached (no connection to "
                              "huggingface.co:443 within 3 s: OSError: network access attempted"), message
    assert message.endswith(f"; {name!r} is not in the local Hugging Face cache); {HUB_FALLBACK}: "
                            f"{field}='{assets.bundled_alternative(field)}'"), message
    assert no_network_online_mode == [("huggingface.co", 443)]  # probed once, then nothing


def test_a_hanging_name_lookup_is_cut_off_at_the_timeout(no_network_online_mode, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: release.wait(30) or None)  # DNS that never answers
    monkeypatch.setattr(assets, "HUB_TIMEOUT_S", 0.5)
    start = time.monotonic()
    try:
        with pytest.raises(AssetError, match=r"policy='gpt2': the Hugging Face Hub cannot be reached \(no connection "
                                             r"to huggingface.co:443 within 0.5 s; 'gpt2' is not in"):
            models_lib.load_policy("gpt2")
    finally:
        release.set()
    assert time.monotonic() - start < 10                                 # far below the 30 s hang


def test_the_probe_honours_hf_endpoint(no_network_online_mode, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.edu:8443")
    with pytest.raises(AssetError, match=r"hub\.example\.edu:8443"):
        models_lib.load_policy("gpt2")
    assert no_network_online_mode == [("hub.example.edu", 8443)]


def test_offline_mode_keeps_the_hub_message_and_does_not_probe(no_network_online_mode, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssetError) as err:
        models_lib.load_policy("gpt2")
    assert str(err.value) == ("policy='gpt2': the Hugging Face Hub cannot be reached (HF_HUB_OFFLINE=1; 'gpt2' is not "
                              f"in the local Hugging Face cache); {HUB_FALLBACK}: policy='tiny-gpt2'")
    assert no_network_online_mode == []


@pytest.mark.parametrize("offline", [False, True])
def test_a_model_in_the_hf_cache_loads_without_network(no_network_online_mode, lm_folder, monkeypatch, offline):
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commit = "0" * 40  # the layout huggingface_hub gives a downloaded repo
    repo = pathlib.Path(huggingface_hub.constants.HF_HUB_CACHE) / "models--ppo-lab--cached-tiny"
    shutil.copytree(lm_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    start = time.monotonic()
    policy = models_lib.load_policy("ppo-lab/cached-tiny")
    assert time.monotonic() - start < 5 and policy.lm.config.n_layer == 1
    assert no_network_online_mode[:1] == ([] if offline else [("huggingface.co", 443)])  # one probe, then the cache


# ------------------------------------------------------------------ 5. a reward model without a trained score head
def test_a_language_model_is_refused_as_reward_model(no_network, lm_folder):
    with pytest.raises(AssetError) as err:
        models_lib.load_reward_model("tiny-gpt2")
    assert str(err.value).startswith(
        "reward_model='tiny-gpt2' has no trained score head (score.weight missing from its weights): it is a language "
        "model, not a reward model; use 'tiny-reward' or a sequence classifier")
    with pytest.raises(AssetError, match=r"no trained score head \(score\.weight missing"):
        models_lib.load_reward_model(str(lm_folder))
    assert models_lib.load_reward_model("tiny-reward").config.num_labels == 1


# ------------------------------------------------------------------ 6. the manifest
def test_read_manifest_is_the_one_source_of_asset_checksums():
    manifest = json.loads(open(f"{assets.ASSETS_DIR}/MANIFEST.json").read())
    expected = {rel: meta["sha256"] for rel, meta in manifest["files"].items()}
    assert assets.read_manifest() == expected == cache.asset_checksums()


def test_no_manifest_gives_no_asset_checksums(tmp_path):
    assert cache.asset_checksums(str(tmp_path)) == {}


MANIFEST_FAULTS = {
    "truncated": (lambda text: text[:200], r"is not valid JSON \(.*\): the manifest is corrupted"),
    "empty": (lambda text: "", r"is not valid JSON"),
    "binary": (lambda text: "\udcff", r"is not valid JSON"),
    "a_list": (lambda text: "[]", r"has no \"files\" table of checksums: the manifest is malformed"),
    "no_files": (lambda text: '{"seed": 0}', r"has no \"files\" table"),
    "files_a_list": (lambda text: '{"files": ["tiny-gpt2/config.json"]}', r"has no \"files\" table"),
    "no_sha256": (lambda text: '{"files": {"tiny-gpt2/config.json": {"bytes": 816}}}',
                  r"the entry for 'tiny-gpt2/config\.json' has no valid sha256 \(got None"),
    "bad_sha256": (lambda text: '{"files": {"tiny-gpt2/config.json": {"sha256": "abc"}}}',
                   r"the entry for 'tiny-gpt2/config\.json' has no valid sha256 \(got 'abc'"),
}


@pytest.mark.parametrize("fault", list(MANIFEST_FAULTS))
def test_a_corrupt_manifest_is_a_clear_error_everywhere(assets_copy, fault):
    corrupt, cause = MANIFEST_FAULTS[fault]
    path = assets_copy / "MANIFEST.json"
    path.write_bytes(corrupt(path.read_text()).encode("utf-8", "surrogateescape"))
    for read in (assets.read_manifest, cache.asset_checksums, lambda: models_lib.load_tokenizer("tiny-gpt2")):
        with pytest.raises(AssetError, match=cause) as err:
            read()
        assert "MANIFEST.json" in str(err.value) and "clean clone" in str(err.value)


def test_a_file_dropped_from_the_manifest_is_not_loaded_unverified(assets_copy):
    rewrite_manifest(assets_copy, lambda files: files.pop("tiny-gpt2/tokenizer_config.json"))
    config = assets_copy / "tiny-gpt2" / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"model_max_length": 64', '"model_max_length": 9999'))
    with pytest.raises(AssetError, match=r"policy='tiny-gpt2': 'tiny-gpt2/tokenizer_config\.json' is not in "
                                         r"MANIFEST\.json, so it cannot be verified"):
        models_lib.load_tokenizer("tiny-gpt2")


@pytest.mark.parametrize("extra", ["pytorch_model.bin", "sub/notes.txt"])
def test_an_unlisted_file_in_a_bundled_folder_is_refused(assets_copy, extra):
    path = assets_copy / "tiny-reward" / extra
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x80\x02")
    with pytest.raises(AssetError, match=rf"reward_model='tiny-reward': 'tiny-reward/{extra}' is not in MANIFEST"):
        models_lib.load_reward_model("tiny-reward")
