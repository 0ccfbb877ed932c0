"""The bundled models in `assets/` and loading any model or tokenizer by name: a bundled one, a local folder,
or a Hub name, through `from_pretrained`.

`assets/MANIFEST.json` records the sha256 of every bundled file; a bundled model is verified against it
before it loads, and the run cache keys on the same checksums (`cache.asset_checksums`).

Weights load only from safetensors; remote code is never run. A local folder is checked file by file
before loading, so an error names the real cause. Before a Hub name is downloaded the Hub is probed once
with a short timeout; offline or unreachable, the model comes from the local Hugging Face cache, or the
load fails in seconds.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
import socket
import struct
import threading
from urllib.parse import urlparse

from huggingface_hub import constants as hub_constants, try_to_load_from_cache, utils as hub_utils
from transformers.utils import logging as hf_logging

ASSETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "assets")
BUNDLED = ("tiny-gpt2", "tiny-reward", "tiny-arith")  # tiny-arith: notebook 11 (`build.arithmetic`)
MANIFEST_FILE = "MANIFEST.json"
RESTORE = "Restore it from a clean clone, or rebuild: python -m ppo_lab.build.assets"


class AssetError(OSError):
    """A model or tokenizer could not be found or failed its checks."""


# ------------------------------------------------------------------ the bundled models and their manifest
def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(assets_dir: str | None = None, missing_ok: bool = False) -> dict:
    """`assets/MANIFEST.json` as {relative path: sha256}; corrupt or malformed → AssetError.

    Missing → AssetError, or {} with `missing_ok` (the run cache, for runs on Hub models only)."""
    path = os.path.join(assets_dir or ASSETS_DIR, MANIFEST_FILE)
    if not os.path.isfile(path):
        if missing_ok:
            return {}
        raise AssetError(f"assets: no {MANIFEST_FILE} in {os.path.dirname(path)!r}; the bundled models are "
                         "missing. Reinstall from a clean clone, or rebuild them: python -m ppo_lab.build.assets")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise AssetError(f"assets: {path!r} is not valid JSON ({e}): the manifest is corrupted. {RESTORE}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not files:
        raise AssetError(f"assets: {path!r} has no \"files\" table of checksums: the manifest is malformed. {RESTORE}")
    return {rel: _manifest_sha256(path, rel, meta) for rel, meta in files.items()}


def build_figures(assets_dir: str | None = None) -> dict:
    """What the build measured on the bundled models, as `MANIFEST.json` records it ("figures"): the policy's
    held-out perplexity, the reward model's held-out pairwise accuracy at 16, 32 and 64 tokens (notebook 01), …"""
    read_manifest(assets_dir)                                  # a missing or corrupt manifest says so first
    with open(os.path.join(assets_dir or ASSETS_DIR, MANIFEST_FILE), encoding="utf-8") as f:
        return dict(json.load(f).get("figures", {}))


def _manifest_sha256(path: str, rel: str, meta) -> str:
    digest = meta.get("sha256") if isinstance(meta, dict) else None
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise AssetError(f"assets: {path!r}: the entry for {rel!r} has no valid sha256 (got {digest!r}, expected "
                         f"64 hex digits): the manifest is malformed. {RESTORE}")
    return digest


def _files_under(assets_dir: str, name: str) -> list[str]:
    """Every file of a bundled folder as a manifest path ("tiny-gpt2/config.json"); dotfiles are skipped."""
    found = []
    for root, dirs, names in os.walk(os.path.join(assets_dir, name)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_root = os.path.relpath(root, assets_dir).replace(os.sep, "/")
        found += [f"{rel_root}/{n}" for n in sorted(names) if not n.startswith(".")]
    return found


def verify_bundled(name: str, assets_dir: str | None = None, field: str | None = None) -> None:
    """Every file of a bundled model is in `assets/MANIFEST.json`, and matches its sha256."""
    assets_dir = assets_dir or ASSETS_DIR
    who = f"{field}={name!r}" if field else name
    listed = {rel: d for rel, d in read_manifest(assets_dir).items() if rel.startswith(name + "/")}
    for rel in _files_under(assets_dir, name):
        if rel not in listed:
            raise AssetError(f"{who}: {rel!r} is not in {MANIFEST_FILE}, so it cannot be verified and is refused. "
                             "Delete it if you added it; else restore assets/ from a clean clone, or rebuild: "
                             "python -m ppo_lab.build.assets")
    for rel, digest in listed.items():
        path = os.path.join(assets_dir, rel)
        if not os.path.isfile(path):
            raise AssetError(f"{who}: file {rel!r} is missing from {assets_dir!r}. {RESTORE}")
        actual = sha256(path)
        if actual != digest:
            raise AssetError(f"{who}: checksum mismatch for {rel!r} (expected sha256 {digest[:12]}…, got "
                             f"{actual[:12]}…): the file is corrupted or was changed. {RESTORE}")


# ------------------------------------------------------------------ where a name points
def _near_bundled(name: str) -> str | None:
    """The bundled name that `name` is a misspelling of (case, spaces, '_' for '-', a typo), if any."""
    key = name.strip().lower().replace("_", "-")
    if "/" in key or key.startswith((".", "~")):
        return None
    if key in BUNDLED:
        return key
    close = difflib.get_close_matches(key, BUNDLED, n=1, cutoff=0.8)
    return close[0] if close else None


def resolve(name: str, field: str = "policy", assets_dir: str | None = None) -> str:
    """A bundled name → its verified folder; a folder → itself; anything else → a Hub name."""
    assets_dir = assets_dir or ASSETS_DIR
    if not isinstance(name, str) or not name.strip():
        raise AssetError(f"{field}={name!r} is not a model name; use 'tiny-gpt2', 'tiny-reward', "
                         "a Hub name such as 'gpt2', or a local folder")
    if name in BUNDLED:
        folder = os.path.join(assets_dir, name)
        if not os.path.isdir(folder):
            raise AssetError(f"{field}={name!r}: the bundled folder {folder!r} is missing. Reinstall from a clean "
                             "clone, or rebuild it: python -m ppo_lab.build.assets")
        verify_bundled(name, assets_dir, field)
        return folder
    if os.path.isdir(name):
        return name
    guess = _near_bundled(name) or (name.strip() if name != name.strip() else None)
    if guess:
        raise AssetError(f"{field}={name!r} is not a bundled model or a local folder; did you mean {guess!r}?")
    if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, not a Hub name
        raise AssetError(f"{field}={name!r}: no such folder. Valid: 'tiny-gpt2', 'tiny-reward', "
                         "a Hub name such as 'gpt2', or an existing local folder")
    return name


# ====================================================================== loading by name
VALUE_HEAD_FILE = "value_head.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model", "vocab.txt", "spiece.model",
                   "sentencepiece.bpe.model")
JSON_FILES = {"model": ("config.json", "generation_config.json", "model.safetensors.index.json"),
              "tokenizer": ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                            "config.json")}
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
LOAD_KWARGS = {"model": {"use_safetensors": True, "trust_remote_code": False},
               "tokenizer": {"trust_remote_code": False}}
HUB_TIMEOUT_S = 3.0  # one reachability probe before a Hub download: no network fails in seconds, not minutes


def bundled_alternative(field: str) -> str:
    return "tiny-reward" if field == "reward_model" else "tiny-gpt2"


def _or_bundled(name: str, field: str) -> str:
    """The way out that ends a loading error: the bundled model, or restoring it when it is the broken one."""
    if name in BUNDLED:
        return "; restore the folder from a clean clone, or rebuild: python -m ppo_lab.build.assets"
    return f", or use the bundled {field}='{bundled_alternative(field)}'"


# ------------------------------------------------------------------ a local folder, checked before loading
def _json_problem(folder: str, names) -> str | None:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    json.load(f)
            except ValueError as e:
                return f"{name} in {folder!r} is not valid JSON ({e}): copy it again from the model it came from"
    return None


def _safetensors_problem(path: str) -> str | None:
    """None when the header of a safetensors file is readable and accounts for exactly its size."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0] if size >= 8 else size + 1
            if 8 + n > size or n > 100 * 2**20:
                raise ValueError(f"its header claims {n} bytes, the file has {size}")
            header = json.loads(f.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        return (f"{os.path.basename(path)} in {os.path.dirname(path)!r} is truncated or corrupted (unreadable "
                f"header: {e}): copy it again or re-save the model with save_pretrained(folder)")
    if 8 + n + end != size:
        return (f"{os.path.basename(path)} in {os.path.dirname(path)!r} is truncated or corrupted (its header "
                f"describes {8 + n + end} bytes, the file has {size}): copy it again or re-save the model with "
                "save_pretrained(folder)")
    return None


def _weights_problem(folder: str, files: set) -> str | None:
    weights = sorted(f for f in files if f.endswith(".safetensors") and f != VALUE_HEAD_FILE)
    if not weights:
        unsafe = sorted(f for f in files if f.endswith(PICKLED_WEIGHTS))
        if unsafe:
            return (f"no model.safetensors in {folder!r}; pickle-only {unsafe[0]} is refused: convert it to "
                    "safetensors (load it once where you trust it, then model.save_pretrained(folder))")
        return (f"config.json only: no weights (no model.safetensors) in {folder!r}: save the trained model "
                "there with model.save_pretrained(folder)")
    if "model.safetensors.index.json" in files:
        with open(os.path.join(folder, "model.safetensors.index.json"), encoding="utf-8") as f:
            index = json.load(f)
        shards = set((index.get("weight_map") or {}).values()) if isinstance(index, dict) else set()
        if shards - files:
            return f"{sorted(shards - files)[0]} (a shard of model.safetensors) is missing from {folder!r}"
    for name in weights + [VALUE_HEAD_FILE] * (VALUE_HEAD_FILE in files):
        problem = _safetensors_problem(os.path.join(folder, name))
        if problem:
            return problem
    return None


def folder_problem(folder: str, kind: str) -> str | None:
    """What keeps a local folder from loading as a "model" or a "tokenizer", or None."""
    files = set(os.listdir(folder))
    problem = _json_problem(folder, JSON_FILES[kind])
    if problem:
        return problem
    if kind == "model" and "config.json" not in files:
        return f"no config.json in {folder!r}: it is not a saved model; save it with save_pretrained(folder)"
    if kind == "model":
        return _weights_problem(folder, files)
    if not files & set(TOKENIZER_FILES):
        return (f"no tokenizer in {folder!r} (no tokenizer.json, vocab.json or tokenizer.model): copy "
                "tokenizer.json and tokenizer_config.json from the model you trained it from (a trained "
                "policy: run.models.policy.save_pretrained(folder, run.models.tokenizer) saves both)")
    return None


# ------------------------------------------------------------------ from_pretrained, local or Hub
def _hub_offline() -> bool:
    flags = (os.environ.get(v, "").strip().upper() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f in ("1", "ON", "YES", "TRUE") for f in flags) or bool(hub_constants.HF_HUB_OFFLINE)


def _hub_address() -> tuple[str, int]:
    """Host and port a Hub download connects to first: the HTTPS proxy when set, else `HF_ENDPOINT`."""
    url = (os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("HF_ENDPOINT")
           or hub_constants.ENDPOINT)
    parts = urlparse(url if "://" in url else "http://" + url)
    return parts.hostname or "huggingface.co", parts.port or (443 if parts.scheme == "https" else 80)


def hub_unreachable(timeout: float | None = None) -> str | None:
    """None when the Hub (or the proxy) accepts a connection within `timeout` s; else why not.

    The probe runs in a thread: a name lookup that hangs (no DNS) is cut off at the timeout too."""
    host, port = _hub_address()
    timeout = HUB_TIMEOUT_S if timeout is None else timeout
    outcome = {}

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["ok"] = True
        except Exception as e:  # noqa: BLE001 — OSError, a bad host name…
            outcome["error"] = f"{type(e).__name__}: {e}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if outcome.get("ok"):
        return None
    return f"no connection to {host}:{port} within {timeout:g} s" + (f": {outcome['error']}" if outcome else "")


def _load_local(cls, folder: str, name: str, field: str, kind: str, **kwargs):
    problem = folder_problem(folder, kind)
    if problem:
        raise AssetError(f"{field}={name!r} could not be loaded: {problem}{_or_bundled(name, field)}")
    try:
        return cls.from_pretrained(folder, **LOAD_KWARGS[kind], **kwargs)
    except Exception as e:  # whatever from_pretrained raises: re-raised as AssetError with the cause
        raise AssetError(f"{field}={name!r} could not be loaded from the folder {folder!r}: {type(e).__name__}: "
                         f"{str(e)[:300]}; check that it holds what save_pretrained writes"
                         f"{_or_bundled(name, field)}") from e


def _cached_copy(cls, name: str, kwargs: dict):
    """(the model from the local Hugging Face cache, None) when it is there, else (None, why not)."""
    try:
        cached = any(isinstance(try_to_load_from_cache(name, f), str)
                     for f in ("config.json", "tokenizer_config.json", "tokenizer.json"))
    except Exception:  # noqa: BLE001 — not a valid repo id: certainly not cached
        cached = False
    if not cached:
        return None, f"{name!r} is not in the local Hugging Face cache"
    try:
        return cls.from_pretrained(name, local_files_only=True, **kwargs), None
    except Exception as e:  # noqa: BLE001 — a partial or pickle-only copy
        return None, f"its copy in the local Hugging Face cache does not load: {type(e).__name__}: {str(e)[:200]}"


def _load_hub(cls, name: str, field: str, kind: str, **kwargs):
    """From the Hub after one short reachability probe; offline or unreachable, from the local cache."""
    kwargs = {**LOAD_KWARGS[kind], **kwargs}
    why = "HF_HUB_OFFLINE=1" if _hub_offline() else hub_unreachable()
    if why is None:
        try:
            return cls.from_pretrained(name, **kwargs)
        except Exception as e:  # whatever the download raises: re-raised as AssetError with the cause
            raise AssetError(f"{field}={name!r} could not be loaded from the Hugging Face Hub: {type(e).__name__}: "
                             f"{str(e)[:300]}. Check the name (e.g. 'gpt2'), that it has safetensors weights, or "
                             f"use the bundled {field}='{bundled_alternative(field)}'") from e
    model, not_cached = _cached_copy(cls, name, kwargs)
    if model is not None:
        return model
    raise AssetError(f"{field}={name!r}: the Hugging Face Hub cannot be reached ({why}; {not_cached}); the course "
                     f"runs offline on the bundled models: {field}='{bundled_alternative(field)}'")


@contextlib.contextmanager
def quiet_loading():
    """No "Loading weights: 100 %" bar: a model loads in milliseconds and the course loads many (from a
    folder, the Hub's local cache or the Hub). A real Hub download keeps its own progress bar."""
    was_on, hub_on = hf_logging.is_progress_bar_enabled(), not hub_utils.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()             # transformers' bars, and with them the Hub's…
    if hub_on:
        hub_utils.enable_progress_bars()          # …so the Hub's download bars are switched back on
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
        if not hub_on:
            hub_utils.disable_progress_bars()


def from_pretrained(cls, name: str, field: str, kind: str = "model", **kwargs):
    """`cls.from_pretrained` with safetensors only, no remote code, and an error that leads with the cause."""
    path = resolve(name, field)
    with quiet_loading():
        if os.path.isdir(path):
            return _load_local(cls, path, name, field, kind, **kwargs)
        return _load_hub(cls, name, field, kind, **kwargs)


def load_tokenizer(name: str, field: str = "policy"):
    """The model's tokenizer, with a dedicated pad token (never EOS) and left padding for generation."""
    from transformers import AutoTokenizer  # here, not at the top: it adds ~0.5 s to `import ppo_lab`

    tokenizer = from_pretrained(AutoTokenizer, name, field, "tokenizer")
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    tokenizer.padding_side = "left"
    # Whole reviews are tokenised, then cropped to the context (reward-model training, notebook 01); nothing
    # longer ever reaches a model (`rl.checks.check_context`). So transformers' once-per-tokenizer warning
    # "Token indices sequence length is longer than … (820 > 64)" is marked as given: no id changes.
    if isinstance(getattr(tokenizer, "deprecation_warnings", None), dict):
        tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    return tokenizer


def check_vocabulary(tokenizer, model, name: str, field: str) -> None:
    """A tokenizer far smaller than the model's embedding (under half) belongs to another model."""
    rows = model.get_input_embeddings().num_embeddings
    if 2 * len(tokenizer) < rows:
        raise AssetError(f"{field}={name!r}: its tokenizer has {len(tokenizer)} tokens but the model's embedding has "
                         f"{rows} rows: the tokenizer does not belong to this model. Copy tokenizer.json and "
                         "tokenizer_config.json from the model you trained it from, or use the bundled "
                         f"{field}='{bundled_alternative(field)}'")


__all__ = ["AssetError", "ASSETS_DIR", "build_figures", "BUNDLED", "bundled_alternative", "check_vocabulary",
           "folder_problem", "from_pretrained", "HUB_TIMEOUT_S", "hub_unreachable", "JSON_FILES", "LOAD_KWARGS",
           "load_tokenizer", "MANIFEST_FILE", "PICKLED_WEIGHTS", "quiet_loading", "read_manifest", "resolve",
           "RESTORE", "sha256", "TOKENIZER_FILES", "VALUE_HEAD_FILE", "verify_bundled"]
