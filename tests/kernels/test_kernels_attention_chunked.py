"""Chunked (CPU) attention equals the materializing reference, for every kind."""

import pytest
import torch
from workbench.kernels.attention import (
    KINDS,
    ClippedKernel,
    SigmoidKernel,
    attention_forward,
    kernel_named,
)

SUPPORTED_STATS = {name: kind.statistics for name, kind in KINDS.items()}
LENGTHS = [1, 17, 130, 600]


def make_qkv(t: int, dtype: torch.dtype, d: int = 16, heads: int = 2, seed: int = 0, n_k=None):
    g = torch.Generator().manual_seed(seed)
    n_k = n_k or t
    q = torch.randn(1, heads, t, d, generator=g, dtype=torch.float64) * 1.5
    k = torch.randn(1, heads, n_k, d, generator=g, dtype=torch.float64) * 1.5
    v = torch.randn(1, heads, n_k, d, generator=g, dtype=torch.float64)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def kernel_for(kind: str):
    """Non-default options, so that a default hard-wired somewhere would show."""
    if kind == "clipped":
        # gamma large enough that many weights clip to exactly zero at these lengths.
        return ClippedKernel(gamma=-0.05, zeta=1.02)
    return kernel_named(kind)


def run_both(kind, q, k, v, causal, alibi=None, kernel=None, key_lengths=None):
    stats = SUPPORTED_STATS[kind]
    kernel = kernel or kernel_for(kind)
    common = dict(kind=kernel, causal=causal, stats=stats, alibi_slopes=alibi,
                  key_lengths=key_lengths)  # fmt: skip
    ref = attention_forward(q, k, v, backend="reference", **common)
    got = attention_forward(q, k, v, backend="chunked", chunk=64, **common)
    return ref, got


def assert_same(ref, got, atol, rtol):
    torch.testing.assert_close(got[0], ref[0], atol=atol, rtol=rtol)
    assert set(got[1]) == set(ref[1])
    for name, expected in ref[1].items():
        torch.testing.assert_close(
            got[1][name], expected.to(got[1][name].dtype), atol=atol, rtol=rtol, msg=name
        )


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("t", LENGTHS, ids=lambda t: f"T{t}")
@pytest.mark.parametrize("kind", KINDS)
def test_chunked_matches_reference_float64(kind, t, causal) -> None:
    q, k, v = make_qkv(t, torch.float64)
    ref, got = run_both(kind, q, k, v, causal)
    assert_same(ref, got, atol=1e-10, rtol=1e-10)
    if kind == "clipped" and t >= 130:
        assert ref[1]["zero_frac"].mean() > 0.1  # the clipping path is really exercised


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("t", [17, 600], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("kind", KINDS)
def test_chunked_float32_close_to_float64_reference(kind, t, causal) -> None:
    q, k, v = make_qkv(t, torch.float64, seed=3)
    kernel = kernel_for(kind)
    ref = attention_forward(
        q, k, v, kind=kernel, causal=causal, stats=SUPPORTED_STATS[kind], backend="reference"
    )
    got = attention_forward(
        q.float(), k.float(), v.float(), kind=kernel, causal=causal, chunk=64,
        stats=SUPPORTED_STATS[kind], backend="chunked",
    )  # fmt: skip
    assert_same((ref[0].float(), {n: x.float() for n, x in ref[1].items()}), got, 2e-5, 2e-5)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("t", [17, 600], ids=lambda t: f"T{t}")
def test_softmax_alibi_chunked_matches_reference(t, causal) -> None:
    q, k, v = make_qkv(t, torch.float64, heads=4)
    slopes = 2.0 ** (-8 * torch.arange(1, 5, dtype=torch.float64) / 4)
    ref, got = run_both("softmax", q, k, v, causal, alibi=slopes)
    assert_same(ref, got, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind", ["softmax", "sigmoid", "clipped"])
def test_prefix_queries_fewer_than_keys(kind) -> None:
    """Queries are the last n_q of n_k positions (decoding with a cache)."""
    q, k, v = make_qkv(23, torch.float64, n_k=150)
    ref, got = run_both(kind, q, k, v, True)
    assert_same(ref, got, atol=1e-10, rtol=1e-10)


def test_sigmoid_constant_bias_override() -> None:
    q, k, v = make_qkv(40, torch.float64)
    ref, got = run_both("sigmoid", q, k, v, True, kernel=SigmoidKernel(bias=-2.0))
    assert_same(ref, got, atol=1e-10, rtol=1e-10)
    default, _ = run_both("sigmoid", q, k, v, True)
    assert not torch.allclose(ref[0], default[0])  # the option really changes the weights


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_key_lengths_mask_padding_like_the_reference(kind, causal) -> None:
    """Right padding: keys past each row's length are invisible on every path; rows equal
    the same rows computed alone at their own length."""
    q, k, v = make_qkv(70, torch.float64, seed=5)
    q, k, v = (torch.cat([x, x.flip(2)]) for x in (q, k, v))
    lengths = torch.tensor([70, 33])
    ref, got = run_both(kind, q, k, v, causal, key_lengths=lengths)
    assert_same(ref, got, atol=1e-10, rtol=1e-10)
    alone, _ = run_both(kind, q[1:, :, :33], k[1:, :, :33], v[1:, :, :33], causal)
    torch.testing.assert_close(got[0][1:, :, :33], alone[0], atol=1e-10, rtol=1e-10)
    for name, value in alone[1].items():
        torch.testing.assert_close(got[1][name][1:, :, :33], value, atol=1e-10, rtol=1e-10)


def test_bad_inputs_raise_clear_errors() -> None:
    q, k, v = make_qkv(5, torch.float32)
    with pytest.raises(ValueError, match="Did you mean: sigmoid"):
        attention_forward(q, k, v, kind="sigmod")
    with pytest.raises(ValueError, match="Did you mean: zero_frac"):
        attention_forward(q, k, v, kind="clipped", stats=["zero_fraction"])
    with pytest.raises(ValueError, match="valid: lse, entropy, max_weight, sink, n_eff"):
        attention_forward(q, k, v, stats=["perplexity"])
    with pytest.raises(TypeError, match="not a string"):
        attention_forward(q, k, v, stats="entropy")
    with pytest.raises(TypeError, match="clip_gamma"):
        attention_forward(q, k, v, kind="clipped", clip_gamma=-0.1)
    with pytest.raises(TypeError, match="gama"):
        ClippedKernel(gama=-0.1)
    with pytest.raises(ValueError, match=r"key_lengths must be in 1..5"):
        attention_forward(q, k, v, key_lengths=torch.tensor([0]))
    with pytest.raises(ValueError, match=r"key_lengths must be integer \[batch\]"):
        attention_forward(q, k, v, key_lengths=torch.tensor([[5]]))
    with pytest.raises(ValueError, match="Did you mean: chunked"):
        attention_forward(q, k, v, backend="chunk")
    with pytest.raises(ValueError, match="d_head"):
        attention_forward(q, k[..., :8], v)


@pytest.mark.parametrize("kind", KINDS)
def test_a_chunk_of_one_key_is_a_valid_tile(kind) -> None:
    """chunk=1 is the smallest positive tile size: accepted, and equal to the reference."""
    q, k, v = make_qkv(5, torch.float64)
    stats = SUPPORTED_STATS[kind]
    kernel = kernel_for(kind)
    ref = attention_forward(q, k, v, kind=kernel, causal=True, stats=stats, backend="reference")
    got = attention_forward(
        q, k, v, kind=kernel, causal=True, stats=stats, backend="chunked", chunk=1
    )
    assert_same(ref, got, atol=1e-10, rtol=1e-10)
    with pytest.raises(ValueError, match=r"^chunk must be a positive tile size, got 0$"):
        attention_forward(q, k, v, kind=kernel, backend="chunked", chunk=0)


def test_visible_mask_is_built_on_the_inputs_device() -> None:
    """Positions are made on the given device ("meta" stands in for a GPU: mixing it with a
    CPU tensor raises, as CUDA would)."""
    from workbench.kernels.attention.scores import visible_mask

    for n_q in (4, 6):
        mask = visible_mask(n_q, 6, True, torch.device("meta"))
        assert mask.device.type == "meta" and mask.shape[-2:] == (n_q, 6)
    causal = visible_mask(4, 6, True, torch.device("cpu"))
    expected = torch.arange(6)[None, :] <= torch.arange(2, 6)[:, None]
    assert torch.equal(causal.reshape(4, 6), expected)
