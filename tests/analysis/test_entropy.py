"""Attention entropy analysis against outside references: float64 formulas on the full
attention pattern (`run_with_cache`), Hugging Face BERT, and TransformerLens conversions."""

import math

import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.entropy import EntropyResult, collect_entropy_stats, compute
from workbench.analysis.result import Result


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0,
                  init_range=0.3)  # fmt: skip
    return Model(ModelConfig(**{**fields, **overrides})).eval()


def reference_stats(model, tokens, mask=None, softmax_of_scores=False) -> dict[str, torch.Tensor]:
    """Means over real queries from the float64 pattern: plain formulas, no kernel code.
    `softmax_of_scores`: entropy of the softmax of the scores (clipped softmax's statistic)."""
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask.bool()
    hooks = ("hook_pattern", "hook_attn_scores")
    _, cache = model.run_with_cache(tokens, attention_mask=mask,
                                    names_filter=lambda n: n.endswith(hooks))  # fmt: skip
    sums = {k: 0.0 for k in ("entropy", "normalized", "max_weight", "sink", "n_eff")}
    count = norm_count = 0
    for b in range(tokens.shape[0]):
        real = mask[b].nonzero().flatten().tolist()
        for i in real:
            keys = [j for j in real if j <= i] if model.cfg.causal else real
            w = torch.stack([cache["pattern", layer][b, :, i, keys].double()
                             for layer in range(model.cfg.n_layers)])  # fmt: skip
            p = w / w.sum(-1, keepdim=True)
            if softmax_of_scores:
                p = torch.stack([cache["attn_scores", layer][b, :, i, keys].double().softmax(-1)
                                 for layer in range(model.cfg.n_layers)])  # fmt: skip
            h = -(p * p.log()).nan_to_num().sum(-1)  # 0 log 0 = 0
            sums["entropy"] = sums["entropy"] + h
            sums["max_weight"] = sums["max_weight"] + w.max(-1).values
            sums["sink"] = sums["sink"] + w[..., 0]
            sums["n_eff"] = sums["n_eff"] + 1 / p.square().sum(-1)
            count += 1
            if len(keys) > 1:
                sums["normalized"] = sums["normalized"] + h / math.log(len(keys))
                norm_count += 1
    out = {k: v / count for k, v in sums.items()}
    out["normalized"] = sums["normalized"] / norm_count
    return out


def assert_matches(result: EntropyResult, ref: dict, stats=("entropy", "max_weight", "sink",
                   "n_eff"), atol=1e-4) -> None:  # fmt: skip
    for name in stats:
        torch.testing.assert_close(getattr(result, name).double(), ref[name], atol=atol, rtol=0)
    torch.testing.assert_close(result.normalized_entropy.double(), ref["normalized"], atol=atol,
                               rtol=0)  # fmt: skip


@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_padded_batch_matches_float64_reference(left) -> None:
    model = tiny()
    tokens = torch.randint(3, 259, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 7:], mask[2, 4:] = False, False
    if left:
        mask = mask.flip(1)
    result = compute(model, tokens, attention_mask=mask, batch_size=2, progress=False)
    assert_matches(result, reference_stats(model, tokens, mask))
    assert result.n_queries == int(mask.sum())


@pytest.mark.parametrize("kind", ["sigmoid", "clipped", "gated"])
def test_other_attention_kinds_match_reference(kind) -> None:
    model = tiny(attention=kind)
    tokens = torch.randint(3, 259, (2, 10), generator=torch.Generator().manual_seed(1))
    result = compute(model, tokens, progress=False)
    offered = [s for s in ("entropy", "max_weight", "sink", "n_eff") if s in result.stats_available]
    assert "entropy" in offered
    # clipped softmax reports the entropy of its unclipped softmax (see kernels/attention)
    ref = reference_stats(model, tokens, softmax_of_scores=kind == "clipped")
    assert_matches(result, ref, stats=["entropy"])
    ref = reference_stats(model, tokens)
    for name in offered[1:]:
        torch.testing.assert_close(getattr(result, name).double(), ref[name], atol=1e-4, rtol=0)
    for missing in {"max_weight", "sink", "n_eff"} - set(offered):
        assert torch.isnan(getattr(result, missing)).all()  # not offered: NaN, never 0


def test_single_text_per_position_matches_reference() -> None:
    model, _ = workbench.load_default()
    text = "the old dog sat on the mat"
    result = compute(model, text, progress=False)
    tokens = model.to_tokens(text)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    for layer in range(model.cfg.n_layers):
        p = cache["pattern", layer][0].double()
        expected = -(p * p.log()).nan_to_num().sum(-1)  # [head, pos]
        torch.testing.assert_close(result.per_position[layer].double(), expected, atol=1e-4,
                                   rtol=0)  # fmt: skip
    assert result.str_tokens == model.to_str_tokens(tokens[0])
    assert_matches(result, reference_stats(model, tokens))


def test_minilm_matches_hugging_face_eager_attention() -> None:
    transformers = pytest.importorskip("transformers")
    from workbench.adapters import minilm_path

    sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Attention entropy measures how spread out a head's attention is.",
        "Short.",
    ]
    path = minilm_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    hf = transformers.BertModel.from_pretrained(path, attn_implementation="eager").eval()
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        attentions = hf(**batch, output_attentions=True).attentions
    real = batch["attention_mask"].bool()
    expected, normalized = [], []
    log_len = real.sum(1).double().log()[:, None, None]  # bidirectional: every real key
    for pattern in attentions:  # [batch, head, q, k], padded keys have weight 0
        p = pattern.double()
        h = -(p * p.clamp_min(1e-300).log()).sum(-1)  # [batch, head, q]
        expected.append((h * real[:, None]).sum((0, 2)) / real.sum())
        normalized.append((h / log_len * real[:, None]).sum((0, 2)) / real.sum())
    model = workbench.load_minilm()
    result = compute(model, sentences, progress=False)
    torch.testing.assert_close(result.entropy.double(), torch.stack(expected), atol=1e-4, rtol=0)
    torch.testing.assert_close(result.normalized_entropy.double(), torch.stack(normalized),
                               atol=1e-4, rtol=0)  # fmt: skip
    assert result.n_queries == int(real.sum())


def test_transformer_lens_conversion_matches_reference() -> None:
    pytest.importorskip("transformer_lens")
    import transformer_lens.model_bridge.sources.native  # noqa: F401
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    tl = TransformerBridge.boot_native(TransformerBridgeConfig(
        d_model=32, n_layers=2, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=16,
        act_fn="relu", normalization_type="LN", seed=0))  # fmt: skip
    model = workbench.from_transformer_lens(tl)
    tokens = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(2))
    _, cache = tl.run_with_cache(tokens)
    expected = []
    for layer in range(2):
        p = cache[f"blocks.{layer}.attn.hook_pattern"].double()
        expected.append(-(p * p.log()).nan_to_num().sum(-1).mean((0, 2)))
    result = compute(model, tokens, progress=False)
    torch.testing.assert_close(result.entropy.double(), torch.stack(expected), atol=1e-4, rtol=0)


def test_from_summary_of_plain_collect_stats_and_saved_summary(tmp_path) -> None:
    model = tiny()
    tokens = torch.randint(3, 259, (4, 12), generator=torch.Generator().manual_seed(3))
    ref = reference_stats(model, tokens)
    plain = workbench.collect_stats(model, tokens, ["attn.entropy", "attn.sink"], progress=False)
    result = EntropyResult.from_summary(plain)
    torch.testing.assert_close(result.entropy.double(), ref["entropy"], atol=1e-4, rtol=0)
    torch.testing.assert_close(result.sink.double(), ref["sink"], atol=1e-4, rtol=0)
    assert torch.isnan(result.normalized_entropy).all()  # needs per-query division: absent
    assert torch.isnan(result.n_eff).all()
    path = collect_entropy_stats(model, tokens, progress=False).save(tmp_path / "h.safetensors")
    loaded = EntropyResult.from_summary(workbench.StatsSummary.load(path))
    assert_matches(loaded, ref)


def test_json_round_trip(tmp_path) -> None:
    model, _ = workbench.load_default()
    result = compute(model, "a short text", progress=False)
    back = Result.from_json(result.to_json(tmp_path / "entropy.json"))
    assert isinstance(back, EntropyResult)
    assert torch.equal(back.entropy, result.entropy)
    assert torch.equal(back.per_position, result.per_position)
    assert back.str_tokens == result.str_tokens


def test_default_corpus_has_no_padding_and_every_query_counts() -> None:
    model, _ = workbench.load_default()
    result = compute(model, progress=False)
    assert result.n_queries == 16 * 128
    assert result.entropy.shape == (3, 4)
    assert all(n == 0 for n in result.n_nonfinite.values())


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"blocks\.0, blocks\.1 \(mamba\): no attention weights, but .*attn\.mix_entropy",
    ):
        compute(tiny(attention="mamba"), torch.zeros(1, 4, dtype=torch.long), progress=False)
    model, _ = workbench.load_default()
    with pytest.raises(ValueError, match="list of texts is empty"):
        compute(model, [], progress=False)
    with pytest.raises(ValueError, match="text is empty"):
        compute(model, "", seq_len=16, progress=False)
    with pytest.raises(ValueError, match="more than the model's context \\(256\\)"):
        compute(model, "x" * 300, progress=False)
    with pytest.raises(ValueError, match="more than the model's context"):
        compute(model, ["x" * 300], progress=False)
