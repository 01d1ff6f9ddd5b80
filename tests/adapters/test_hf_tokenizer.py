"""A checkpoint folder's tokenizer: each family's BOS convention, padding and masks."""

import pytest
import torch
from hf_tiny import VOCAB, save_tiny, save_tokenizer
from transformers import GPT2Config, LlamaConfig

from workbench import load_hf
from workbench.data.tokenizer import HFTokenizer

TEXTS = ["the cat sat on a mat", "a dog ran", "home"]


@pytest.mark.parametrize("style", ["gpt2", "llama", "qwen2"])
def test_bos_convention_per_family(tmp_path, style) -> None:
    reference = save_tokenizer(tmp_path, style)
    tok = HFTokenizer(tmp_path)
    plain = reference("the cat sat", add_special_tokens=False)["input_ids"]
    expected = {
        "gpt2": [reference.convert_tokens_to_ids("<|endoftext|>"), *plain],  # as TL prepends
        "llama": reference("the cat sat")["input_ids"],  # the tokenizer adds <s> itself
        "qwen2": plain,  # no BOS token at all
    }[style]
    assert tok.encode("the cat sat") == expected
    assert tok.encode("the cat sat", add_bos=False) == plain
    assert expected[0] != plain[0] or style == "qwen2"
    assert (tok.bos_id is None) == (style == "qwen2")


@pytest.mark.parametrize("side", ["right", "left"])
def test_mask_marks_real_tokens(tmp_path, side) -> None:
    save_tokenizer(tmp_path, "gpt2")
    tok = HFTokenizer(tmp_path)
    tokens, mask = tok.to_tokens_with_mask(TEXTS, padding_side=side)
    lengths = [len(tok.encode(t)) for t in TEXTS]
    assert mask.sum(1).tolist() == lengths and mask.dtype == torch.bool
    for row, text, n in zip(range(3), TEXTS, lengths, strict=True):
        real = tokens[row, :n] if side == "right" else tokens[row, tokens.shape[1] - n :]
        assert real.tolist() == tok.encode(text)
        assert bool(mask[row, :n].all() if side == "right" else mask[row, -n:].all())
    with pytest.raises(ValueError, match="padding_side"):
        tok.to_tokens_with_mask(TEXTS, padding_side="middle")


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(
    "config",
    [
        GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=32, vocab_size=VOCAB),
        LlamaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            max_position_embeddings=32,
            vocab_size=VOCAB,
        ),  # fmt: skip
    ],
    ids=["gpt2-learned", "llama-rotary"],
)
def test_padded_batch_equals_each_text_alone(tmp_path, side, config) -> None:
    save_tiny(config, tmp_path)
    save_tokenizer(tmp_path, config.model_type)
    model = load_hf(tmp_path)
    tokens, mask = model.tokenizer.to_tokens_with_mask(TEXTS, padding_side=side)
    with torch.no_grad():
        batch = model(tokens, attention_mask=mask)
        for row, text in enumerate(TEXTS):
            alone = model(model.to_tokens(text))[0]
            torch.testing.assert_close(batch[row][mask[row]], alone, atol=1e-5, rtol=0)
