"""`collect_stats` / `StatsSummary`: corpus statistics equal a direct computation, merges
are exact for counts and associative, files round-trip, bad input is refused."""

import pytest
import torch

import workbench as wb
from workbench import Model, ModelConfig
from workbench.data.tokenizer import ByteTokenizer

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=64, seed=6)
NAMES = ["attn.entropy", "attn.sink", "mlp.nonzero_frac", "mlp.fire_count"]


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(CFG).eval()


def corpus(n: int = 10, t: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 50, (n, t), generator=torch.Generator().manual_seed(seed))


def collect(model, data, **kw):
    return wb.collect_stats(model, data, NAMES, batch_size=3, progress=False, **kw)


def test_means_and_counts_equal_a_direct_computation(model) -> None:
    tokens = corpus()
    summary = collect(model, tokens)
    _, cache = model.run_with_cache(tokens)
    for layer in range(2):
        p = cache["pattern", layer].double()  # [batch, head, q, k]
        entropy = -torch.where(p > 0, p * p.clamp_min(1e-300).log(), 0.0).sum(-1)
        expected = entropy.permute(1, 0, 2).flatten(1)  # [head, tokens]
        torch.testing.assert_close(summary.mean("attn.entropy")[layer], expected.mean(1))
        std = expected.std(1, correction=0)
        torch.testing.assert_close(summary.std("attn.entropy")[layer], std)
        torch.testing.assert_close(summary.max("attn.entropy")[layer], expected.amax(1))
        torch.testing.assert_close(summary.min("attn.entropy")[layer], expected.amin(1))
        fired = cache["post", layer] > 0
        assert torch.equal(summary.fire_counts["mlp.fire_count"][layer], fired.sum((0, 1)))
        torch.testing.assert_close(summary.mean("mlp.nonzero_frac")[layer],
                                   fired.double().mean(-1).mean())  # fmt: skip
    assert summary.fire_counts["mlp.fire_count"].dtype == torch.int64  # exact past 2**24
    hist, edges = summary.histogram("attn.entropy")
    assert int(hist.sum()) == 2 * 4 * tokens.numel() and len(edges) == 65
    assert summary.tokens == tokens.numel() and summary.sequences == 10


def test_halves_merged_equal_one_pass(model) -> None:
    tokens = corpus(12)
    whole = collect(model, tokens)
    a, b, c = collect(model, tokens[:5]), collect(model, tokens[5:9]), collect(model, tokens[9:])
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    for merged in (left, right):
        assert merged.tokens == whole.tokens and merged.sequences == whole.sequences
        fires = merged.fire_counts["mlp.fire_count"]
        assert torch.equal(fires, whole.fire_counts["mlp.fire_count"])
        for name, acc in whole.accumulators.items():
            got = merged.accumulators[name]
            assert torch.equal(got.count, acc.count) and torch.equal(got.hist, acc.hist)
            assert torch.equal(got.min, acc.min) and torch.equal(got.max, acc.max)
            torch.testing.assert_close(got.sum, acc.sum, rtol=1e-9, atol=0)
            torch.testing.assert_close(got.sumsq, acc.sumsq, rtol=1e-9, atol=0)


def test_save_and_load_round_trip(model, tmp_path) -> None:
    summary = collect(model, corpus())
    loaded = wb.StatsSummary.load(summary.save(tmp_path / "s.safetensors"))
    assert loaded.meta == summary.meta and loaded.tokens == summary.tokens
    for name in summary.accumulators:
        assert torch.equal(loaded.mean(name), summary.mean(name))
        assert torch.equal(loaded.histogram(name)[0], summary.histogram(name)[0])
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="corrupt"):
        wb.StatsSummary.load(tmp_path / "bad.safetensors")


def test_texts_with_padding_count_real_tokens_only() -> None:
    tok = ByteTokenizer()
    model = Model(CFG.replace(d_vocab=tok.vocab_size), tokenizer=tok).eval()
    texts = ["the old dog sees a red bird.", "a cat.", "birds sing in the old tree."]
    batched = collect(model, texts)
    single = [collect(model, tok.to_tokens(t)) for t in texts]
    merged = single[0].merge(single[1]).merge(single[2])
    assert batched.tokens == sum(len(t) + 1 for t in texts) == merged.tokens
    for name in batched.accumulators:
        torch.testing.assert_close(batched.mean(name), merged.mean(name), rtol=1e-6, atol=1e-6)
    assert torch.equal(batched.fire_counts["mlp.fire_count"], merged.fire_counts["mlp.fire_count"])


def test_long_text_is_cut_into_windows_and_max_tokens_stops_at_a_boundary() -> None:
    tok = ByteTokenizer()
    model = Model(CFG.replace(d_vocab=tok.vocab_size), tokenizer=tok).eval()
    text = "the old dog sees a red bird. " * 20  # 580 bytes
    summary = collect(model, text, seq_len=64)
    assert summary.sequences == 10 and summary.tokens == 580 + 10  # one BOS per window
    capped = collect(model, text, seq_len=64, max_tokens=200)
    assert capped.tokens == 192 and capped.sequences == 3  # whole windows only


def test_bad_input_is_refused(model) -> None:
    with pytest.raises(ValueError, match="empty"):
        collect(model, [])
    with pytest.raises(ValueError, match="Did you mean"):
        wb.collect_stats(model, corpus(), ["attn.entropi"], progress=False)
    tok = ByteTokenizer()
    small = Model(CFG.replace(d_vocab=tok.vocab_size), tokenizer=tok)
    with pytest.raises(ValueError, match="text 1 has 101 tokens, more than the model's context"):
        collect(small, ["short", "x" * 100])
    other = collect(Model(CFG.replace(seed=7)).eval(), corpus())
    other.meta["config_hash"] = "different"
    with pytest.raises(ValueError, match="different config_hash"):
        collect(model, corpus()).merge(other)


def test_token_ids_with_a_mask_count_real_tokens_only(model) -> None:
    tokens = corpus(n=2, t=12)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False  # right padding
    masked = collect(model, tokens, attention_mask=mask)
    alone = collect(model, tokens[:1]).merge(collect(model, tokens[1:, :7]))
    assert masked.tokens == 19 == alone.tokens
    for name in masked.accumulators:
        torch.testing.assert_close(masked.mean(name), alone.mean(name))
    assert torch.equal(masked.fire_counts["mlp.fire_count"], alone.fire_counts["mlp.fire_count"])
    with pytest.raises(ValueError, match=r"attention_mask shape \(2, 11\) != tokens \(2, 12\)"):
        collect(model, tokens, attention_mask=mask[:, :11])


def test_text_windows_need_room_for_bos_and_a_token() -> None:
    tok = ByteTokenizer()
    model = Model(CFG.replace(d_vocab=tok.vocab_size), tokenizer=tok).eval()
    with pytest.raises(ValueError, match=r"^seq_len must be >= 2 \(BOS \+ a token\), got 1$"):
        collect(model, "some text", seq_len=1)


def test_data_records_say_what_was_seen_and_merge_in_order(model) -> None:
    """Run 8 (issue #20): the summary's `meta["data"]` (what a reader checks to know which
    corpus a statistic came from) had no test of its fields, nor of how merges keep both."""
    a, b = collect(model, corpus(4, 10)), collect(model, corpus(3, 8, seed=1))
    for summary, tokens, sequences in ((a, 40, 4), (b, 24, 3)):
        (record,) = summary.meta["data"]
        assert sorted(record) == ["fingerprint", "sequences", "tokens"]
        assert (record["tokens"], record["sequences"]) == (tokens, sequences)
        assert len(record["fingerprint"]) == 16
    assert a.meta["data"][0]["fingerprint"] != b.meta["data"][0]["fingerprint"]
    assert a.merge(b).meta["data"] == [*a.meta["data"], *b.meta["data"]]


def test_one_sequence_as_a_1d_tensor_is_one_row(model) -> None:
    row = corpus(1, 40)
    flat, batched = collect(model, row[0]), collect(model, row)
    assert (flat.tokens, flat.sequences) == (40, 1)
    assert flat.meta == batched.meta
    assert torch.equal(flat.mean("attn.entropy"), batched.mean("attn.entropy"))


def test_the_progress_bar_counts_each_real_token_once(model, capsys) -> None:
    wb.collect_stats(model, corpus(4, 10), NAMES, batch_size=3, progress=True)
    assert "| 40/40 [" in capsys.readouterr().err


def test_a_single_token_mean_is_its_value(model) -> None:
    """One token: count 1, so the mean is the value itself (not halved, not clamped)."""
    tokens = corpus(n=1, t=1)
    summary = wb.collect_stats(model, tokens, ["mlp.nonzero_frac"], progress=False)
    _, cache = model.run_with_cache(tokens)
    for layer in range(2):
        fired = (cache["post", layer] > 0).double().mean()
        torch.testing.assert_close(summary.mean("mlp.nonzero_frac")[layer], fired)


def test_per_layer_position_schedule_records_each_layers_statistics() -> None:
    """With a position schedule each block gets its own context; statistics still go to
    that block's layer."""
    model = Model(CFG.replace(position=["rotary", "none"])).eval()
    tokens = corpus(n=2, t=6)
    frac = model.run_with_stats(tokens, ["mlp.nonzero_frac"])["mlp.nonzero_frac"]
    _, cache = model.run_with_cache(tokens)
    for layer in range(2):
        fired = (cache["post", layer] > 0).double().mean(-1)
        torch.testing.assert_close(frac[layer].double(), fired)


def test_texts_for_a_model_without_a_context_limit_are_collected() -> None:
    """Rotary positions have no max_len: no length check applies, the texts are counted."""
    tok = ByteTokenizer()
    model = Model(CFG.replace(d_vocab=tok.vocab_size, position="rotary"), tokenizer=tok).eval()
    assert model.pos_embed.max_len is None
    texts = ["a cat.", "the old dog sees a red bird."]
    summary = collect(model, texts)
    assert summary.tokens == sum(len(t) + 1 for t in texts)
