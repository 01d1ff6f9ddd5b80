"""The statistics overview against plain float64 formulas on materialized patterns."""

from __future__ import annotations

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis import Result, get_analysis, overview, registered_analyses
from workbench.analysis.overview import StatsOverviewResult


@pytest.fixture(scope="module")
def model() -> Model:
    cfg = ModelConfig(
        d_model=32, n_layers=2, n_heads=4, d_mlp=64, d_vocab=50, n_ctx=16, mlp="relu", seed=3
    )
    return Model(cfg)


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return torch.randint(0, 50, (5, 12), generator=torch.Generator().manual_seed(0))


def reference(model: Model, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Statistics from the materialized `[batch, head, query, key]` patterns, in float64."""
    _, cache = model.run_with_cache(
        tokens, names_filter=lambda n: n.endswith(("hook_pattern", "mlp.hook_post"))
    )
    out: dict[str, list] = {"entropy": [], "max_weight": [], "sink": [], "n_eff": [], "mlp": []}
    for layer in range(model.cfg.n_layers):
        p = cache[f"blocks.{layer}.attn.hook_pattern"].double()
        out["entropy"].append((-torch.special.xlogy(p, p).sum(-1)).mean((0, 2)))
        out["max_weight"].append(p.amax(-1).mean((0, 2)))
        out["sink"].append(p[..., 0].mean((0, 2)))
        out["n_eff"].append((1 / p.pow(2).sum(-1)).mean((0, 2)))
        post = cache[f"blocks.{layer}.mlp.hook_post"].double()
        out["mlp"].append((post > 0).double().mean(-1).mean())
    return {name: torch.stack(values) for name, values in out.items()}


def test_overview_matches_the_reference(model, tokens):
    result = overview.compute(model, tokens, batch_size=2)  # 3 batches, the last one short
    expected = reference(model, tokens)
    for name in ("entropy", "max_weight", "sink", "n_eff"):
        got = getattr(result, name)
        assert got.shape == (2, 4) and got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected[name], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(result.mlp_nonzero_frac.double(), expected["mlp"], rtol=0, atol=1e-6)
    assert result.n_nonfinite == {name: 0 for name in result.n_nonfinite}
    assert result.metadata.n_tokens == tokens.numel()
    assert result.metadata.options["batch_size"] == 2


def test_overview_refuses_padding_until_masked_statistics_exist(model, tokens):
    mask = torch.ones_like(tokens)
    mask[0, -1] = 0
    with pytest.raises(NotImplementedError, match="padded batches"):
        overview.compute(model, tokens, attention_mask=mask)


def test_overview_is_registered_and_round_trips(model, tokens, tmp_path):
    assert "stats_overview" in [a.name for a in registered_analyses()]
    assert get_analysis("stats_overview").compute is overview.compute
    with pytest.raises(KeyError, match="Did you mean: stats_overview"):
        get_analysis("stats_overveiw")
    result = overview.compute(model, tokens)
    loaded = Result.from_json(result.to_json(tmp_path / "o.json"))
    assert isinstance(loaded, StatsOverviewResult)
    assert torch.equal(loaded.entropy, result.entropy) and loaded.metadata == result.metadata


def test_a_name_cannot_be_registered_twice_with_other_functions():
    from workbench.analysis import register_analysis

    entry = get_analysis("stats_overview")
    assert register_analysis("stats_overview", entry.compute, entry.report_section) == entry
    with pytest.raises(ValueError, match="'stats_overview' is already registered"):
        register_analysis("stats_overview", lambda model: None, entry.report_section)
