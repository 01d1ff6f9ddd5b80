"""GPT-NeoX (Pythia layout): parallel residual, partial rotary, fused per-head qkv."""

import pytest
from hf_tiny import VOCAB, check_parity, load_both
from transformers import GPTNeoXConfig


def config(**overrides) -> GPTNeoXConfig:
    fields = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, vocab_size=VOCAB, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return GPTNeoXConfig(**{**fields, **overrides})


@pytest.mark.parametrize(
    "overrides,block,rotary_dim",
    [
        ({"rotary_pct": 0.5}, "parallel", 4),
        ({"use_parallel_residual": False, "rotary_pct": 1.0}, "sequential", 8),
        ({"attention_bias": False, "rotary_pct": 0.25, "rotary_emb_base": 500.0}, "parallel", 2),
    ],
    ids=["parallel-half-rotary", "sequential-full-rotary", "no-bias-base500"],
)
def test_gpt_neox_matches_hugging_face(tmp_path, overrides, block, rotary_dim) -> None:
    model, hf = load_both(config(**overrides), tmp_path)
    assert model.cfg.block.name == block and model.cfg.position.rotary_dim == rotary_dim
    check_parity(model, hf)
