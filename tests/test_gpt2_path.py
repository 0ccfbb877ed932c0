"""The gpt2 path without the Hub: `models_from_config` builds a gpt2-shaped bundle that trains like any other."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ppo_lab.config import ConfigError, PPOConfig
from ppo_lab.rl import ppo as trainer
from ppo_lab.world import models as models_lib

SMALL = {"n_layer": 2, "n_embd": 64, "n_head": 2}  # gpt2's layout (vocab 50,257, context 1,024), narrower


def test_gpt2_config_is_the_124m_model():
    with torch.device("meta"):  # counts the parameters without allocating them
        lm = GPT2LMHeadModel(GPT2Config())
    assert sum(p.numel() for p in lm.parameters()) == 124_439_808


def test_models_from_config_builds_a_bundle_without_the_network(no_network):
    bundle = models_lib.models_from_config(GPT2Config(**SMALL))
    lm = bundle.policy.lm
    assert (lm.config.n_layer, lm.config.n_embd, lm.config.vocab_size, lm.config.n_positions) == (2, 64, 50257, 1024)
    assert lm.config.activation_function == "gelu_pytorch_tanh"            # the fused GELU, as load_policy gives
    assert torch.count_nonzero(bundle.policy.value_head.linear.weight) == 0  # zero-initialised value head
    assert not any(p.requires_grad for p in bundle.ref.parameters())
    for a, b in zip(lm.parameters(), bundle.ref.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()           # a frozen copy, not the same tensor
    assert type(bundle.reward_model).__name__ == "GPT2ForSequenceClassification"  # the bundled tiny reward model
    assert bundle.tokenizer.pad_token_id != bundle.tokenizer.eos_token_id


def test_seed_fixes_the_random_weights():
    a = models_lib.models_from_config(GPT2Config(**SMALL), seed=3).policy.lm.transformer.h[0].attn.c_attn.weight
    b = models_lib.models_from_config(GPT2Config(**SMALL), seed=3).policy.lm.transformer.h[0].attn.c_attn.weight
    c = models_lib.models_from_config(GPT2Config(**SMALL), seed=4).policy.lm.transformer.h[0].attn.c_attn.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_vocabulary_smaller_than_the_tokenizer_is_widened():
    bundle = models_lib.models_from_config(GPT2Config(**SMALL, vocab_size=300))
    assert bundle.policy.lm.get_input_embeddings().num_embeddings == len(bundle.tokenizer)


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        models_lib.models_from_config(GPT2Config(**SMALL), device="cuda")


@pytest.mark.slow
def test_gpt2_preset_trains_the_gpt2_shaped_policy():
    bundle = models_lib.models_from_config(GPT2Config(**SMALL), device="auto")
    config = PPOConfig.preset("gpt2", reward_model="tiny-reward", iterations=2, batch_size=4, minibatch_size=2,
                              ppo_epochs=1, response_length=8)
    before = bundle.policy.lm.transformer.h[0].mlp.c_fc.weight.clone()
    run = trainer.train(config, bundle, progress=False)
    assert run.status == "finished" and len(run.history) == 2
    # 1 up to float rounding (about 1e-7 on some CPUs for this shape: README, "Determinism")
    assert abs(run.history[0]["val/first_ratio"] - 1.0) < 1e-5
    assert not torch.equal(before, bundle.policy.lm.transformer.h[0].mlp.c_fc.weight), "the policy did not move"
    assert torch.equal(before, bundle.ref.transformer.h[0].mlp.c_fc.weight), "the reference must stay frozen"
