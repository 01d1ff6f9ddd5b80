"""A TransformerBridge over a local Hugging Face folder (`boot_transformers`) converts through
`load_hf` and matches both the bridge and the model it wraps."""

import pytest
import torch
from hf_tiny import TOKENS, VOCAB, check_parity, save_tiny, save_tokenizer
from transformers import GPTNeoXConfig

from workbench import from_transformer_lens

pytest.importorskip("transformer_lens")
from transformer_lens.model_bridge import TransformerBridge  # noqa: E402


def test_boot_transformers_bridge_converts(tmp_path) -> None:
    config = GPTNeoXConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32, vocab_size=VOCAB, rotary_pct=0.5, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    save_tiny(config, tmp_path)
    reference = save_tokenizer(tmp_path, "gpt2")
    bridge = TransformerBridge.boot_transformers(str(tmp_path), device="cpu")
    model = from_transformer_lens(bridge)
    assert model.cfg.block.name == "parallel"
    # The folder's tokenizer comes along, with GPT-NeoX's convention (BOS prepended).
    expected = [0, *reference("the cat sat", add_special_tokens=False)["input_ids"]]
    assert model.to_tokens("the cat sat")[0].tolist() == expected
    with torch.no_grad():
        torch.testing.assert_close(model(TOKENS), bridge(TOKENS), atol=1e-4, rtol=0)
    bridge.original_model.config._attn_implementation = "eager"  # for output_attentions
    check_parity(model, bridge.original_model)
