"""Our config's names in the engines a learner graduates to (notebooks 08 and 09): TRL, OpenRLHF and verl.

Each `PPOConfig` field maps to the engine's own setting (in backticks) or to "—" with the reason it has none.
`ENGINES` names the columns.
"""
from __future__ import annotations

ENGINES = ("TRL 1.12", "OpenRLHF", "verl")

NAMES = {  # PPOConfig field: (TRL 1.12 PPOConfig, OpenRLHF train_ppo_ray.py, verl ppo_trainer.yaml)
    "policy": ("`sft_model_path`", "`--pretrain`", "`actor_rollout_ref.model.path`"),
    "reward_model": ("`reward_model_path`", "`--reward_pretrain`",
                     "`reward_model.model.path`"),
    "seed": ("`seed`", "`--seed`", "—"),
    "device": ("`use_cpu` (True forces the CPU)", "— (Ray places every model on GPUs)", "`trainer.device`"),
    "iterations": ("`total_episodes` ÷ `batch_size`",
                   "`--num_episodes` × prompts ÷ `--rollout_batch_size`", "`trainer.total_training_steps`"),
    "batch_size": ("`per_device_train_batch_size` × `gradient_accumulation_steps` (× GPUs)",
                   "`--rollout_batch_size`", "`data.train_batch_size`"),
    "minibatch_size": ("`mini_batch_size` = `batch_size` ÷ `num_mini_batches`", "`--train_batch_size`",
                       "`actor_rollout_ref.actor.ppo_mini_batch_size`"),
    "ppo_epochs": ("`num_ppo_epochs`", "`--max_epochs`",
                   "`actor_rollout_ref.actor.ppo_epochs`"),
    "learning_rate": ("`learning_rate`",
                      "`--actor_learning_rate`", "`actor_rollout_ref.actor.optim.lr`"),
    "max_grad_norm": ("`max_grad_norm`", "`--max_norm`", "`actor_rollout_ref.actor.grad_clip`"),
    "prompt_length": ("— (the prompt dataset decides)", "`--prompt_max_len`", "`data.max_prompt_length`"),
    "response_length": ("`response_length`", "`--generate_max_len`", "`data.max_response_length`"),
    "temperature": ("`temperature`", "`--temperature`", "`actor_rollout_ref.rollout.temperature`"),
    "clip_eps": ("`cliprange`",
                 "`--eps_clip`", "`actor_rollout_ref.actor.clip_ratio`"),
    "clip_eps_value": ("`cliprange_value`", "`--value_clip`",
                       "`critic.cliprange_value`"),
    "vf_coef": ("`vf_coef`", "— (separate critic, `--critic_learning_rate`)",
                "— (separate critic, `critic.optim.lr`)"),
    "ent_coef": ("— (no entropy bonus)", "`--entropy_loss_coef`",
                 "`actor_rollout_ref.actor.entropy_coeff`"),
    "kl_coef": ("`kl_coef`", "`--init_kl_coef`",
                "`algorithm.kl_ctrl.kl_coef` (with `algorithm.use_kl_in_reward`)"),
    "kl_estimator": ("`kl_estimator`", "`--kl_estimator`",
                     "`algorithm.kl_penalty` ('kl' is k1, 'low_var_kl' is k3)"),
    "kl_target": ("— (β stays fixed)", "`--kl_target`",
                  "`algorithm.kl_ctrl.target_kl` (with `algorithm.kl_ctrl.type` 'adaptive')"),
    "kl_horizon": ("—", "`--kl_horizon`", "`algorithm.kl_ctrl.horizon`"),
    "gamma": ("`gamma`", "`--gamma`", "`algorithm.gamma`"),
    "lam": ("`lam`", "`--lambd`", "`algorithm.lam`"),
    "whiten_advantages": ("— (always whitened)", "—", "—"),
    # the critic-free family (notebook 09): TRL keeps these in its separate GRPOConfig / RLOOConfig trainers
    "advantage_estimator": ("— (GAE; GRPO and RLOO are TRL's other trainers)", "`--algo.advantage.estimator`",
                            "`algorithm.adv_estimator`"),
    "group_size": ("— (GRPOConfig: num_generations)", "`--rollout.n_samples_per_prompt`",
                   "`actor_rollout_ref.rollout.n`"),
    "scale_rewards": ("— (GRPOConfig: scale_rewards)", "not mapped yet", "`algorithm.norm_adv_by_std_in_grpo`"),
    "kl_in": ("— (GRPOConfig: the KL is in the loss when beta > 0)", "`--algo.kl.use_loss`",
              "`actor_rollout_ref.actor.use_kl_loss` (in the reward: `algorithm.use_kl_in_reward`)"),
    "loss_aggregation": ("— (GRPOConfig: loss_type)", "not mapped yet", "`actor_rollout_ref.actor.loss_agg_mode`"),
    "stop_at_eos": ("— (completions end at end-of-text)", "— (completions end at end-of-text)",
                    "— (completions end at end-of-text)"),
    "binary_reward": ("— (a reward function that returns 0 or 1)", "— (a reward function that returns 0 or 1)",
                      "— (a reward function that returns 0 or 1)"),
    # verifiable rewards (notebook 11); names not yet checked against the engines (their own issue)
    "dynamic_sampling": ("— (GRPOConfig has no group filter)", "— (dynamic filtering, not mapped yet)",
                         "— (the DAPO recipe's filter_groups, not mapped yet)"),
    "eval_every": ("— (the Trainer's eval_steps)", "— (eval_steps)", "— (trainer.test_freq)"),
    # DPO (notebook 10): TRL's DPOConfig and OpenRLHF's train_dpo.py; verl's main_ppo trains no DPO
    "dpo_beta": ("— (DPOConfig: beta)", "— (train_dpo.py: `--beta`)", "— (no DPO trainer)"),
    "dpo_pairs": ("— (DPOTrainer's dataset: prompt, chosen, rejected; online: OnlineDPOTrainer)",
                  "— (train_dpo.py: `--dataset` with chosen and rejected keys)", "— (no DPO trainer)"),
    "dpo_online_every": ("— (OnlineDPOTrainer makes new pairs every step)", "— (offline pairs only)",
                         "— (no DPO trainer)"),
}
