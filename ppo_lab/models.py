"""Load the policy (+ value head), the frozen reference, the reward model and tokenizers.

One code path for the bundled models (`"tiny-gpt2"`, `"tiny-reward"` in `assets/`) and for any
`from_pretrained` name or folder (`"gpt2"`, a Hub sentiment classifier). Weights load only from
safetensors; remote code is never run.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass

import torch
from torch import nn

ASSETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
BUNDLED = ("tiny-gpt2", "tiny-reward")
VALUE_HEAD_FILE = "value_head.safetensors"


class AssetError(OSError):
    """A model or tokenizer could not be found or failed its checks."""


# ------------------------------------------------------------------ where a name points
def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_bundled(name: str, assets_dir: str | None = None) -> None:
    """Check every file of a bundled model against `assets/MANIFEST.json`'s sha256."""
    assets_dir = assets_dir or ASSETS_DIR
    manifest_path = os.path.join(assets_dir, "MANIFEST.json")
    if not os.path.isfile(manifest_path):
        raise AssetError(f"assets: no MANIFEST.json in {assets_dir!r}; the bundled models are missing. "
                         "Reinstall from a clean clone, or rebuild them: python -m ppo_lab.build_assets")
    with open(manifest_path) as f:
        files = json.load(f)["files"]
    for rel, meta in files.items():
        if rel.startswith(name + "/"):
            path = os.path.join(assets_dir, rel)
            if not os.path.isfile(path):
                raise AssetError(f"{name}: file {rel!r} is missing from {assets_dir!r}")
            if sha256(path) != meta["sha256"]:
                raise AssetError(f"{name}: checksum mismatch for {rel!r} (expected sha256 {meta['sha256'][:12]}…, "
                                 f"got {sha256(path)[:12]}…): the file is corrupted or was changed. "
                                 "Restore it from a clean clone, or rebuild: python -m ppo_lab.build_assets")


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
                             "clone, or rebuild it: python -m ppo_lab.build_assets")
        verify_bundled(name, assets_dir)
        return folder
    if os.path.isdir(name):
        return name
    if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, not a Hub name
        raise AssetError(f"{field}={name!r}: no such folder. Valid: 'tiny-gpt2', 'tiny-reward', "
                         "a Hub name such as 'gpt2', or an existing local folder")
    return name


def _from_pretrained(cls, name: str, field: str, **kwargs):
    """`cls.from_pretrained` with safetensors only, no remote code, and a clear error when it fails."""
    path = resolve(name, field)
    try:
        return cls.from_pretrained(path, use_safetensors=True, trust_remote_code=False, **kwargs)
    except Exception as e:  # OSError, ValueError, a SafetensorError from a corrupted file…
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in str(e).lower() or "connect" in str(e).lower()
        hint = ("The Hugging Face Hub cannot be reached (offline mode or no network): the course runs offline on "
                f"the bundled models, e.g. {field}='{'tiny-reward' if field == 'reward_model' else 'tiny-gpt2'}'."
                if offline else "Check the name, or that the folder holds a config.json and model.safetensors "
                "(pickle-only .bin checkpoints are refused: convert them to safetensors).")
        raise AssetError(f"{field}={name!r} could not be loaded: {hint}\n  ({type(e).__name__}: {str(e)[:300]})") from e


def load_tokenizer(name: str, field: str = "policy"):
    """The model's tokenizer, with a dedicated pad token (never EOS) and left padding for generation."""
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, name, field)
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    tokenizer.padding_side = "left"
    return tokenizer


# ------------------------------------------------------------------ the value head
class ValueHead(nn.Module):
    """V(s_t): a linear head on the policy's last hidden state, zero at the start (notebook 02)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden).squeeze(-1)  # (B, T, H) → (B, T)


class PolicyWithValueHead(nn.Module):
    """The LLM being aligned and its value head on a shared trunk: one pass gives logits and values."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm
        self.value_head = ValueHead(lm.config.hidden_size if hasattr(lm.config, "hidden_size") else lm.config.n_embd)

    @property
    def device(self):
        return self.lm.device

    def forward(self, input_ids, attention_mask, position_ids, logits_to_keep: int = 0):
        """Logits and values of the last `logits_to_keep` positions (all when 0)."""
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                      output_hidden_states=True, logits_to_keep=logits_to_keep, use_cache=False)
        hidden = out.hidden_states[-1]                                       # (B, T, H), after the final norm
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]                             # (B, K, H)
        return out.logits, self.value_head(hidden)                           # (B, K, V), (B, K)

    def save_pretrained(self, folder: str) -> None:
        from safetensors.torch import save_file

        self.lm.save_pretrained(folder, safe_serialization=True)
        save_file({k: v.contiguous() for k, v in self.value_head.state_dict().items()},
                  os.path.join(folder, VALUE_HEAD_FILE))


def fuse_gelu(model):
    """GPT-2's tanh-approximated GELU ("gelu_new", a chain of elementwise ops) as torch's one fused
    kernel: the same function to float rounding, and ~8 % of a PPO iteration faster on CPU."""
    from transformers.activations import ACT2FN

    if getattr(model.config, "activation_function", None) == "gelu_new":
        for module in model.modules():
            if hasattr(module, "act") and type(module.act).__name__ == "NewGELUActivation":
                module.act = ACT2FN["gelu_pytorch_tanh"]
        model.config.activation_function = "gelu_pytorch_tanh"
    return model


def load_policy(name: str, device="cpu") -> PolicyWithValueHead:
    """`GPT2LMHeadModel` (or any causal LM) + value head; a saved value head is loaded when present."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    policy = PolicyWithValueHead(fuse_gelu(_from_pretrained(AutoModelForCausalLM, name, "policy")))
    head = os.path.join(resolve(name), VALUE_HEAD_FILE)
    if os.path.isfile(head):
        policy.value_head.load_state_dict(load_file(head))
    return policy.to(device).eval()


def load_reward_model(name: str, device="cpu"):
    """A sequence classifier: one output (a score) or two (positive vs negative log-odds)."""
    from transformers import AutoModelForSequenceClassification

    model = fuse_gelu(_from_pretrained(AutoModelForSequenceClassification, name, "reward_model"))
    return model.to(device).eval().requires_grad_(False)


def pick_device(device: str) -> torch.device:
    """"auto" → CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from .config import ConfigError
        raise ConfigError("device='cuda' but no CUDA GPU is available here; valid: 'cpu', or 'auto' "
                          "(CUDA when present, else CPU)")
    return torch.device(device)


@dataclass
class Models:
    """Everything one PPO run needs: the policy being aligned, its frozen start, the judge."""
    policy: PolicyWithValueHead
    ref: nn.Module                # frozen copy of the starting LM (for the KL penalty)
    reward_model: nn.Module
    tokenizer: object
    reward_tokenizer: object


def load_models(config) -> Models:
    """Policy + value head, frozen reference, reward model and both tokenizers for a config."""
    device = pick_device(config.device)
    tokenizer = load_tokenizer(config.policy, "policy")
    policy = load_policy(config.policy, device)
    if len(tokenizer) > policy.lm.get_input_embeddings().num_embeddings:
        policy.lm.resize_token_embeddings(len(tokenizer))
    ref = copy.deepcopy(policy.lm).eval().requires_grad_(False)
    reward_model = load_reward_model(config.reward_model, device)
    reward_tokenizer = load_tokenizer(config.reward_model, "reward_model")
    return Models(policy, ref, reward_model, tokenizer, reward_tokenizer)


def models_from_config(lm_config, device="cpu", reward_model: str = "tiny-reward", tokenizer: str = "tiny-gpt2",
                       seed: int = 0) -> Models:
    """A policy of any `GPT2Config` shape (e.g. gpt2's own), random weights, no download (notebook 08).

    The stand-in for `load_models` where the Hub cannot be reached: the same `PolicyWithValueHead`,
    frozen reference and reward-model loader, with the bundled tokenizer and reward model by default.
    """
    from transformers import GPT2LMHeadModel

    device = pick_device(device)
    tok = load_tokenizer(tokenizer, "policy")
    torch.manual_seed(seed)
    policy = PolicyWithValueHead(fuse_gelu(GPT2LMHeadModel(lm_config)))
    if len(tok) > policy.lm.get_input_embeddings().num_embeddings:
        policy.lm.resize_token_embeddings(len(tok))
    policy = policy.to(device).eval()
    ref = copy.deepcopy(policy.lm).eval().requires_grad_(False)
    return Models(policy, ref, load_reward_model(reward_model, device), tok, load_tokenizer(reward_model, "reward_model"))
