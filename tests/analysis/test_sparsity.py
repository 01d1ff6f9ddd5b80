"""Activation sparsity against a float64 computation from `blocks.{l}.mlp.hook_post`
(`run_with_cache`, the eager path; `compute` goes through `collect_stats` and the fused
kernels), for every ReLU-family MLP variant, GELU/GLU with a threshold, and padded batches."""

import numpy as np
import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.result import Result
from workbench.analysis.sparsity import SparsityResult, compute
from workbench.core.registry import MLP

RELU_FAMILY = {"relu", "relu2", "topk_relu", "reglu"}  # at least these have exact zeros
# moe: per-expert hooks over routed tokens, no blocks.{l}.mlp.hook_post; none: no MLP at all
NO_HOOK_POST = {"moe", "none"}


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0,
                  init_range=0.3)  # fmt: skip
    return Model(ModelConfig(**{**fields, **overrides})).eval()


def accepts_no_threshold(model: Model) -> bool:
    try:
        model.check_mlp_threshold(None)
        return True
    except ValueError:
        return False


def reference(model, tokens, mask=None, threshold=0.0) -> dict:
    """Plain float64 statistics from the cached post-activations, real tokens only."""
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask.bool()
    _, cache = model.run_with_cache(tokens, attention_mask=mask,
                                    names_filter=lambda n: n.endswith("mlp.hook_post"))  # fmt: skip
    out = {"frac": [], "count": [], "hist": [], "quantiles": []}
    for layer in range(model.cfg.n_layers):
        post = cache[f"blocks.{layer}.mlp.hook_post"].double()
        on = (post.abs() > threshold)[mask]  # [real tokens, d_mlp]
        d_mlp = on.shape[1]
        per_token = on.double().sum(1) / d_mlp
        out["frac"].append(per_token.mean())
        out["count"].append(on.long().sum(0))
        out["hist"].append(torch.bincount(on.long().sum(1), minlength=d_mlp + 1))
        levels = [0.05, 0.25, 0.5, 0.75, 0.95]
        out["quantiles"].append(torch.from_numpy(
            np.quantile(per_token.numpy(), levels, method="inverted_cdf")))  # fmt: skip
    return {k: torch.stack(v) for k, v in out.items()}


def assert_matches(result: SparsityResult, ref: dict) -> None:
    torch.testing.assert_close(result.nonzero_frac.double(), ref["frac"], atol=1e-6, rtol=0)
    assert torch.equal(result.fire_count, ref["count"])
    assert torch.equal(result.active_hist, ref["hist"])
    torch.testing.assert_close(result.quantiles.double(), ref["quantiles"], atol=1e-6, rtol=0)


def relu_family() -> list[str]:
    names = [n for n in MLP.names() if n not in NO_HOOK_POST and accepts_no_threshold(tiny(mlp=n))]
    assert set(names) >= RELU_FAMILY, f"ReLU-family variants not recognised: {names}"
    return names


@pytest.mark.parametrize("variant", relu_family())
def test_relu_family_matches_hook_post(variant) -> None:
    model = tiny(mlp=variant)
    tokens = torch.randint(3, 259, (5, 16), generator=torch.Generator().manual_seed(1))
    result = compute(model, tokens, batch_size=2, progress=False)
    ref = reference(model, tokens)
    assert_matches(result, ref)
    assert result.exact_zeros and result.threshold == 0.0
    assert result.n_tokens == tokens.numel()
    assert torch.equal(result.n_dead, (ref["count"] == 0).sum(1))
    assert torch.equal(result.n_always_on, (ref["count"] == tokens.numel()).sum(1))


@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_padded_batch(left) -> None:
    model = tiny(mlp="relu")
    tokens = torch.randint(3, 259, (3, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 7:], mask[2, 3:] = False, False
    mask = mask.flip(1) if left else mask
    result = compute(model, tokens, attention_mask=mask, batch_size=2, progress=False)
    assert_matches(result, reference(model, tokens, mask))
    assert result.n_tokens == int(mask.sum()) == int(result.active_hist[0].sum())


@pytest.mark.parametrize("variant", ["gelu", "swiglu", "geglu"])
def test_no_exact_zeros_needs_threshold_and_labels_it(variant) -> None:
    model = tiny(mlp=variant)
    tokens = torch.randint(3, 259, (2, 10), generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="mlp_threshold"):
        compute(model, tokens, progress=False)
    result = compute(model, tokens, mlp_threshold=0.05, progress=False)
    assert_matches(result, reference(model, tokens, threshold=0.05))
    assert not result.exact_zeros and result.threshold == 0.05
    assert "0.05" in result.metric_label and "thresholded" in result.metric_label
    assert result.metadata.options["threshold"] == 0.05


def test_single_text_per_position_counts() -> None:
    model, _ = workbench.load_default()
    text = "the old dog sat on the mat"
    result = compute(model, text, progress=False)
    tokens = model.to_tokens(text)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("mlp.hook_post"))
    expected = torch.stack([(cache[f"blocks.{layer}.mlp.hook_post"][0] > 0).sum(-1)
                            for layer in range(model.cfg.n_layers)])  # fmt: skip
    assert torch.equal(result.per_position, expected)
    assert len(result.str_tokens) == tokens.shape[1]


def test_json_round_trip(tmp_path) -> None:
    model = tiny(mlp="relu")
    tokens = torch.randint(3, 259, (2, 8), generator=torch.Generator().manual_seed(4))
    result = compute(model, tokens, progress=False)
    loaded = Result.from_json(result.to_json(tmp_path / "s.json"))
    assert isinstance(loaded, SparsityResult)
    for name in ("nonzero_frac", "nonzero_frac_std", "active_hist", "quantiles", "fire_count"):
        assert torch.equal(getattr(loaded, name), getattr(result, name)), name
    assert loaded.metadata == result.metadata and loaded.threshold == result.threshold


def test_refuses_bad_threshold_and_empty_data() -> None:
    model = tiny(mlp="relu")
    with pytest.raises(ValueError, match="mlp_threshold"):
        compute(model, torch.zeros(1, 4, dtype=torch.long), mlp_threshold=-1.0, progress=False)
    with pytest.raises(ValueError, match="empty"):
        compute(model, [], progress=False)
