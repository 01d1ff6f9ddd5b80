"""`run_with_stats` equals the statistics computed from `run_with_cache` patterns."""

import math
import os

import pytest
import torch

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=64, seed=2)


def pattern_stats(pattern: torch.Tensor) -> dict[str, torch.Tensor]:
    """Brute force from a materialized pattern [batch, head, q, k]."""
    p = pattern.double()
    plogp = torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p))
    return {
        "entropy": -plogp.sum(-1),
        "max_weight": p.amax(-1),
        "sink": p[..., 0],
        "n_eff": 1 / p.pow(2).sum(-1),
    }


@pytest.mark.parametrize(
    "overrides",
    [{}, {"causal": False}, {"position": "rotary", "n_kv_heads": 2}],
    ids=["causal", "encoder", "rotary-gqa"],
)
def test_attention_stats_match_cached_patterns(overrides) -> None:
    model = Model(CFG.replace(**overrides))
    tokens = torch.randint(0, 50, (2, 37), generator=torch.Generator().manual_seed(0))
    names = ["attn.entropy", "attn.max_weight", "attn.sink", "attn.n_eff", "attn.lse"]
    stats = model.run_with_stats(tokens, names)
    logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(stats.output, logits, atol=1e-5, rtol=1e-5)
    for layer in range(CFG.n_layers):
        expected = pattern_stats(cache["pattern", layer])
        for name, value in expected.items():
            torch.testing.assert_close(
                stats[f"attn.{name}", layer].double(), value, atol=1e-5, rtol=1e-4
            )
        lse = cache["attn_scores", layer].double().logsumexp(-1)
        torch.testing.assert_close(stats["attn.lse", layer].double(), lse, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"causal": False}, {"position": "rotary", "n_kv_heads": 2}, {"attention": "gated"}],
    ids=["causal", "encoder", "rotary-gqa", "gated"],
)
def test_fused_sdpa_statistics_match_cached_patterns(overrides) -> None:
    """lse/entropy/sink alone take the fused-SDPA path on the CPU (softmax/sdpa.py)."""
    model = Model(CFG.replace(**overrides))
    tokens = torch.randint(0, 50, (2, 37), generator=torch.Generator().manual_seed(3))
    stats = model.run_with_stats(tokens, ["attn.entropy", "attn.sink", "attn.lse"])
    logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(stats.output, logits, atol=1e-5, rtol=1e-5)
    for layer in range(CFG.n_layers):
        expected = pattern_stats(cache["pattern", layer])
        for name in ("entropy", "sink"):
            torch.testing.assert_close(stats[f"attn.{name}", layer].double(), expected[name],
                                       atol=1e-5, rtol=1e-4)  # fmt: skip
        lse = cache["attn_scores", layer].double().logsumexp(-1)
        torch.testing.assert_close(stats["attn.lse", layer].double(), lse, atol=1e-5, rtol=1e-5)


def test_entropy_bounds_for_causal_rows() -> None:
    model = Model(CFG)
    tokens = torch.randint(0, 50, (1, 30), generator=torch.Generator().manual_seed(1))
    entropy = model.run_with_stats(tokens, ["attn.entropy"])["attn.entropy"]  # [layer, b, h, pos]
    bound = torch.log(torch.arange(1, 31, dtype=torch.float32))
    assert torch.all(entropy >= -1e-6) and torch.all(entropy <= bound + 1e-5)
    assert entropy.shape == (2, 1, 4, 30)


def test_mlp_stats_match_cached_activations() -> None:
    model = Model(CFG)
    tokens = torch.randint(0, 50, (2, 20), generator=torch.Generator().manual_seed(2))
    stats = model.run_with_stats(tokens, ["mlp.nonzero_frac", "mlp.fire_count"])
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("mlp.hook_post"))
    for layer in range(2):
        post = cache["post", layer]
        torch.testing.assert_close(stats["mlp.nonzero_frac", layer], (post > 0).float().mean(-1))
        assert torch.equal(stats["mlp.fire_count", layer], (post > 0).sum((0, 1)))
        assert stats["mlp.fire_count", layer].dtype == torch.int64


def test_unknown_statistic_lists_close_names() -> None:
    model = Model(CFG)
    with pytest.raises(ValueError, match="Did you mean: attn.entropy"):
        model.run_with_stats(torch.zeros(1, 4, dtype=torch.long), ["attn.entropi"])


def test_nonfinite_values_are_counted_not_averaged() -> None:
    from workbench.core.stats import Stats

    values = {("attn.entropy", 0): torch.tensor([1.0, float("nan"), 3.0])}
    stats = Stats(values, n_layers=1)
    assert stats.nonfinite() == {"attn.entropy": 1}
    with pytest.warns(UserWarning, match="1 non-finite") as caught:
        mean = stats.layer_means("attn.entropy").item()
    assert mean == pytest.approx(2.0) and not math.isnan(mean)
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline adds a stack frame
        assert caught[0].filename == __file__  # the warning points at the caller's line


def test_the_histogram_drops_nonfinite_values_and_counts_them_apart() -> None:
    """Run 8 (issue #20): `Accumulator.add` with NaN and inf, by hand: 4 equal bins on [0, 1]
    plus underflow and overflow; -1 under, 0.1 in bin 1, 0.6 in bin 3, 2 over."""
    from workbench.core.summary import Accumulator, Bins

    bins = Bins(0.0, 1.0, bins=4)
    acc = Accumulator.empty(1, (1,), bins)
    acc.add(0, torch.tensor([[0.1, math.inf, math.nan, 0.6, 2.0, -1.0]]), bins)
    assert acc.hist[0, 0].tolist() == [1, 1, 0, 1, 0, 1]
    assert (acc.count.item(), acc.nonfinite.item()) == (4, 2)
    assert (acc.min.item(), acc.max.item()) == (-1.0, 2.0)
    assert acc.sum.item() == pytest.approx(1.7) and acc.sumsq.item() == pytest.approx(5.37)


def test_log_bins_edges_are_float64_powers_of_ten() -> None:
    from workbench.core.summary import Bins

    edges = Bins(1e-6, 1.0, bins=6, log=True).edges()
    assert edges.dtype == torch.float64
    expected = torch.tensor([10.0**e for e in range(-6, 1)], dtype=torch.float64)
    torch.testing.assert_close(edges, expected, rtol=1e-12, atol=0)
