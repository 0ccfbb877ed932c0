"""The models of a PPO run: the policy (+ value head), its frozen reference, the reward model and tokenizers.

Every model loads by name through `world.assets` (a bundled model, a local folder or a Hub name; safetensors
only, no remote code); `models_from_config` builds a policy of any GPT-2 shape without a download.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import ConfigError, PPOConfig
from . import verifiable
from .assets import VALUE_HEAD_FILE, AssetError, check_vocabulary, from_pretrained, load_tokenizer, resolve


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

    def save_pretrained(self, folder: str, tokenizer=None) -> None:
        """The LM and value head as safetensors; with its tokenizer, `PPOConfig(policy=folder)` loads it back."""
        self.lm.save_pretrained(folder, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        save_file({k: v.contiguous() for k, v in self.value_head.state_dict().items()},
                  os.path.join(folder, VALUE_HEAD_FILE))


def fuse_gelu(model):
    """GPT-2's tanh-approximated GELU ("gelu_new", a chain of elementwise ops) as torch's one fused
    kernel: the same function to float rounding, and ~8 % of a PPO iteration faster on CPU."""
    from transformers.activations import ACT2FN  # here, not at the top: it adds ~1.5 s to `import ppo_lab`

    if getattr(model.config, "activation_function", None) == "gelu_new":
        for module in model.modules():
            if hasattr(module, "act") and type(module.act).__name__ == "NewGELUActivation":
                module.act = ACT2FN["gelu_pytorch_tanh"]
        model.config.activation_function = "gelu_pytorch_tanh"
    return model


def load_policy(name: str, device="cpu") -> PolicyWithValueHead:
    """`GPT2LMHeadModel` (or any causal LM) + value head; a saved value head is loaded when present."""
    from transformers import AutoModelForCausalLM  # here, not at the top: it adds ~0.5 s to `import ppo_lab`

    policy = PolicyWithValueHead(fuse_gelu(from_pretrained(AutoModelForCausalLM, name, "policy")))
    head = os.path.join(resolve(name), VALUE_HEAD_FILE)
    if os.path.isfile(head):
        policy.value_head.load_state_dict(load_file(head))
    return policy.to(device).eval()


def load_reward_model(name: str, device="cpu"):
    """A sequence classifier: one output (a score) or two (positive vs negative log-odds)."""
    from transformers import AutoModelForSequenceClassification  # here: it adds ~0.5 s to `import ppo_lab`

    model, info = from_pretrained(AutoModelForSequenceClassification, name, "reward_model", output_loading_info=True)
    check_score_head(model, info, name)
    return fuse_gelu(model).to(device).eval().requires_grad_(False)


def check_score_head(model, loading_info: dict, name: str) -> None:
    """Refuse a classifier whose head (score / classifier, outside the base model) was randomly initialised."""
    base = model.base_model_prefix + "."
    head = sorted(k for k in loading_info.get("missing_keys", ()) if not k.startswith(base))
    if head:
        raise AssetError(f"reward_model={name!r} has no trained score head ({', '.join(head)} missing from its "
                         "weights): it is a language model, not a reward model; use 'tiny-reward' or a sequence "
                         "classifier (AutoModelForSequenceClassification, e.g. 'lvwerra/distilbert-imdb')")


# ------------------------------------------------------------------ the models of a run
def pick_device(device: str) -> torch.device:
    """"auto" → CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA GPU is available here; valid: 'cpu', or 'auto' "
                          "(CUDA when present, else CPU)")
    return torch.device(device)


def classifier_score(logits: torch.Tensor, id2label: dict) -> torch.Tensor:
    """A reward model's logits (B, num_labels) as one fp32 score per row: the logit itself with one output; for a
    two-label sentiment classifier, the log-odds logit[positive] − logit[negative]."""
    logits = logits.float()
    if logits.shape[-1] == 1:
        return logits[:, 0]
    labels = {v.lower(): k for k, v in id2label.items()}
    pos = labels.get("positive", labels.get("pos", labels.get("label_1", 1)))
    return logits[:, pos] - logits[:, 1 - pos]


def autocast(config, device) -> torch.autocast:
    """The precision of the model passes: matrix products in bfloat16 under `torch.autocast` when `config.bf16`,
    unchanged fp32 when not (the context is then a no-op). Only forward passes go inside it: weights, gradients and
    Adam state stay fp32, and log-softmax, ratio, KL and losses are computed in fp32 after it (`rollout`)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=config.bf16)


@dataclass
class Models:
    """Everything one PPO run needs: the policy being aligned, its frozen start, the judge."""
    policy: PolicyWithValueHead
    ref: nn.Module                # frozen copy of the starting LM (for the KL penalty)
    reward_model: nn.Module       # or a `verifiable.ProgramReward`: a program that checks the answer
    tokenizer: object
    reward_tokenizer: object
    gold_model: nn.Module | None = None  # optional second judge, never optimised (notebook 06); the policy's tokenizer


def _with_reference_and_judge(policy: PolicyWithValueHead, tokenizer, reward_model: str, device) -> Models:
    """The set-up both loaders share: the embedding grown to the tokenizer (a new pad token), the policy on
    `device`, a frozen copy of its LM as the reference, and the reward model with its own tokenizer."""
    if len(tokenizer) > policy.lm.get_input_embeddings().num_embeddings:
        policy.lm.resize_token_embeddings(len(tokenizer))
    policy = policy.to(device).eval()
    ref = copy.deepcopy(policy.lm).eval().requires_grad_(False)
    if verifiable.is_program(reward_model):                  # a program checks the answer (notebook 11)
        return Models(policy, ref, verifiable.ProgramReward(reward_model), tokenizer, tokenizer)
    judge = load_reward_model(reward_model, device)
    judge_tokenizer = load_tokenizer(reward_model, "reward_model")
    check_vocabulary(judge_tokenizer, judge, reward_model, "reward_model")
    return Models(policy, ref, judge, tokenizer, judge_tokenizer)


def load_models(config) -> Models:
    """Policy + value head, frozen reference, reward model and both tokenizers for a config."""
    device = pick_device(config.device)
    tokenizer = load_tokenizer(config.policy, "policy")
    policy = load_policy(config.policy, device)
    check_vocabulary(tokenizer, policy.lm, config.policy, "policy")
    return _with_reference_and_judge(policy, tokenizer, config.reward_model, device)


def models_from_config(lm_config, device="cpu", reward_model: str = "tiny-reward", tokenizer: str = "tiny-gpt2",
                       seed: int = 0) -> Models:
    """A policy of any `GPT2Config` shape (e.g. gpt2's own), random weights, no download (notebook 08).

    The stand-in for `load_models` where the Hub cannot be reached: the same `PolicyWithValueHead`,
    frozen reference and reward-model loader, with the bundled tokenizer and reward model by default.
    """
    from transformers import GPT2LMHeadModel  # here, not at the top: it adds ~2.5 s to `import ppo_lab`

    device = pick_device(device)
    tok = load_tokenizer(tokenizer, "policy")
    torch.manual_seed(seed)
    policy = PolicyWithValueHead(fuse_gelu(GPT2LMHeadModel(lm_config)))
    return _with_reference_and_judge(policy, tok, reward_model, device)


# ------------------------------------------------------------------ gpt2 where it can run, else its shape (notebook 08)
CPU_SIZES = {"batch_size": 8, "minibatch_size": 4, "response_length": 16, "ppo_epochs": 1}  # seconds per cycle on a CPU


def unloadable(name: str) -> str | None:
    """None when the tokenizer of `name` loads (a bundled model, a folder, the Hub or its local cache); else the first
    line of why not (offline and not cached, the Hub unreachable, a wrong name)."""
    try:
        load_tokenizer(name, "policy")
    except AssetError as e:
        return str(e).splitlines()[0]
    return None


class Picked(NamedTuple):
    """What `gpt2_or_stand_in` chose: the models, the config they run with, the policy's label, and why."""
    models: Models
    config: PPOConfig
    policy: str      # config.policy (the real model) or "<policy>-shaped stand-in"
    why: str         # one line: the GPU, the Hub, and the choice


def gpt2_or_stand_in(config: PPOConfig, stand_in=None, cpu_sizes: dict | None = None) -> Picked:
    """The real `config.policy` and `config.reward_model` (`load_models`) where there is a CUDA GPU and the policy
    loads by name, else a stand-in of `stand_in`'s shape (default `GPT2Config()`: gpt2's 124 M parameters, random
    weights, no download) built by `models_from_config` with the bundled tokenizer and reward model 'tiny-reward'.

    The Hub counts as there when the policy's tokenizer loads: with HF_HUB_OFFLINE=1 from the local Hugging Face
    cache only, else after a connection probe that gives up within `assets.HUB_TIMEOUT_S` seconds. A stand-in on a
    CPU runs at `cpu_sizes` (default `CPU_SIZES`: minutes per cycle become seconds), on a GPU at the config's sizes.
    """
    from transformers import GPT2Config  # here, not at the top: it adds ~2.5 s to `import ppo_lab`

    stand_in = GPT2Config() if stand_in is None else stand_in
    if not isinstance(stand_in, GPT2Config):
        raise ConfigError(f"stand_in={stand_in!r} is not a GPT2Config; valid: None (gpt2's own shape) or e.g. "
                          "GPT2Config(n_layer=4, n_embd=256, n_head=4)")
    cpu_sizes = CPU_SIZES if cpu_sizes is None else cpu_sizes
    unknown = sorted(set(cpu_sizes) - set(config.to_dict()))
    if unknown:
        raise ConfigError(f"cpu_sizes has {unknown}, not config fields; valid: any of {sorted(config.to_dict())}")
    device = pick_device(config.device)
    gpu = f"a CUDA GPU ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "no CUDA GPU here"
    why_not = unloadable(config.policy)               # None: the Hub (or, offline, its local cache) gives it
    if device.type == "cuda" and why_not is None:
        try:
            return Picked(load_models(config), config, config.policy,
                          f"{gpu}; {config.policy!r} loads → the real {config.policy} and {config.reward_model}")
        except AssetError as e:
            why_not = str(e).splitlines()[0]
    hub = why_not or f"{config.policy!r} loads"
    config = config.replace(reward_model="tiny-reward", **({} if device.type == "cuda" else cpu_sizes))
    models = models_from_config(stand_in, device=config.device, reward_model=config.reward_model)
    return Picked(models, config, f"{config.policy}-shaped stand-in",
                  f"{gpu}; {hub} → a {config.policy}-shaped stand-in ({stand_in.n_layer} layers × {stand_in.n_embd}, "
                  "random weights) with the bundled tokenizer and reward model")


__all__ = ["autocast", "check_score_head", "classifier_score", "CPU_SIZES", "fuse_gelu", "gpt2_or_stand_in",
           "load_models", "load_policy", "load_reward_model", "Models", "models_from_config", "pick_device", "Picked",
           "PolicyWithValueHead", "unloadable", "ValueHead"]
