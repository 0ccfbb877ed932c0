"""The bundled models in `assets/` ("tiny-gpt2", "tiny-reward"), their manifest, and where a model name points.

`assets/MANIFEST.json` records the sha256 of every bundled file; a bundled model is verified against it
before it loads, and the run cache keys on the same checksums (`cache.asset_checksums`).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re

ASSETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
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
