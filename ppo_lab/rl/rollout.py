"""Phase I (giai đoạn I, notebook 00): the policy completes the prompts, the reward model scores them."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import GenerationConfig

from ..maths.losses import entropy, logprobs_from_logits
from ..world.models import autocast, classifier_score
from ..world.verifiable import ProgramReward

END_MARK = " ∎ "
"""How a learner sees the end-of-text token inside a completion: ∎, the tombstone that ends an article.

Sampling runs past end-of-text (`generate`: a fixed length, as in Ziegler et al.), so one completion can
hold the end of one document and the start of the next, and the reward model scores all of it.
Decoding with `skip_special_tokens=True` (`Rollout.completions`, the input of every text metric) drops
the token and glues the two documents together: " a good.i don't get it". `readable` shows where it
was: " a good. ∎ i don't get it". Every table, print-out and figure of completions uses it. With
`config.stop_at_eos` a completion ends at its first end-of-text instead (`completion_mask`): what follows is padding.
"""


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on the first real token of a left-padded row: cumsum(mask) − 1."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)


def encode_prompts(tokenizer, prompts: list[str], device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask, so every completion starts at the same column."""
    tokenizer.padding_side = "left"
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True)
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)  # (B, P), (B, P)


@torch.inference_mode()
def generate(lm, tokenizer, prompt_ids, prompt_mask, response_length: int,
             temperature: float | None) -> torch.Tensor:
    """Sample exactly `response_length` tokens per prompt (top_k=0, top_p=1, past any EOS; greedy with temperature
    None).

    Sampling goes on past an end-of-text token (`eos_token_id=[]`: None would fall back to the
    model's own EOS), as in Ziegler et al. (2019), so every response
    has the same length and the reward model sees the whole of it.
    """
    # never sampled: the pad token, and ids past the tokenizer (models whose embedding is wider)
    suppress = [tokenizer.pad_token_id] + list(range(len(tokenizer), lm.config.vocab_size))
    sampling = dict(do_sample=True, top_k=0, top_p=1.0, temperature=temperature) if temperature else dict(
        do_sample=False)                                                               # None: greedy
    config = GenerationConfig(**sampling, max_new_tokens=response_length, min_new_tokens=0, eos_token_id=[],
                              pad_token_id=tokenizer.pad_token_id, bos_token_id=None, suppress_tokens=suppress)
    out = lm.generate(input_ids=prompt_ids, attention_mask=prompt_mask, generation_config=config)
    return out[:, prompt_ids.shape[1]:]  # (B, L)


def readable(ids, tokenizer):
    """A completion as the learner reads it: END_MARK where each end-of-text token is (notebook 00).

    `ids`: one completion's token ids → str, or a batch (B, L) → list[str]. Without an end-of-text
    token the text is exactly `tokenizer.decode(ids, skip_special_tokens=True)`.
    """
    rows = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    if (ids.dim() == 2) if hasattr(ids, "dim") else (rows and isinstance(rows[0], (list, tuple))):
        return [readable(row, tokenizer) for row in rows]
    pieces = [[]]                                      # the token runs between end-of-text tokens
    for token in rows:
        if token == tokenizer.eos_token_id:
            pieces.append([])
        else:
            pieces[-1].append(token)
    texts = [tokenizer.decode(piece, skip_special_tokens=True) for piece in pieces]
    if len(texts) == 1:
        return texts[0]
    return END_MARK.join([texts[0].rstrip(" ")] + [t.strip(" ") for t in texts[1:]])


def token_texts(response, tokenizer) -> list[list[str]]:
    """Each response token as its own text, one list per completion; end-of-text shows as ∎ (END_MARK)."""
    mark = END_MARK.strip()
    return [[mark if t == tokenizer.eos_token_id else tokenizer.decode([t]) for t in row]
            for row in (response.tolist() if hasattr(response, "tolist") else response)]


def sample(lm, tokenizer, prompts: list[str], response_length: int, temperature: float):
    """Completions as text, and each prompt + completion as a list of token ids (no padding).

    The texts drop end-of-text (the metrics' form); to show them: `readable([f[-response_length:] for f in full],
    tokenizer)`, since every completion is exactly `response_length` tokens long.
    """
    ids, mask = encode_prompts(tokenizer, prompts, lm.device)
    response = generate(lm, tokenizer, ids, mask, response_length, temperature)  # (B, L)
    texts = tokenizer.batch_decode(response, skip_special_tokens=True)
    full = [p[m.bool()].tolist() + r.tolist() for p, m, r in zip(ids, mask, response)]
    return texts, full


@torch.inference_mode()
def complete(lm, tokenizer, prompt_texts: list[str], response_length: int, temperature: float | None,
             batch: int = 1024) -> list[str]:
    """Each prompt's completion up to its first end-of-text: sampled at `temperature`, or greedy with None."""
    texts = []
    for start in range(0, len(prompt_texts), batch):
        ids, mask = encode_prompts(tokenizer, prompt_texts[start:start + batch], lm.device)   # (b, P)
        response = generate(lm, tokenizer, ids, mask, response_length, temperature)          # (b, L)
        response = torch.where(until_end_of_text(response, tokenizer.eos_token_id), response, tokenizer.pad_token_id)
        texts += tokenizer.batch_decode(response, skip_special_tokens=True)                  # cut at end-of-text
    return texts


# ------------------------------------------------------------------ model passes over a rollout
def response_logits(lm_or_policy, ids, mask, response_length: int, temperature: float):
    """Logits (÷ temperature) that predict each response token, and values if a value head is there, both fp32
    (under bf16 autocast the model's outputs are bfloat16; `.float()` is free when they are fp32 already).

    The sequence is prompt (left-padded) + response; position P−1+t predicts response token t, so
    only the last L+1 positions get logits, and the last of those is dropped.
    """
    kwargs = dict(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask))
    if hasattr(lm_or_policy, "value_head"):
        logits, values = lm_or_policy(**kwargs, logits_to_keep=response_length + 1)
        return logits[:, :-1].float() / temperature, values[:, :-1].float()   # (B, L, V), (B, L)
    logits = lm_or_policy(**kwargs, logits_to_keep=response_length + 1, use_cache=False).logits
    return logits[:, :-1].float() / temperature, None                        # (B, L, V)


def response_logprobs(model, ids, mask, response, config):
    """Logits, log π(response token) and values of a model on prompt + response (values: None without a head).

    The forward pass runs at the config's precision (`models.autocast`: bf16 or fp32); what it returns is fp32.
    ids, mask (B, P + L), response (B, L) → logits (B, L, V), log-probs (B, L), values (B, L).
    """
    with autocast(config, ids.device):
        logits, values = response_logits(model, ids, mask, config.response_length, config.temperature)  # (B, L, V)
    return logits, logprobs_from_logits(logits, response), values                                 # (B, L)


def reward_scores(reward_model, reward_tokenizer, tokenizer, ids, mask, texts) -> torch.Tensor:
    """The reward model's score of prompt + completion, one per row (B,).

    Same tokenizer: the policy's own ids (left-padded, with position ids). Another tokenizer
    (a Hub classifier): the decoded texts, re-encoded with it. A two-label sentiment classifier
    gives the log-odds logit[positive] − logit[negative]. A reward program (`verifiable.ProgramReward`) reads the texts.
    """
    if isinstance(reward_model, ProgramReward):               # a program checks the answer (`verifiable`)
        return reward_model.score_texts(texts).to(ids.device)
    if reward_tokenizer.get_vocab() == tokenizer.get_vocab():
        logits = reward_model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits
    else:
        reward_tokenizer.padding_side = "right"
        enc = reward_tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(ids.device)
        logits = reward_model(**enc).logits                            # (B, num_labels)
    return classifier_score(logits, reward_model.config.id2label)     # (B,) fp32, also after a bf16 pass


def positive_threshold(reward_model) -> float:
    """The score above which a completion counts as positive (0 for a classifier's log-odds; a reward program's
    own threshold: a right answer)."""
    if isinstance(reward_model, ProgramReward):
        return float(reward_model.threshold)
    return float(getattr(reward_model.config, "positive_threshold", 0.0))


@dataclass
class Rollout:
    """One Phase I batch: every tensor is (B, L) over response tokens unless noted."""
    prompts: list[str]
    completions: list[str]      # decoded without end-of-text: what the text metrics (VADER, distinct-2) read
    ids: torch.Tensor            # (B, P + L) prompt + response
    attention_mask: torch.Tensor  # (B, P + L)
    response: torch.Tensor       # (B, L) sampled tokens
    mask: torch.Tensor           # (B, L) bool, valid response tokens
    logprobs: torch.Tensor       # log π_old(token)
    ref_logprobs: torch.Tensor   # log π_ref(token)
    values: torch.Tensor         # V_old(s_t)
    scores: torch.Tensor         # (B,) reward model's score (1 or 0 with `binary_reward`)
    entropy: float               # mean per-token entropy of π_old's next-token distributions
    readable_completions: list[str] = field(default_factory=list)  # what a learner reads: end-of-text as ∎
    gold: list[float] = field(default_factory=list)  # VADER's scores, set after Phase I (`metrics.judge`): no loss
    gold_judge: str = "vader"    # or "exact_match": a reward program's world is judged by exact match
    gold_rm: list[float] = field(default_factory=list)  # a gold reward model's scores, where a run has one (06)

    def take(self, rows: torch.Tensor) -> Rollout:
        """These rows of the batch, in this order (e.g. the groups dynamic sampling keeps, notebook 11)."""
        pick = lambda values: [values[i] for i in rows.tolist()] if values else []
        return Rollout(pick(self.prompts), pick(self.completions), self.ids[rows], self.attention_mask[rows],
                       self.response[rows], self.mask[rows], self.logprobs[rows], self.ref_logprobs[rows],
                       self.values[rows], self.scores[rows], self.entropy, pick(self.readable_completions),
                       pick(self.gold), self.gold_judge, pick(self.gold_rm))


def gold_judge_of(reward_model) -> str:
    """Who judges a rollout beside its reward: VADER (the review world), or exact match where the reward is a program
    (notebook 11), whatever partial credit the program gives."""
    return "exact_match" if isinstance(reward_model, ProgramReward) else "vader"


def until_end_of_text(response: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """Valid tokens of completions that stop at end-of-text: True up to and including each row's first
    end-of-text token (the action that ended the text), False after it. response (B, L) → mask (B, L) bool.
    """
    is_eos = (response == eos_token_id).long()                                         # (B, L)
    return (is_eos.cumsum(dim=1) - is_eos) == 0                                        # (B, L) no end-of-text before t


def completion_mask(response: torch.Tensor, tokenizer, config) -> tuple[torch.Tensor, torch.Tensor]:
    """(response, mask): every token valid (fixed-length completions), or with `config.stop_at_eos` each token
    after the first end-of-text replaced by the pad token and masked out, so every model pass, the reward model
    (it scores its last non-pad token) and the decoded texts see the completion cut there.
    """
    if not config.stop_at_eos:
        return response, torch.ones_like(response, dtype=torch.bool)                   # (B, L)
    mask = until_end_of_text(response, tokenizer.eos_token_id)                         # (B, L)
    return torch.where(mask, response, tokenizer.pad_token_id), mask                   # (B, L), (B, L)


@torch.inference_mode()
def rollout(models, prompts: list[str], config) -> Rollout:
    """Phase I: each prompt completed G = `config.group_size` times (consecutive rows: prompt 0 ×G, prompt 1 ×G, …),
    then one pass each of policy (+ values), reference and reward model. B = len(prompts)·G rows.
    """
    policy, tokenizer = models.policy, models.tokenizer
    prompts = [p for p in prompts for _ in range(config.group_size)]                   # B = prompts × G
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts, policy.device)       # (B, P)
    L = config.response_length
    with autocast(config, policy.device):                                              # bf16 or fp32 (config.bf16)
        response = generate(policy.lm, tokenizer, prompt_ids, prompt_mask, L, config.temperature)  # (B, L)
    response, mask = completion_mask(response, tokenizer, config)                      # (B, L), (B, L)
    ids = torch.cat([prompt_ids, response], dim=1)                                     # (B, P + L)
    attention_mask = torch.cat([prompt_mask, mask.to(prompt_mask.dtype)], dim=1)       # (B, P + L)
    logits, logprobs, values = response_logprobs(policy, ids, attention_mask, response, config)  # (B, L, V), (B, L)
    _, ref_logprobs, _ = response_logprobs(models.ref, ids, attention_mask, response, config)   # (B, L)
    completions = tokenizer.batch_decode(response, skip_special_tokens=True)
    texts = [p + c for p, c in zip(prompts, completions)]
    with autocast(config, policy.device):
        scores = reward_scores(models.reward_model, models.reward_tokenizer, tokenizer, ids, attention_mask, texts)
    if config.binary_reward:                                                           # a pass/fail judge
        scores = (scores > positive_threshold(models.reward_model)).float()            # (B,) 1 or 0
    return Rollout(list(prompts), completions, ids, attention_mask, response, mask,
                   logprobs, ref_logprobs, values.float(), scores, entropy(logits, mask).item(),
                   readable(response, tokenizer), gold_judge=gold_judge_of(models.reward_model))


__all__ = ["complete", "completion_mask", "encode_prompts", "END_MARK", "generate", "gold_judge_of", "position_ids",
           "positive_threshold", "readable", "response_logits", "response_logprobs", "reward_scores", "Rollout",
           "rollout", "sample", "token_texts", "until_end_of_text"]
