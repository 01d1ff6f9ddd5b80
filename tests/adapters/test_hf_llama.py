"""Llama, Mistral and Qwen2 (one table): RMSNorm, rotary with scaling, SwiGLU, GQA, biases."""

import pytest
import torch
from hf_tiny import VOCAB, check_parity, load_both, save_tiny
from transformers import LlamaConfig, MistralConfig, Qwen2Config

from workbench import load_hf

SIZES = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=64, max_position_embeddings=64, vocab_size=VOCAB, bos_token_id=0,
    eos_token_id=0,
)  # fmt: skip
LLAMA3 = {
    "rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 16,
}  # fmt: skip
CASES = {
    "llama-gqa": LlamaConfig(**SIZES),
    "llama-bias-tied-mha": LlamaConfig(
        **{**SIZES, "num_key_value_heads": 4},
        attention_bias=True,
        mlp_bias=True,
        tie_word_embeddings=True,
    ),  # fmt: skip
    "llama-linear-rope": LlamaConfig(
        **SIZES, rope_parameters={"rope_type": "linear", "rope_theta": 500.0, "factor": 4.0}
    ),
    "llama-llama3-rope": LlamaConfig(**SIZES, rope_parameters=LLAMA3),
    "llama-head-dim": LlamaConfig(**SIZES, head_dim=16),
    "mistral": MistralConfig(**SIZES, sliding_window=None),
    "qwen2": Qwen2Config(**SIZES),
}


@pytest.mark.parametrize("name", list(CASES))
def test_llama_family_matches_hugging_face(tmp_path, name) -> None:
    model, hf = load_both(CASES[name], tmp_path)
    # Longer than the llama3 case's original context, so its scaled frequencies matter.
    tokens = torch.randint(1, VOCAB, (2, 40), generator=torch.Generator().manual_seed(3))
    check_parity(model, hf, tokens)


def test_bfloat16_load_is_close_to_float32(tmp_path) -> None:
    _, hf = load_both(CASES["qwen2"], tmp_path)
    model = load_hf(tmp_path, dtype="bf16")
    assert model.embed.W_E.dtype == torch.bfloat16
    tokens = torch.randint(1, VOCAB, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = hf(tokens).logits
    torch.testing.assert_close(model(tokens).float(), expected, atol=0.1, rtol=0.05)


@pytest.mark.parametrize(
    "config,field",
    [
        (MistralConfig(**SIZES, sliding_window=16), "sliding_window"),
        (LlamaConfig(**SIZES, hidden_act="gelu"), "hidden_act"),
        (
            LlamaConfig(**SIZES, rope_parameters={"rope_type": "dynamic", "factor": 2.0}),
            "rope_type",
        ),
    ],
    ids=["sliding-window", "activation", "rope-scaling"],
)
def test_unsupported_fields_are_named(tmp_path, config, field) -> None:
    save_tiny(config, tmp_path)
    with pytest.raises(NotImplementedError, match=f"{field}.*Supported families"):
        load_hf(tmp_path)
