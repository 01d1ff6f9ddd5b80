"""The shared runner: token preparation, batching, eval mode and no_grad, corpus windows."""

from __future__ import annotations

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis import corpus_tokens, prepare_tokens, run_batches
from workbench.data import ByteTokenizer, load_corpus


@pytest.fixture(scope="module")
def model() -> Model:
    cfg = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=ByteTokenizer.vocab_size, n_ctx=64)
    return Model(cfg, tokenizer=ByteTokenizer())


def test_texts_become_padded_tokens_with_a_mask(model):
    tokenizer = ByteTokenizer()
    tokens, mask = prepare_tokens(model, ["the dog", "a"])
    assert tokens[0].tolist() == tokenizer.encode("the dog", add_bos=True)
    assert tokens[1, :2].tolist() == tokenizer.encode("a", add_bos=True)
    assert mask.tolist() == [[True] * 8, [True, True] + [False] * 6]
    single, single_mask = prepare_tokens(model, "the dog")
    assert torch.equal(single, tokens[:1]) and bool(single_mask.all())


def test_token_ids_are_checked_with_clear_errors(model):
    with pytest.raises(ValueError, match=r"token id 999 at \[batch 0, pos 1\]"):
        prepare_tokens(model, torch.tensor([[1, 999]]))
    with pytest.raises(ValueError, match="exceeds n_ctx = 64"):
        prepare_tokens(model, torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match=r"attention_mask shape \(1, 3\) != tokens shape \(1, 2\)"):
        prepare_tokens(model, torch.tensor([[1, 2]]), torch.ones(1, 3))
    with pytest.raises(ValueError, match="hides every position of sequence"):
        prepare_tokens(model, torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 1], [0, 0]]))
    with pytest.raises(ValueError, match="only 0/1"):
        prepare_tokens(model, torch.tensor([[1, 2]]), torch.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="non-empty list of strings"):
        prepare_tokens(model, [])


def test_run_batches_covers_every_row_once_in_order(model):
    tokens = torch.arange(70).reshape(7, 10) % 250
    mask = torch.rand(7, 10) > 0.3
    seen = run_batches(model, tokens, lambda t, m: (t, m), batch_size=3, mask=mask)
    assert [t.shape[0] for t, _ in seen] == [3, 3, 1]
    assert torch.equal(torch.cat([t for t, _ in seen]), tokens)
    assert torch.equal(torch.cat([m for _, m in seen]), mask)


def test_run_batches_evals_without_grad_and_restores_the_mode(model):
    model.train()
    modes = run_batches(
        model,
        torch.zeros(2, 4, dtype=torch.long),
        lambda t, m: (model.training, torch.is_grad_enabled()),
        batch_size=1,
    )
    assert modes == [(False, False), (False, False)]
    assert model.training  # restored

    def fails(t, m):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_batches(model, torch.zeros(1, 4, dtype=torch.long), fails, batch_size=1)
    assert model.training  # restored after the error too
    model.eval()
    run_batches(model, torch.zeros(1, 4, dtype=torch.long), lambda t, m: None, batch_size=1)
    assert not model.training


def test_corpus_tokens_are_consecutive_validation_text(model):
    tokens = corpus_tokens(model, n_sequences=3, seq_len=10)
    tokenizer = ByteTokenizer()
    assert tokens.shape == (3, 10)
    assert (tokens[:, 0] == tokenizer.bos_id).all()
    text = load_corpus("val")[:27]
    assert tokens[:, 1:].flatten().tolist() == tokenizer.encode(text, add_bos=False)
