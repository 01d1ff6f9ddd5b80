"""Instrumented MLP activation: chunked (and Triton) equal the reference."""

import pytest
import torch
from workbench.kernels.mlp import ACTIVATIONS, mlp_activation
from workbench.kernels.mlp.reference import fired, fired_as_float


def make_pre(shape=(3, 37, 96), seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("top_k", [None, 5], ids=["dense", "top5"])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_chunked_matches_reference(act, top_k) -> None:
    pre = make_pre()
    threshold = 0.0 if act in ("relu", "relu2") else 0.1
    kw = dict(act=act, top_k=top_k, threshold=threshold)
    ref_post, ref = mlp_activation(pre, backend="reference", **kw)
    post, got = mlp_activation(pre, backend="chunked", **kw)
    torch.testing.assert_close(post, ref_post, atol=0, rtol=0)
    assert torch.equal(got["fire_count"], ref["fire_count"])
    assert got["fire_count"].dtype == torch.int64
    torch.testing.assert_close(got["nonzero_frac"], ref["nonzero_frac"])


def test_stats_against_brute_force_counts() -> None:
    pre = make_pre((2, 11, 32), seed=1)
    post, st = mlp_activation(pre, act="relu", backend="chunked")
    fired = pre > 0
    assert torch.equal(post, pre.clamp_min(0))
    for neuron in range(32):
        assert int(st["fire_count"][neuron]) == int(fired[..., neuron].sum())
    torch.testing.assert_close(st["nonzero_frac"], fired.float().mean(-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_float_firing_mask_equals_the_boolean_definition(threshold, dtype) -> None:
    """`fired_as_float` (the chunked path's fast form) == `fired`, values at the threshold
    signed zeros, NaN and inf included."""
    values = [0.0, -0.0, 0.5, -0.5, 0.49, -0.51, 1e-30, -3.0, 7.0, float("nan"), float("inf")]
    values = torch.tensor(values, dtype=dtype)
    pre = torch.cat([values, make_pre((64,), seed=3).to(dtype)])
    expected = fired(pre, threshold)
    got = fired_as_float(pre, threshold)
    assert got.dtype in (torch.float32, torch.float64)
    assert torch.equal(got, expected.to(got.dtype))


def test_padded_rows_are_not_counted() -> None:
    pre = make_pre((2, 6, 16), seed=4)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    _, got = mlp_activation(pre, act="relu", backend="chunked", token_mask=mask)
    assert torch.equal(got["fire_count"], (pre[mask] > 0).sum(0))


def test_defaults_are_relu_at_threshold_zero_and_a_full_mask_is_no_mask() -> None:
    """The documented defaults, called directly (the model always passes them), against the
    brute-force definition; an all-True token mask counts every token, in any chunking."""
    from workbench.kernels.mlp.chunked import mlp_activation_chunked

    pre = make_pre((2, 9, 16), seed=5)
    fired = pre > 0
    full = torch.ones(2, 9, dtype=torch.bool)
    for post, st in (
        mlp_activation(pre, backend="chunked"),
        mlp_activation_chunked(pre),
        mlp_activation_chunked(pre, token_mask=full, chunk=4),
    ):
        assert torch.equal(post, pre.clamp_min(0))
        assert torch.equal(st["fire_count"], fired.sum((0, 1)))
        torch.testing.assert_close(st["nonzero_frac"], fired.float().mean(-1))


def test_top_k_keeps_the_k_largest() -> None:
    pre = make_pre((1, 7, 50), seed=2)
    post, st = mlp_activation(pre, act="relu", top_k=3, backend="chunked")
    assert torch.all((post > 0).sum(-1) <= 3)
    for row_pre, row_post in zip(pre[0], post[0], strict=True):
        kept = torch.nonzero(row_post).flatten().tolist()
        assert set(kept) <= set(row_pre.topk(3).indices.tolist())
    assert int(st["fire_count"].sum()) == int((post > 0).sum())


def test_bad_arguments() -> None:
    pre = make_pre((1, 2, 8))
    with pytest.raises(ValueError, match="Did you mean: .*relu2"):
        mlp_activation(pre, act="relu3")
    with pytest.raises(ValueError, match="Did you mean: fire_count"):
        mlp_activation(pre, stats=("fire_counts",))
    with pytest.raises(ValueError, match="top_k"):
        mlp_activation(pre, top_k=9)
    with pytest.raises(ValueError, match=r"\[batch, pos, d_mlp\]"):
        mlp_activation(pre[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_triton_matches_reference(act, dtype) -> None:
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre = make_pre((2, 45, 100), seed=4, dtype=dtype).to(device)
    threshold = 0.0 if act in ("relu", "relu2") else 0.1
    post, got = mlp_activation(pre, act=act, threshold=threshold, backend="triton")
    # Reference on the same rounding: compute in fp32, round to dtype, then count.
    ref_post = ACTIVATIONS[act](pre.float()).to(dtype)
    fired = ref_post.abs() > threshold
    tol = 1e-5 if dtype == torch.float32 else 1e-3  # fp16: one ulp from erf/exp differences
    torch.testing.assert_close(post, ref_post, atol=tol, rtol=tol)
    assert got["fire_count"].dtype == torch.int64
    # A value within rounding of the threshold may flip; allow at most one per neuron.
    assert (got["fire_count"] - fired.flatten(0, 1).sum(0)).abs().max() <= 1
    torch.testing.assert_close(got["nonzero_frac"], fired.float().mean(-1), atol=0.011, rtol=0)


def test_triton_mlp_counts_exact_for_relu() -> None:
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre = make_pre((3, 70, 130), seed=5, dtype=torch.float32).to(device)
    _, got = mlp_activation(pre, act="relu", backend="triton")
    _, ref = mlp_activation(pre, act="relu", backend="reference")
    assert torch.equal(got["fire_count"], ref["fire_count"])
    torch.testing.assert_close(got["nonzero_frac"], ref["nonzero_frac"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("act", ["relu", "gelu"])  # gelu: negative values compete too
def test_triton_top_k_matches_reference(act, dtype) -> None:
    """Whole rows per program; 70 rows cross the 64-rows-per-program boundary and
    d_mlp = 100 is padded to 128."""
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre = (make_pre((2, 35, 100), seed=6, dtype=dtype) - 1.5).to(device)  # few positives
    threshold = 0.0 if act == "relu" else 0.05
    kw = dict(act=act, top_k=7, threshold=threshold)
    post, got = mlp_activation(pre, backend="triton", **kw)
    ref_post, ref = mlp_activation(pre.float(), backend="reference", **kw)
    ref_post = ref_post.to(dtype)  # the kernel ranks and stores values rounded to dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-3  # erf may differ by an ulp
    assert torch.equal(post != 0, ref_post != 0)  # the same k entries survive
    torch.testing.assert_close(post, ref_post, atol=tol, rtol=tol)
    if dtype == torch.float32:
        assert torch.equal(got["fire_count"], ref["fire_count"])
        torch.testing.assert_close(got["nonzero_frac"], ref["nonzero_frac"])


def test_triton_top_k_breaks_ties_by_index() -> None:
    """Ten equal maxima, k = 4: exactly four survive, the lowest-indexed ones."""
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pre = make_pre((1, 3, 40), seed=7, dtype=torch.float32)
    pre[..., 5:15] = 9.0
    post, st = mlp_activation(pre.to(device), act="relu", top_k=4, backend="triton")
    assert torch.equal((post != 0).sum(-1).cpu(), torch.full((1, 3), 4))
    assert torch.equal(post[..., 5:9].cpu(), torch.full((1, 3, 4), 9.0))
    assert st["fire_count"][5:9].tolist() == [3, 3, 3, 3] and int(st["fire_count"].sum()) == 12


def test_triton_backend_refuses_cpu_tensors_without_the_interpreter(monkeypatch) -> None:
    """Run 8 (issue #20): the refusal says what the Triton backend needs."""
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError) as err:
        mlp_activation(make_pre((1, 2, 4)), backend="triton")
    assert str(err.value) == "The triton MLP backend needs CUDA tensors (or TRITON_INTERPRET=1)."


def test_reference_keeps_padded_rows_out_of_fire_count() -> None:
    """The reference (the chunked and Triton paths are checked against it) honours
    `token_mask` too: padded tokens never count, whatever they fire."""
    from workbench.kernels.mlp.reference import mlp_activation_reference

    pre = make_pre((2, 6, 16), seed=5)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    post, got = mlp_activation_reference(pre, act="relu", token_mask=mask)
    assert torch.equal(post, pre.clamp_min(0))
    assert torch.equal(got["fire_count"], (pre[mask] > 0).sum(0))
    assert int(got["fire_count"].sum()) < int((pre > 0).sum())  # padding did fire
