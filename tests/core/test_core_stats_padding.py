"""Padded batches: padded positions are neither queries nor keys and never enter a
statistic. Statistics of a padded batch equal those of each text run alone."""

import pytest
import torch

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=64, seed=4)
LENGTHS = [17, 9, 12]


def padded_batch(side: str) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    texts = [torch.randint(1, 50, (n,), generator=gen) for n in LENGTHS]
    width = max(LENGTHS)
    tokens = torch.zeros(len(texts), width, dtype=torch.long)
    mask = torch.zeros(len(texts), width, dtype=torch.long)
    for i, text in enumerate(texts):
        span = slice(0, len(text)) if side == "right" else slice(width - len(text), width)
        tokens[i, span], mask[i, span] = text, 1
    return tokens, mask, texts


def real_span(side: str, n: int) -> slice:
    return slice(0, n) if side == "right" else slice(max(LENGTHS) - n, max(LENGTHS))


ATTN = {
    "softmax": ["attn.entropy", "attn.max_weight", "attn.sink", "attn.n_eff", "attn.lse"],
    "sigmoid": ["attn.row_mass", "attn.entropy", "attn.sink", "attn.active_count"],
    "clipped": ["attn.zero_frac", "attn.entropy", "attn.sink", "attn.max_weight"],
    "gated": ["attn.entropy", "attn.gate"],
}


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("position", ["learned", "rotary", "alibi"])
@pytest.mark.parametrize("attention", list(ATTN))
def test_padded_batch_equals_each_text_alone(attention, position, side) -> None:
    model = Model(CFG.replace(attention=attention, position=position)).eval()
    tokens, mask, texts = padded_batch(side)
    names = [*ATTN[attention], "mlp.nonzero_frac", "mlp.fire_count"]
    batch = model.run_with_stats(tokens, names, attention_mask=mask)
    counts = {layer: 0 for layer in range(2)}
    for i, text in enumerate(texts):
        alone = model.run_with_stats(text[None], names)
        span = real_span(side, len(text))
        for name in names[:-1]:
            got = batch[name][:, i : i + 1, ..., span]
            torch.testing.assert_close(got, alone[name], atol=1e-5, rtol=1e-5, msg=name)
            padding = batch[name][:, i, ..., ~mask[i].bool()]
            assert torch.isnan(padding).all(), f"{name}: padded entries must be NaN"
        torch.testing.assert_close(batch.output[i : i + 1, span], alone.output, atol=1e-5,
                                   rtol=1e-5)  # fmt: skip
        for layer in range(2):
            counts[layer] = counts[layer] + alone["mlp.fire_count", layer]
    for layer in range(2):  # exact integer counts over the real tokens only
        assert torch.equal(batch["mlp.fire_count", layer], counts[layer])
    for name in ("attn.entropy", "mlp.nonzero_frac"):  # NaN padding is not "non-finite"
        assert torch.isfinite(batch.layer_means(name)).all() and batch.nonfinite()[name] == 0
    real = [batch["mlp.nonzero_frac", layer][mask.bool()] for layer in range(2)]
    torch.testing.assert_close(batch.layer_means("mlp.nonzero_frac"),
                               torch.stack([r.float().mean() for r in real]))  # fmt: skip


def test_texts_are_tokenized_with_their_mask() -> None:
    from workbench.data.tokenizer import ByteTokenizer

    tokenizer = ByteTokenizer()
    model = Model(CFG.replace(d_vocab=tokenizer.vocab_size), tokenizer=tokenizer).eval()
    texts = ["the old dog sees a red bird.", "a cat."]
    batch = model.run_with_stats(texts, ["attn.entropy"])
    for i, text in enumerate(texts):
        alone = model.run_with_stats(text, ["attn.entropy"])
        n = alone["attn.entropy"].shape[-1]
        torch.testing.assert_close(
            batch["attn.entropy"][:, i : i + 1, :, :n], alone["attn.entropy"]
        )
    assert batch.token_mask.sum(1).tolist() == [len(t) + 1 for t in texts]  # + <bos>


def test_forward_with_left_padding_counts_positions_from_the_first_real_token() -> None:
    model = Model(CFG).eval()  # learned absolute positions
    tokens, mask, texts = padded_batch("left")
    logits = model(tokens, attention_mask=mask)
    for i, text in enumerate(texts):
        span = real_span("left", len(text))
        torch.testing.assert_close(logits[i : i + 1, span], model(text[None]), atol=1e-5,
                                   rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize(
    "mask,match",
    [
        (torch.tensor([[1, 0, 1, 1]]), "not padding"),
        (torch.tensor([[0, 1, 1, 0]]), "not padding"),  # padding on both sides
        (torch.tensor([[0, 0, 0, 0]]), "row 0 has no real token"),
        (torch.tensor([[1, 1, 1]]), "shape"),
        (torch.tensor([[0.5, 1, 1, 1]]), "0/1"),
        (torch.tensor([[2, 1, 1, 1]]), "0/1"),
    ],
    ids=["hole", "both-sides", "empty", "shape", "float", "not-binary"],
)
def test_bad_masks_are_refused(mask, match) -> None:
    model = Model(CFG).eval()
    with pytest.raises(ValueError, match=match):
        model.run_with_stats(torch.ones(1, 4, dtype=torch.long), ["attn.entropy"],
                             attention_mask=mask)  # fmt: skip


def test_right_padding_reaches_the_kernels_as_lengths_and_left_padding_as_positions() -> None:
    """Right padding is the one form the kernels take (one length per row); left-padded rows
    get positions counted from their first real token instead."""
    model = Model(CFG)
    tokens = torch.zeros(2, 6, dtype=torch.long)
    right = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    ctx = model._context(tokens, right, None)
    assert ctx.key_lengths.tolist() == [6, 3] and ctx.row_pos_ids is None
    left = right.flip(1)
    ctx = model._context(tokens, left, None)
    assert ctx.key_lengths is None
    assert ctx.row_pos_ids.tolist() == [[0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 1, 2]]
    assert model._context(tokens, torch.ones(2, 6, dtype=torch.long), None).key_padding_mask is None


def test_mask_type_errors_name_the_argument() -> None:
    model = Model(CFG)
    with pytest.raises(TypeError, match="attention_mask must be a torch.Tensor, got list"):
        model.run_with_stats(torch.ones(1, 4, dtype=torch.long), ["attn.entropy"],
                             attention_mask=[[1, 1, 1, 1]])  # fmt: skip


def test_a_one_row_mask_may_be_one_dimensional_and_texts_may_not_be_empty() -> None:
    model = Model(CFG).eval()
    tokens = torch.randint(1, 50, (1, 7), generator=torch.Generator().manual_seed(3))
    flat = model.run_with_stats(tokens, ["attn.entropy"], attention_mask=torch.tensor(
        [1, 1, 1, 1, 1, 0, 0]))  # fmt: skip
    alone = model.run_with_stats(tokens[:, :5], ["attn.entropy"])
    torch.testing.assert_close(flat["attn.entropy"][..., :5], alone["attn.entropy"])
    from workbench.core.padding import encode_batch

    with pytest.raises(ValueError, match="No texts given"):
        encode_batch(object(), [])


def test_unknown_statistic_names_suggest_the_close_ones() -> None:
    stats = Model(CFG).eval().run_with_stats(torch.ones(1, 4, dtype=torch.long), ["attn.entropy"])
    with pytest.raises(KeyError, match=r"No statistic 'attn.entropi'. Did you mean: attn.entropy"):
        stats["attn.entropi"]
    with pytest.raises(KeyError, match=r"No statistic \('attn.entropi', 0\). Did you mean"):
        stats["attn.entropi", 0]


def test_glu_fire_counts_of_a_padded_batch_leave_padding_out() -> None:
    """GLU MLPs count from the materialized activation (no kernel): padding stays out too."""
    model = Model(CFG.replace(mlp="swiglu")).eval()
    tokens, mask, texts = padded_batch("right")
    names = ["mlp.fire_count", "mlp.nonzero_frac"]
    batch = model.run_with_stats(tokens, names, attention_mask=mask, mlp_threshold=0.05)
    alone = [model.run_with_stats(t[None], names, mlp_threshold=0.05) for t in texts]
    for layer in range(2):
        expected = sum(a["mlp.fire_count", layer] for a in alone)
        assert torch.equal(batch["mlp.fire_count", layer], expected)


def test_request_names_one_string_or_refuse_unknown_families() -> None:
    model = Model(CFG).eval()
    tokens = torch.ones(1, 4, dtype=torch.long)
    assert model.run_with_stats(tokens, "attn.entropy").names == ["attn.entropy"]
    with pytest.raises(ValueError, match="'foo.bar' is not supported by this model"):
        model.run_with_stats(tokens, ["foo.bar"])
    with pytest.raises(ValueError, match="No statistics requested"):
        model.run_with_stats(tokens, [])
