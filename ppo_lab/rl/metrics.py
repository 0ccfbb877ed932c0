"""What one iteration logs (notebook 00's dashboard): TRL-named metrics, the gold judge, a few sample completions.

Plumbing beside the algorithm: nothing here changes the weights. VADER reads each rollout's completions once
(`judge`, after Phase I), and both the metrics and the kept samples use those scores (`Rollout.gold`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..maths import losses
from ..maths.advantages import same_scores
from ..maths.diversity import distinct_n
from ..world.gold import POSITIVE, gold_scores
from ..world.models import Models
from ..world.verifiable import Answers, ProgramReward, exact_match, prompts, whole
from .rollout import Rollout, complete, reward_scores

if TYPE_CHECKING:  # rl.loop imports this module, so Run is imported for the annotation only
    from .loop import Run


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 − Var(R − V)/Var(R) over valid tokens: 1 is a perfect value head, ≤ 0 no better than a constant."""
    var_r = losses.masked_var(returns, mask)
    var_d = losses.masked_var(returns - values, mask)
    return float(1 - var_d / var_r) if var_r > 0 else float("nan")


def judge(batch: Rollout) -> list[float]:
    """VADER's score of each prompt + completion (end-of-text dropped): the gold judge the policy never sees; or,
    where the reward is a program (`batch.gold_judge`, notebook 11), exact match, whatever partial credit it gives."""
    if batch.gold_judge == "exact_match":
        return exact_match(batch.prompts, batch.completions).tolist()
    return gold_scores([p + c for p, c in zip(batch.prompts, batch.completions)])


def gold_model_stats(models: Models, batch: Rollout) -> dict:
    """`gold/rm_mean`: a gold reward model's mean score of the rollout, when the run has one (notebook 06); each
    completion's own score goes into `batch.gold_rm`, for the samples."""
    if getattr(models, "gold_model", None) is None:
        return {}
    tok = models.tokenizer
    scores = reward_scores(models.gold_model, tok, tok, batch.ids, batch.attention_mask, [])         # (B,)
    batch.gold_rm = scores.tolist()
    return {"gold/rm_mean": scores.mean().item()}


def zero_std_groups(scores: torch.Tensor, group_size: int) -> float:
    """The fraction of prompts whose G completions all got the same score: their group advantage is 0, so they
    teach nothing this iteration (GRPO, RLOO). scores (N,) in consecutive groups of G → a fraction in [0, 1]."""
    groups = scores.reshape(-1, group_size)                                             # (N/G, G)
    return same_scores(groups).float().mean().item()


def family_stats(batch: Rollout, steps: list[dict], config) -> dict:
    """The family's own metrics (notebook 09), each logged only where it says something: env/zero_std_groups
    (G ≥ 2), env/response_length (valid tokens per completion; with stop_at_eos, else always response_length)
    and loss/kl_avg (the KL of kl_in == "loss", before β)."""
    stats = {}
    if config.group_size > 1:
        stats["env/zero_std_groups"] = zero_std_groups(batch.scores, config.group_size)
    if config.stop_at_eos:
        stats["env/response_length"] = batch.mask.sum(dim=1).float().mean().item()
    if config.kl_in == "loss":
        stats["loss/kl_avg"] = sum(s["loss/kl"] for s in steps) / len(steps)
    return stats


def rollout_stats(batch: Rollout, kl, threshold: float) -> dict:
    """What a rollout says about the policy, whatever trained it (PPO, the family, DPO): the reward model's and
    the gold judge's scores, the KL to the reference per completion (kl: (B, L)), entropy and distinct-2."""
    gold = torch.tensor(batch.gold)                                                     # (B,) VADER or 1/0
    positive = (gold > POSITIVE).float().mean().item()
    judged = ({"gold/exact_match": gold.mean().item()} if batch.gold_judge == "exact_match" else
              {"gold/vader_mean": gold.mean().item(), "gold/fraction_positive": positive})
    return {
        "env/reward_mean": batch.scores.mean().item(), "env/reward_std": batch.scores.std().item(),
        "env/fraction_positive": (batch.scores > threshold).float().mean().item(), **judged,
        "objective/kl": (kl * batch.mask).sum(1).mean().item(),                         # nats per completion
        "objective/entropy": (-batch.logprobs * batch.mask).sum(1).mean().item(),
        "env/distinct_2": distinct_n(batch.completions, 2),
    }


def summarise(batch: Rollout, r, returns, kl, steps: list[dict], config, kl_coef: float, threshold: float) -> dict:
    """Metrics of one iteration, named as TRL names them where TRL has the quantity (+ `family_stats`)."""
    mean = lambda key: sum(s[key] for s in steps) / len(steps)
    non_score = (r.sum(1) - batch.scores)                                                # (B,)
    return rollout_stats(batch, kl, threshold) | {
        "objective/kl_coef": kl_coef,
        "objective/non_score_reward": non_score.mean().item(),
        "objective/rlhf_reward": (batch.scores + non_score).mean().item(),
        "policy/clipfrac_avg": mean("clipfrac"), "policy/approxkl_avg": mean("approx_kl"),
        "policy/entropy_avg": batch.entropy, "policy/entropy_bonus": config.ent_coef * mean("entropy"),
        "loss/policy_avg": mean("loss/policy"), "loss/value_avg": mean("loss/value"),
        "loss/total_avg": mean("loss/total"), "val/ratio": mean("ratio_mean"), "val/clipfrac_avg": mean("vf_clipfrac"),
        "val/explained_variance": explained_variance(batch.values, returns, batch.mask),
        "val/grad_norm": mean("grad_norm"), "val/first_ratio": steps[0]["ratio_mean"],
    } | family_stats(batch, steps, config)


def record_samples(run: Run, batch: Rollout, it: int, threshold: float) -> None:
    """Keep a few completions (the first of each prompt's group, where a rollout has enough groups) at the first,
    every `sample_every`-th and the last iteration.

    "completion" is the text VADER ("gold") scored, end-of-text dropped; "readable" is the same completion
    as a learner should read it, end-of-text shown as ∎ (`rollout.END_MARK`): print that one.
    """
    config = run.config
    if it % config.sample_every and it != config.iterations - 1:
        return
    G = config.group_size if len(batch.prompts) >= config.num_samples * config.group_size else 1
    for i in range(0, min(config.num_samples * G, len(batch.prompts)), G):     # one completion of each group
        run.samples.append({"iteration": it, "prompt": batch.prompts[i], "completion": batch.completions[i],
                            "readable": batch.readable_completions[i],
                            "score": round(batch.scores[i].item(), 4), "gold": batch.gold[i],
                            "positive": bool(batch.scores[i].item() > threshold),
                            **({"gold_rm": round(batch.gold_rm[i], 4)} if batch.gold_rm else {})})


# ------------------------------------------------------------------ verifiable rewards: held-out accuracy (notebook 11)
def accuracy(lm, tokenizer, prompt_texts: list[str], response_length: int, temperature: float | None) -> float:
    """Exact-match accuracy on `prompt_texts`: one sampled completion each (greedy with temperature None)."""
    return exact_match(prompt_texts, complete(lm, tokenizer, prompt_texts, response_length, temperature)).mean().item()


def samples_correct(lm, tokenizer, prompt_texts: list[str], n: int, response_length: int,
                    temperature: float) -> torch.Tensor:
    """n sampled completions of each prompt, checked: (problems, n) float 1/0 (the input of `pass_at_k_curve`)."""
    repeated = [p for p in prompt_texts for _ in range(n)]
    completions = complete(lm, tokenizer, repeated, response_length, temperature)
    return exact_match(repeated, completions).view(len(prompt_texts), n)               # (problems, n)


def sample_answers(lm, tokenizer, prompt_texts: list[str], config, n: int = 1, greedy: bool = False) -> Answers:
    """n completions of each prompt at `config.temperature` (or the one greedy completion, n = 1), each up to
    end-of-text or `config.response_length` tokens, as `verifiable.Answers`: (P, n) answers, checked."""
    if whole("n", n) < 1 or (greedy and n != 1):
        raise ValueError(f"n={n} (greedy={greedy}): valid n ≥ 1 sampled answers per prompt, or n=1 with greedy=True "
                         "(greedy decoding has one answer)")
    repeated = [p for p in prompt_texts for _ in range(n)]                              # (P·n,) each prompt n times
    texts = complete(lm, tokenizer, repeated, config.response_length, None if greedy else config.temperature)
    return Answers(list(prompt_texts), [texts[i:i + n] for i in range(0, len(texts), n)])


def held_out_stats(models, config, iteration: int) -> dict:
    """`env/accuracy` (one completion per held-out sum at the run's temperature) and `env/accuracy_greedy`, for a
    run whose reward is a program, at the first, every `config.eval_every`-th and the last iteration; {} otherwise
    (`Run.evaluations` reads them back). Sampled with its own seed (config.seed + iteration), so the evaluation
    never changes the training's random numbers."""
    due = iteration % config.eval_every == 0 or iteration == config.iterations - 1
    if not (due and isinstance(models.reward_model, ProgramReward)):
        return {}
    lm, held_out = models.policy.lm, prompts("held_out")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + iteration)
        sampled = accuracy(lm, models.tokenizer, held_out, config.response_length, config.temperature)
    greedy = accuracy(lm, models.tokenizer, held_out, config.response_length, None)
    return {"env/accuracy": sampled, "env/accuracy_greedy": greedy}


__all__ = ["accuracy", "explained_variance", "family_stats", "gold_model_stats", "held_out_stats", "judge",
           "record_samples", "rollout_stats", "sample_answers", "samples_correct", "summarise",
           "zero_std_groups"]
