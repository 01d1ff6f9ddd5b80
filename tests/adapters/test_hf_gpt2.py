"""GPT-2 folders convert with Hugging Face's logits, patterns and entropies."""

import pytest
import torch
from hf_tiny import VOCAB, check_parity, load_both, save_tiny
from transformers import GPT2Config

from workbench import load_hf


def config(**overrides) -> GPT2Config:
    fields = dict(n_embd=32, n_layer=2, n_head=4, n_positions=32, vocab_size=VOCAB)
    return GPT2Config(**{**fields, "bos_token_id": 0, "eos_token_id": 0, **overrides})


def test_gpt2_matches_hugging_face(tmp_path) -> None:
    model, hf = load_both(config(), tmp_path)
    assert model.cfg.tied_embeddings and model.cfg.position.name == "learned"
    check_parity(model, hf)


def test_gpt2_shards_and_in_memory_model(tmp_path) -> None:
    hf = save_tiny(config(), tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    check_parity(load_hf(tmp_path), hf)
    in_memory = load_hf(hf)
    check_parity(in_memory, hf)
    # The conversion copies: editing our weights leaves the original alone.
    with torch.no_grad():
        in_memory.embed.W_E.zero_()
    assert hf.transformer.wte.weight.abs().sum() > 0


@pytest.mark.parametrize(
    "field,value", [("scale_attn_by_inverse_layer_idx", True), ("activation_function", "swish")]
)
def test_gpt2_unsupported_field_is_named(tmp_path, field, value) -> None:
    save_tiny(config(**{field: value}), tmp_path)
    with pytest.raises(NotImplementedError, match=f"{field}.*Supported families: bert, gpt2"):
        load_hf(tmp_path)
