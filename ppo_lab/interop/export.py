"""One of our configs as a launch folder for verl, OpenRLHF or TRL (`python -m ppo_lab export`).

The folder holds a launch script (TRL: a Python script), the prompts as the engine reads them, the bundled models
it names, the reward program as the engine's reward function (verifiable rewards), our config, and a README that
says what the engine cannot follow and what it needs that we don't. The settings come from `engines.translate`;
the engine's own extra settings (`extras`) are checked against the engine like every other name.
"""
from __future__ import annotations

import functools
import inspect
import json
import math
import os
import random
import shlex
import shutil
import tempfile

from ..config import ConfigError, PPOConfig
from ..world import assets, verifiable
from ..world.assets import AssetError, load_tokenizer
from ..world.models import classifier_score
from ..world.prompts import fitting, token_lengths, world_prompts
from . import mapping as engines
from .definitions import hydra_quoted, verl_override
from .mapping import program

PASS_THROUGH = "{% for m in messages %}{{ m.content }}{% endfor %}"   # a base model's prompt, as it is
LAUNCH = {"verl": "launch.sh", "openrlhf": "launch.sh", "trl": "train.py"}
LOCAL = ("models/", "data/", "reward.py", "reward_func.py")   # the launch folder's own files


class ScriptValue(str):
    """A value the launch script works out when it runs: `$GPUS`, `$MICRO`, or `$PWD/<a file of the launch
    folder>`. It is the only text that expands in launch.sh; every other value, whatever it holds (a folder named
    `o'brien $(touch x)`), is written as a literal for the shell and for Hydra."""


GPUS, MICRO = ScriptValue("$GPUS"), ScriptValue("$MICRO")


def in_launch_folder(path: str) -> ScriptValue:
    """A file of the launch folder by its whole path, as Ray's workers need it: `$PWD/<path>`."""
    return ScriptValue(f"$PWD/{path}")


def micro_batch(config: PPOConfig, gpus: int = 1) -> int:
    """Completions per GPU per forward pass: the largest divisor of the minibatch's share of one GPU, up to 16
    (what the launch script's $MICRO works out for its $GPUS)."""
    return max(d for d in range(1, 17) if (config.minibatch_size // gpus) % d == 0)


# ------------------------------------------------------------------ what each engine needs that we don't
def extras(config: PPOConfig, engine: str) -> list[tuple[str, object, str]]:
    """(the engine's name, value, why) for the settings the engine needs beyond our fields."""
    return {"verl": verl_extras, "openrlhf": openrlhf_extras, "trl": trl_extras}[engine](config)


def verl_extras(c: PPOConfig) -> list[tuple[str, object, str]]:
    micro = MICRO   # worked out by the launch script for its $GPUS
    rows = [
        ("data.train_files", "data/train.jsonl", "verl reads prompts from files"),
        ("data.val_files", "data/test.jsonl", "and validates on a file"),
        ("data.shuffle", False, "the prompts are already drawn in our order"),
        ("data.filter_overlong_prompts", True, "drop prompts longer than data.max_prompt_length (the export "
         "already cut them where it could load the policy's tokenizer)"),
        ("actor_rollout_ref.model.custom_chat_template", PASS_THROUGH, "verl wraps prompts in a chat template; a "
         "base model gets its prompt as it is"),
        ("actor_rollout_ref.rollout.name", "vllm", "generation runs in an inference engine (vllm or sglang)"),
        ("actor_rollout_ref.rollout.tensor_model_parallel_size", 1, "the model fits one GPU"),
        ("actor_rollout_ref.rollout.gpu_memory_utilization", 0.4, "vLLM shares the GPUs with training"),
        ("actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu", micro, "completions per GPU per pass"),
        ("actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", micro, "the same for Phase I's pass"),
        ("actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", micro, "and the reference's"),
        ("actor_rollout_ref.actor.optim.weight_decay", 0.0, "ours is Adam without weight decay"),
        ("trainer.n_gpus_per_node", GPUS, "GPUs on the machine (GPUS=…, default 1)"),
        ("trainer.nnodes", 1, "one machine"),
        ("trainer.logger", ["console"], "print the metrics (add wandb to keep them)"),
        ("trainer.val_before_train", program(c), "held-out accuracy before the first update (ours: with a reward "
         "program)"),
        ("trainer.project_name", "ppo_lab", "names the run"),
    ]
    if c.has_critic:
        rows += [("critic.ppo_micro_batch_size_per_gpu", micro, "the critic's passes"),
                 ("critic.optim.weight_decay", 0.0, "ours is Adam without weight decay")]
    return rows


def openrlhf_extras(c: PPOConfig) -> list[tuple[str, object, str]]:
    micro = MICRO   # worked out by the launch script for its $GPUS
    rows = [("--data.prompt_dataset", "data/train.jsonl", "the prompts, one JSON object per line"),
            ("--data.input_key", "input", "the prompt's key in it"),
            ("--actor.num_gpus_per_node", GPUS, "GPUs on the machine (GPUS=…, default 1)"),
            ("--ref.num_gpus_per_node", GPUS, "the reference shares them"),
            ("--vllm.num_engines", GPUS, "generation runs in vLLM, one engine per GPU (colocated)"),
            ("--vllm.gpu_memory_utilization", 0.4, "vLLM shares the GPUs with training"),
            ("--train.colocate_all", True, "every model on the same GPUs"),
            ("--train.micro_batch_size", micro, "completions per GPU per pass"),
            ("--rollout.micro_batch_size", micro, "the same for Phase I's pass"),
            ("--actor.lr_scheduler", "constant", "ours is a constant step size (OpenRLHF: cosine)"),
            ("--actor.lr_warmup_ratio", 0.0, "and no warm-up"),
            ("--actor.adam.betas", (0.9, 0.999), "ours are Adam's defaults"),
            ("--actor.adam.eps", 1e-5, "as ours")]
    if c.has_critic:
        rows += [("--critic.num_gpus_per_node", GPUS, "the critic shares them"),
                 ("--critic.lr_scheduler", "constant", "as the actor's"), ("--critic.lr_warmup_ratio", 0.0, ""),
                 ("--critic.adam.betas", (0.9, 0.999), ""), ("--critic.adam.eps", 1e-5, "")]
    return rows


def trl_extras(c: PPOConfig) -> list[tuple[str, object, str]]:
    rows = [("output_dir", "out", "where checkpoints go"),
            ("lr_scheduler_type", "constant", "ours is a constant step size (TRL: linear decay)"),
            ("adam_epsilon", 1e-5, "as ours"),
            ("logging_steps", 1, "metrics at every step"),
            ("report_to", "none", "print them (set wandb to keep them)"),
            ("shuffle_dataset", False, "the prompts are already drawn in our order")]
    if c.advantage_estimator == "grpo":
        rows += [("use_bias_correction_kl", False, "ours backpropagates k3 as it is, without the ratio weight")]
    if program(c):
        rows += [("eval_strategy", "steps", "held-out accuracy every eval_steps")]
    rows += [("per_device_eval_batch_size", c.group_size * math.ceil(8 / c.group_size), "a whole number of groups "
              "(TRL checks it)")]
    return rows


# ------------------------------------------------------------------ the prompts, as each engine reads them
def answer(prompt: str) -> str:
    return str(sum(verifiable.operands(prompt)))


def prompt_pool(config: PPOConfig, split: str = "train") -> list[str]:
    """Our prompts (`world.prompts`), cut to prompt_length tokens of the policy's tokenizer where it loads here, as
    training cuts them: the sums of a split with a reward program, else the review openings."""
    pool = world_prompts(config, split)
    tokenizer = policy_tokenizer(config.policy)
    return pool if tokenizer is None else fitting(pool, token_lengths(tokenizer, pool), config.prompt_length)


@functools.lru_cache(maxsize=8)
def policy_tokenizer(name: str):
    """The policy's tokenizer, or None where it cannot be loaded here (a Hub name offline)."""
    try:
        return load_tokenizer(name)
    except (AssetError, OSError):
        return None


def drawn_prompts(config: PPOConfig) -> list[str]:
    """As many prompts as the run uses (iterations × prompts per rollout), drawn with replacement from our pool
    with the run's seed: the same pool and the same kind of draw as ours, not the same draw."""
    n = config.iterations * engines.prompts_per_rollout(config)
    return random.Random(config.seed).choices(prompt_pool(config), k=n)


def record(prompt: str, config: PPOConfig, engine: str) -> dict:
    """One prompt as a line of the engine's dataset (with its answer when a program gives the reward)."""
    truth = answer(prompt) if program(config) else ""
    if engine == "verl":
        return {"data_source": "ppo_lab", "prompt": [{"role": "user", "content": prompt}],
                "reward_model": {"style": "rule" if truth else "model", "ground_truth": truth},
                "extra_info": {"prompt": prompt}}
    if engine == "openrlhf":
        return {"input": prompt, "label": truth}
    return {"prompt": prompt, "answer": truth}


def write_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_data(config: PPOConfig, engine: str, out: str) -> None:
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    write_jsonl(os.path.join(out, "data", "train.jsonl"), [record(p, config, engine) for p in drawn_prompts(config)])
    held_out = prompt_pool(config, "held_out") if program(config) else prompt_pool(config)[:64]
    write_jsonl(os.path.join(out, "data", "test.jsonl"), [record(p, config, engine) for p in held_out])


# ------------------------------------------------------------------ the reward program as a reward function
ADAPTERS = {
    "verl": '''

def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's reward function (reward.custom_reward_function): the decoded completion and its answer."""
    return score(solution_str, ground_truth)
''',
    "openrlhf": '''

import torch  # noqa: E402  (OpenRLHF wants the rewards as a tensor)


def reward_func(queries, prompts, labels):
    """OpenRLHF's reward function (--reward.remote_url reward_func.py): queries are prompt + completion, decoded
    with the end-of-text marker kept, so cut each at its first one."""
    completions = [q[len(p):].split(EOS)[0] for q, p in zip(queries, prompts)]
    rewards = torch.tensor([score(c, a) for c, a in zip(completions, labels)])
    return {"rewards": rewards, "scores": rewards, "extra_logs": {}}
''',
    "trl": '''

def reward(prompts, completions, answer, **kwargs):
    """TRL's reward function (reward_funcs=[reward]): the dataset's `answer` column comes as a keyword."""
    return [score(c, a) for c, a in zip(completions, answer)]
''',
}


def reward_source(config: PPOConfig, engine: str, eos: str) -> str:
    """The reward program as a stand-alone file: our `parse_answer` (copied from its source) and the engine's
    entry point. "exact-match+format" adds FORMAT_WEIGHT for a short, well-formed answer, as ours."""
    with_format = config.reward_model == "exact-match+format"
    return (f'"""PPO Lab\'s reward program {config.reward_model!r} (notebook 11) as {engines.TITLES[engine]}\'s '
            f'reward function."""\nfrom __future__ import annotations\n\nimport re\n\n'
            f"NUMBER = re.compile({verifiable.NUMBER.pattern!r})\nFORMAT_WEIGHT = {verifiable.FORMAT_WEIGHT!r}\n"
            f"FORMAT_MAX_CHARS = {verifiable.FORMAT_MAX_CHARS!r}\nWITH_FORMAT = {with_format!r}\nEOS = {eos!r}\n\n\n"
            f"{inspect.getsource(verifiable.parse_answer)}\n\n"
            "def score(completion: str, answer: str) -> float:\n"
            '    """1.0 for the right sum, 0.0 otherwise (plus the format point where WITH_FORMAT)."""\n'
            "    given = parse_answer(completion)\n"
            "    short = given is not None and len(completion) <= FORMAT_MAX_CHARS\n"
            "    return float(given == int(answer)) + (FORMAT_WEIGHT * short if WITH_FORMAT else 0.0)\n"
            + ADAPTERS[engine])


REWARD_FILE = {"verl": "reward.py", "openrlhf": "reward_func.py", "trl": "reward.py"}

# the reward model as a reward function: each engine hands it other pieces of the same prompt + completion
CLASSIFIER_ADAPTERS = {
    "verl": '''

def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's reward function: the completion, and the prompt the export put in the record's extra_info."""
    return score_texts([extra_info["prompt"] + solution_str])[0]
''',
    "openrlhf": '''

def reward_func(queries, prompts, labels):
    """OpenRLHF's reward function: queries are prompt + completion with the end-of-text markers kept; ours
    scores the text without them (decoded with skip_special_tokens)."""
    rewards = torch.tensor(score_texts([q.replace(EOS, "") for q in queries]))
    return {"rewards": rewards, "scores": rewards, "extra_logs": {}}
''',
    "trl": '''

def reward(prompts, completions, **kwargs):
    """TRL's reward function (reward_funcs=[reward])."""
    return score_texts([p + c for p, c in zip(prompts, completions)])
''',
}


def classifier_source(config: PPOConfig, engine: str, eos: str) -> str:
    """The reward model as a stand-alone reward function that scores as ours does (`classifier_score`, copied
    from its source): on prompt + completion text, positive − negative logit for a two-label classifier."""
    where = (f'os.path.join(os.path.dirname(os.path.abspath(__file__)), {engines.model_path(config.reward_model)!r})'
             if config.reward_model in assets.BUNDLED else repr(config.reward_model))
    return (f'"""PPO Lab\'s reward model {config.reward_model!r} as {engines.TITLES[engine]}\'s reward function: '
            'the score of prompt + completion, as ours."""\nfrom __future__ import annotations\n\nimport os\n\n'
            "import torch\nfrom transformers import AutoModelForSequenceClassification, AutoTokenizer\n\n"
            f"MODEL = {where}\nEOS = {eos!r}\n"
            'DEVICE = "cuda" if torch.cuda.is_available() else "cpu"\n'
            "TOKENIZER = AutoTokenizer.from_pretrained(MODEL)\n"
            "TOKENIZER.pad_token = TOKENIZER.pad_token or TOKENIZER.eos_token\nTOKENIZER.padding_side = \"right\"\n"
            "CLASSIFIER = AutoModelForSequenceClassification.from_pretrained(MODEL, use_safetensors=True).to(DEVICE)\n"
            "CLASSIFIER.config.pad_token_id = TOKENIZER.pad_token_id\nCLASSIFIER.eval()\n\n\n"
            f"{inspect.getsource(classifier_score)}\n\n"
            "def score_texts(texts: list[str]) -> list[float]:\n"
            '    """One score per text."""\n'
            "    with torch.inference_mode():\n"
            '        batch = TOKENIZER(texts, return_tensors="pt", padding=True, truncation=True).to(DEVICE)\n'
            "        return classifier_score(CLASSIFIER(**batch).logits, CLASSIFIER.config.id2label).tolist()\n"
            + CLASSIFIER_ADAPTERS[engine])


def eos_text(config: PPOConfig) -> str:
    """The policy's end-of-text marker as text (bundled: read from its tokenizer; else GPT-2's)."""
    if config.policy in assets.BUNDLED:
        path = os.path.join(assets.ASSETS_DIR, config.policy, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("eos_token") or "<|endoftext|>"
    return "<|endoftext|>"


# ------------------------------------------------------------------ the launch script
def shell_words(value) -> str:
    """A value as one shell word: a literal in single quotes, except the script's own `$GPUS`, `$MICRO` and `$PWD`,
    which expand (in double quotes: as one word, never as code)."""
    if not isinstance(value, ScriptValue):
        return shlex.quote(str(value))
    if value in (GPUS, MICRO):
        return f'"{value}"'
    return '"$PWD"' + shlex.quote(value[len("$PWD"):])


def verl_word(key: str, value) -> str:
    """One Hydra override as a shell word: `key=value` in Hydra's grammar (`definitions.verl_override`), quoted for
    the shell. A path in the launch folder is `key='<$PWD, quoted for Hydra when the script runs>/<path>'`."""
    if value in (GPUS, MICRO) and isinstance(value, ScriptValue):
        return shlex.quote(f"{key}=") + shell_words(value)
    if isinstance(value, ScriptValue):
        rest = hydra_quoted(value[len("$PWD"):])[1:]                    # "/models/…'" (no opening quote)
        return shlex.quote(f"{key}='") + '"$HYDRA_PWD"' + shlex.quote(rest)
    return shlex.quote(verl_override(key, value))


def verl_words(settings: dict) -> list[str]:
    return [verl_word(key, value) for key, value in settings.items()]


def openrlhf_words(settings: dict) -> list[str]:
    """--flag value (a switch alone when True, left out when False; None: left out, the engine's default)."""
    words = []
    for flag, value in settings.items():
        if value is True:
            words.append(flag)
        elif value is not False and value is not None:
            values = value if isinstance(value, (list, tuple)) else (value,)
            words.append(" ".join([flag, *(shell_words(repr(v) if isinstance(v, float) else v) for v in values)]))
    return words


def launch_words(config: PPOConfig, engine: str) -> list[str]:
    """verl's or OpenRLHF's command-line words for this config, as the launch script writes them."""
    return words_of(engine, settings_with_extras(config, engine)[1])


def words_of(engine: str, settings: dict) -> list[str]:
    return verl_words(settings) if engine == "verl" else openrlhf_words(settings)


# the launch folder ($PWD) quoted for Hydra as `definitions.hydra_quoted` quotes (an `x` keeps a trailing newline)
HYDRA_PWD = ("HYDRA_PWD=$(python3 -c 'import re, sys; print(re.sub(r\"(\\\\*)(\\x27|\\$\\{)\", "
             "lambda m: \"\\\\\" * (2 * len(m.group(1)) + 1) + m.group(2), sys.argv[1]), end=\"x\")' \"$PWD\")\n"
             "HYDRA_PWD=${HYDRA_PWD%x}   # this folder, quoted for Hydra: verl's paths below are inside it\n")


def launch_script(title: str, command: str, words: list[str], minibatch: int) -> str:
    """The script: GPUS from the environment (a whole number ≥ 1, else exit 2), the micro-batch it allows, then the
    command and its words. Only $GPUS, $MICRO and $PWD (verl: $HYDRA_PWD) expand; every other word is a literal."""
    lines = " \\\n    ".join([command, *words, '"$@"'])
    return (f"#!/usr/bin/env bash\n# {title}\n# GPUS=8 bash launch.sh  (default: one GPU); extra settings after it\n"
            f'set -euo pipefail\ncd "$(dirname "$0")"\nGPUS=${{GPUS:-1}}\n'
            '[[ $GPUS =~ ^[1-9][0-9]*$ ]] || { echo "GPUS=$GPUS: valid: a whole number of GPUs, 1 or more '
            '(e.g. GPUS=8)" >&2; exit 2; }\n'
            f"MINIBATCH={minibatch}   # completions per optimiser step (our minibatch_size), shared by the GPUs\n"
            '(( MINIBATCH % GPUS == 0 )) || { echo "GPUS=$GPUS must divide MINIBATCH=$MINIBATCH" >&2; exit 2; }\n'
            "MICRO=16   # completions per GPU per pass: the largest divisor of a GPU's share, up to 16\n"
            "while (( (MINIBATCH / GPUS) % MICRO )); do MICRO=$(( MICRO - 1 )); done\n"
            + (HYDRA_PWD if any('"$HYDRA_PWD"' in w for w in words) else "")
            + f"{lines}\n")


def trl_script(title: str, config_class: str, settings: dict, config: PPOConfig) -> str:
    """train.py: the trainer's config with every setting, then the trainer with our models, prompts and reward."""
    trainer = config_class.replace("Config", "Trainer")
    fields = {k: v for k, v in settings.items() if not k.endswith("=")}
    arguments = {k[:-1]: v for k, v in settings.items() if k.endswith("=")}
    reward = "[reward]" if program(config) else repr(arguments["reward_funcs"])
    eval_data = ('    eval_dataset=load_dataset("json", data_files="data/test.jsonl", split="train"),\n'
                 if program(config) else "")
    return (f'"""{title}\n\naccelerate launch train.py  (or: python train.py)\n"""\n'
            f"from datasets import load_dataset\nfrom trl import {config_class}, {trainer}\n"
            + ("\nfrom reward import reward\n" if program(config) else "")
            + f"\nargs = {config_class}(\n"
            + "".join(f"    {k}={v!r},\n" for k, v in fields.items())
            + f")\ntrainer = {trainer}(\n    model={arguments['model']!r},\n    reward_funcs={reward},\n"
            "    args=args,\n"
            '    train_dataset=load_dataset("json", data_files="data/train.jsonl", split="train"),\n'
            + eval_data + ")\ntrainer.train()\n")


def settings_with_extras(config: PPOConfig, engine: str) -> tuple[engines.Translation, dict]:
    """The translation, and every setting the launch passes: ours, then the engine's extras."""
    translation = engines.translate(config, engine)
    settings = dict(translation.settings)
    for name, value, _ in extras(config, engine):
        settings.setdefault(name, value)
    if engine == "verl":
        settings["trainer.experiment_name"] = f"seed{config.seed}"
    if engine != "trl":   # Ray's workers need whole paths: the launch script's folder is $PWD
        settings = {k: in_launch_folder(v) if isinstance(v, str) and v.startswith(LOCAL) else v
                    for k, v in settings.items()}
    return translation, settings


# ------------------------------------------------------------------ the README
COMMANDS = {"verl": "python3 -m verl.trainer.main_ppo", "openrlhf": "python3 -m openrlhf.cli.train_ppo_ray"}
INSTALL = {"verl": "pip install verl[vllm]=={v}", "openrlhf": "pip install openrlhf[vllm]=={v}",
           "trl": "pip install trl=={v} datasets"}
REWARD_NOTE = ("The reward is a reward function (`{file}`): the reward model runs inside it and scores the decoded "
               "prompt + completion as ours does (positive − negative logit for a two-label classifier), where the "
               "engine's own reward-model path would read the policy's token ids and take one output.")
ALWAYS_DIFFERENT = {
    "verl": ["The critic is a separate model initialised from the policy (ours: a value head on the policy's "
             "trunk), with its own optimiser.",
             "Generation runs in vLLM, in bf16 unless actor_rollout_ref.rollout.dtype says otherwise; the "
             "update's log-probabilities are recomputed by the trainer, so the first ratio is not exactly 1.",
             "Adam's eps is 1e-8 (ours: 1e-5); the ratio also has a dual clip at 3 for negative advantages "
             "(actor_rollout_ref.actor.clip_ratio_c).",
             "GRPO divides by the group's std + 1e-6 (ours: + 1e-4), and low_var_kl is k3 clipped to [−10, 10]."],
    "openrlhf": ["The critic is a separate model initialised from the policy (ours: a value head on the "
                 "policy's trunk), with its own optimiser.",
                 "Generation runs in vLLM; rewards are clipped to --reward.clip_range (-10, 10) by default.",
                 "group_norm divides by the group's std + 1e-9 (ours: + 1e-4)."],
    "trl": ["TRL 1.16 has no PPO trainer (removed in 1.13): only the critic-free family exports here.",
            "per_device_train_batch_size counts one process: under `accelerate launch --num_processes N`, divide "
            "it (and per_device_eval_batch_size) by N to keep our minibatch."],
}


def settings_table(config: PPOConfig, engine: str, translation: engines.Translation) -> list[str]:
    """One row per field of ours that this run sets there, with the engine's names and values, or "—"."""
    why = dict(translation.unexpressed)
    rows = ["| our field | ours | there |", "|---|---|---|"]
    for name in engines.MAP:
        there = [f"`{n}` = `{translation.settings[n]!r}`" for n in translation.names.get(name, [])]
        if name in why:
            there.append(f"— ({why[name]})")
        if there:
            rows.append(f"| `{name}` | `{getattr(config, name)!r}` | {'; '.join(there)} |")
    return rows


def readme(config: PPOConfig, engine: str, translation: engines.Translation, preset: str) -> str:
    title, lines = engines.TITLES[engine], []
    lines += [f"# PPO Lab's `{preset}` run on {title}", "",
              f"Exported by `python -m ppo_lab export --engine {engine}` from `ppo_config.json` (our config). "
              f"Install: `{INSTALL[engine].format(v=engines.VERSIONS[engine])}`; run: "
              + ("`accelerate launch train.py`." if engine == "trl" else "`GPUS=1 bash launch.sh`."), "",
              "## Our settings there", "", *settings_table(config, engine, translation)]
    lines += ["", f"## What {title} cannot follow", ""]
    lines += [f"- `{f}` = `{getattr(config, f)!r}`: {why}." for f, why in translation.unexpressed] or ["- nothing."]
    lines += ["", f"## What {title} needs that we don't", ""]
    lines += [f"- `{name}` = `{value!r}`: {why}." for name, value, why in extras(config, engine) if why]
    cut = ("cut to prompt_length tokens of the policy's tokenizer" if policy_tokenizer(config.policy) else
           "NOT cut to prompt_length: the policy's tokenizer could not be loaded where this was exported")
    lines += [f"- the prompts: `data/train.jsonl` (the run's prompts, drawn from our pool with replacement with "
              f"the run's seed: the same pool and kind of draw, not the same draw; {cut}) and `data/test.jsonl`."]
    if program(config):
        lines += [f"- the reward program as a reward function: `{REWARD_FILE[engine]}` (our `parse_answer`, "
                  "copied, and the engine's entry point)."]
    different = ALWAYS_DIFFERENT[engine] + ([] if program(config) else [REWARD_NOTE.format(file=REWARD_FILE[engine])])
    lines += ["", "## Different by construction", ""] + [f"- {d}" for d in different]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the folder
MARK = ".ppo_lab_export.json"   # what a launch folder of ours holds: the engine and the files it wrote


def export(config: PPOConfig, engine: str, out: str, preset: str = "tiny") -> list[str]:
    """Write the launch folder for `engine` to `out`; returns the files written (relative to `out`).

    `out` must be new, empty, or a previous export of ours (replaced whole, and said so): a folder with anything
    else in it is refused, never written into. The folder is written beside `out` and renamed into place, so an
    interrupted or concurrent export never leaves a mixture of two exports."""
    translation, settings = settings_with_extras(config, engine)   # ConfigError where the engine has no trainer
    for field in ("policy", "reward_model"):                          # a missing model folder: AssetError
        if not (field == "reward_model" and program(config)):
            assets.resolve(getattr(config, field), field)
    previous = previous_export(out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=os.path.dirname(os.path.abspath(out)))
    try:
        files = write_folder(config, engine, translation, settings, preset, staging)
        move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if previous:
        print(f"replaced the previous export in {out} ({previous['engine']}, {len(previous['files'])} files)")
    return files


def write_folder(config: PPOConfig, engine: str, translation, settings: dict, preset: str, out: str) -> list[str]:
    """Every file of the launch folder into `out`, then the mark that says it is ours."""
    title = f"PPO Lab's {preset!r} run on {engines.TITLES[engine]} ({translation.trainer})"
    if engine == "trl":
        text = trl_script(title, translation.trainer, settings, config)
    else:
        text = launch_script(title, COMMANDS[engine], words_of(engine, settings), config.minibatch_size)
    write_text(out, LAUNCH[engine], text)
    write_text(out, "README.md", readme(config, engine, translation, preset))
    write_text(out, "ppo_config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    write_data(config, engine, out)
    source = reward_source if program(config) else classifier_source
    write_text(out, REWARD_FILE[engine], source(config, engine, eos_text(config)))
    copy_bundled(config, out)
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    write_text(out, MARK, json.dumps({"engine": engine, "preset": preset, "files": files}, indent=1) + "\n")
    return files


def previous_export(out: str) -> dict | None:
    """The mark of a previous export in `out` ({"engine", "files"}), or None where `out` is new or empty;
    ConfigError where `out` holds anything else (a file, or a folder we did not make)."""
    if not os.path.lexists(out):
        return None
    if not os.path.isdir(out) or os.path.islink(out):
        raise ConfigError(f"--out={out!r} is not a folder; valid: a new folder, or a previous export of ours")
    found = sorted(os.listdir(out))
    if not found:
        return None
    try:
        with open(os.path.join(out, MARK), encoding="utf-8") as f:
            mark = json.load(f)
        ours = set(mark["files"]) | {MARK}
    except (OSError, ValueError, KeyError, TypeError):
        mark, ours = None, set()
    foreign = [os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs]
    foreign = sorted(set(foreign) - ours)
    if mark is None or foreign:
        shown = ", ".join(foreign[:5] or found[:5]) + (" …" if len(foreign or found) > 5 else "")
        raise ConfigError(f"--out={out!r} holds files that are not a launch folder of ours ({shown}); an export "
                          "never writes into a folder it did not make. Valid: a new or empty folder, or a previous "
                          "export (it is replaced whole)")
    return mark


def move_into_place(staging: str, out: str) -> None:
    """Rename the written folder to `out`; a previous export (or an empty folder) there is renamed away first and
    removed once the new one is in place (put back if it cannot be), so `out` always holds one whole export."""
    old = None
    if os.path.lexists(out):
        old = os.path.join(tempfile.mkdtemp(prefix=".replaced-", dir=os.path.dirname(os.path.abspath(out))), "out")
        os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError as e:                      # another export put a folder there in between
        if old and not os.path.lexists(out):
            os.rename(old, out)
        raise ConfigError(f"--out={out!r}: another export wrote the folder at the same time ({e.strerror}); "
                          "run the export again") from None
    finally:
        if old:
            shutil.rmtree(os.path.dirname(old), ignore_errors=True)


def write_text(out: str, name: str, text: str) -> None:
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        f.write(text)
    if name.endswith(".sh"):
        os.chmod(os.path.join(out, name), 0o755)


def copy_bundled(config: PPOConfig, out: str) -> None:
    """The bundled models the run names, into models/ (a Hub name is downloaded by the engine)."""
    for name in {config.policy, config.reward_model} & set(assets.BUNDLED):
        shutil.copytree(os.path.join(assets.ASSETS_DIR, name), os.path.join(out, "models", name),
                        dirs_exist_ok=True)

__all__ = ["ADAPTERS", "ALWAYS_DIFFERENT", "answer", "CLASSIFIER_ADAPTERS", "classifier_source", "COMMANDS",
           "copy_bundled", "drawn_prompts", "eos_text", "export", "extras", "HYDRA_PWD", "in_launch_folder", "INSTALL",
           "LAUNCH", "launch_script", "launch_words", "LOCAL", "MARK", "micro_batch", "move_into_place",
           "openrlhf_extras", "openrlhf_words", "PASS_THROUGH", "policy_tokenizer", "previous_export", "prompt_pool",
           "readme", "record", "REWARD_FILE", "REWARD_NOTE", "reward_source", "ScriptValue", "settings_table",
           "settings_with_extras", "shell_words", "trl_extras", "trl_script", "verl_extras", "verl_word", "verl_words",
           "words_of", "write_data", "write_folder", "write_jsonl", "write_text"]
