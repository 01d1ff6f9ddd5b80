"""Theorem 3.1 (Zhai et al. 2023): the formula against a brute-force minimum, sigma and
sigma_x against the model's actual logits, and measured >= bound on random/trained models."""

import math

import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.entropy_bound import compute_bound, theorem_bound


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0)
    return Model(ModelConfig(**{**fields, **overrides})).eval()


@pytest.mark.parametrize("t", [2, 3, 5])
@pytest.mark.parametrize("s", [0.3, 1.0, 3.0])
def test_formula_is_the_minimum_entropy_over_logits_of_norm_s(t, s) -> None:
    """Entropy of softmax(a) over many random a with ||a|| = s never goes below the bound,
    and the one-spike vector (the theorem's extremal case) reaches it."""
    bound = float(theorem_bound(s, t))
    a = torch.randn(200_000, t, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = s * a / a.norm(dim=1, keepdim=True)
    p = a.softmax(-1)
    entropies = -(p * p.log()).sum(-1)
    assert float(entropies.min()) >= bound - 1e-12
    spike = torch.full((t,), -s / math.sqrt(t * (t - 1)), dtype=torch.float64)
    spike[0] = s * math.sqrt((t - 1) / t)
    assert abs(float(spike.norm()) - s) < 1e-12
    q = spike.softmax(-1)
    assert abs(float(-(q * q.log()).sum()) - bound) < 1e-10


def test_bound_limits() -> None:
    assert float(theorem_bound(torch.tensor(0.0), 16)) == pytest.approx(math.log(16))
    assert float(theorem_bound(torch.tensor(1e4), 16)) == pytest.approx(0.0, abs=1e-12)
    assert float(theorem_bound(torch.tensor(5.0), 1)) == 0.0  # one key: entropy 0


@pytest.mark.parametrize("init_range", [0.02, 0.3])
def test_logit_norms_are_within_sigma_times_sigma_x(init_range) -> None:
    """||a_i|| <= sigma * sigma_x on the model's own scores (scale and biases included)."""
    model = tiny(init_range=init_range)
    with torch.no_grad():
        for block in model.blocks:  # nonzero biases, so folding them in is tested
            block.attn.b_Q.normal_(0, 0.5)
            block.attn.b_K.normal_(0, 0.5)
    tokens = torch.randint(3, 259, (1, 24), generator=torch.Generator().manual_seed(0))
    result = compute_bound(model, tokens)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("attn_scores"))
    for layer in range(2):
        scores = cache["attn_scores", layer][0].double()  # [head, q, k], -inf above diagonal
        norms = torch.where(torch.isfinite(scores), scores, 0.0).norm(dim=-1)  # [head, q]
        limit = (result.sigma[layer].double() * result.sigma_x[layer].double())[:, None]
        assert bool((norms <= limit * (1 + 1e-5)).all())
        # and not vacuously: the limit is within a modest factor of the largest row norm
        assert float(norms.max()) > 1e-3 * float(limit.max())


@pytest.mark.parametrize("kind", ["softmax", "gated"])
@pytest.mark.parametrize("init_range", [0.002, 0.02, 0.3])
def test_measured_entropy_is_above_the_bound_on_random_models(init_range, kind) -> None:
    model = tiny(init_range=init_range, attention=kind)  # gated: softmax weights, gate after
    tokens = torch.randint(3, 259, (1, 40), generator=torch.Generator().manual_seed(1))
    result = compute_bound(model, tokens)
    assert result.applies
    assert result.violations == 0
    assert bool((result.measured >= result.bound - 1e-5).all())
    if init_range == 0.002:  # tiny weights: the bound is close to log(T), not vacuous
        assert float(result.bound_mean.min()) > 0.9 * float(result.measured_mean.min())


def test_measured_entropy_is_above_the_bound_on_trained_models() -> None:
    model, _ = workbench.load_default()
    result = compute_bound(model)
    assert result.applies and result.violations == 0
    assert bool((result.measured >= result.bound - 1e-5).all())
    minilm = workbench.load_minilm()  # post-LN, bidirectional
    result = compute_bound(minilm, "The quick brown fox jumps over the lazy dog.")
    assert result.applies and result.violations == 0


@pytest.mark.parametrize(
    "overrides, why",
    [({"attention": "sigmoid"}, "sigmoid"), ({"attention": "clipped"}, "clipped"),
     ({"position": "rotary"}, "rotary"), ({"position": "alibi"}, "alibi")],
)  # fmt: skip
def test_bound_does_not_apply_to_other_kinds(overrides, why) -> None:
    result = compute_bound(tiny(**overrides), torch.randint(3, 259, (1, 8)))
    assert not result.applies
    assert "does not apply" in result.reason and why in result.reason
    assert torch.isnan(result.bound).all()
    assert torch.isfinite(result.measured).all()


def test_model_without_attention_statistics_is_refused() -> None:
    with pytest.raises(ValueError, match="needs attention weights"):
        compute_bound(tiny(attention="mamba"), torch.zeros(1, 4, dtype=torch.long))
