"""Triton attention kernels vs the reference: under TRITON_INTERPRET=1 on CPU (tiny shapes,
fp32/fp16) and on CUDA when present (bf16, T=4096, d=128)."""

import pytest
import torch
from workbench.kernels.attention import (
    KINDS,
    AttentionCall,
    ClippedKernel,
    SigmoidKernel,
    SoftmaxKernel,
    attention_forward,
)

pytest.importorskip("triton")
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
SUPPORTED_STATS = {name: kind.statistics for name, kind in KINDS.items()}
TOL = {torch.float32: (2e-5, 2e-5), torch.float16: (5e-3, 1e-2), torch.bfloat16: (3e-2, 3e-2)}


def make(t, d, dtype, heads=2, n_k=None, seed=0, kind="softmax"):
    """Inputs in `dtype` on DEVICE plus the same values in float64 for the reference."""
    g = torch.Generator().manual_seed(seed)
    n_k = n_k or t
    shapes = [(1, heads, t, d), (1, heads, n_k, d), (1, heads, n_k, d)]
    low = [(torch.randn(s, generator=g) * 1.5).to(dtype) for s in shapes]
    return low, {}


def compare(kind, t, d, dtype, causal, alibi=None, n_k=None, heads=2, key_lengths=None):
    (q, k, v), _ = make(t, d, dtype, heads=heads, n_k=n_k, kind=kind)
    if key_lengths is not None:
        q, k, v = (x.expand(len(key_lengths), -1, -1, -1).contiguous() for x in (q, k, v))
    stats = SUPPORTED_STATS[kind]
    kw = dict(kind=kind, causal=causal, stats=stats, key_lengths=key_lengths)
    slopes64 = alibi.double() if alibi is not None else None
    ref_out, ref = attention_forward(
        q.double(), k.double(), v.double(), backend="reference", alibi_slopes=slopes64, **kw
    )
    slopes = alibi.to(DEVICE) if alibi is not None else None
    lengths = key_lengths.to(DEVICE) if key_lengths is not None else None
    out, got = attention_forward(
        q.to(DEVICE), k.to(DEVICE), v.to(DEVICE), backend="triton", alibi_slopes=slopes,
        **{**kw, "key_lengths": lengths},
    )  # fmt: skip
    atol, rtol = TOL[dtype]
    assert out.dtype == dtype and out.shape == q.shape
    torch.testing.assert_close(out.double().cpu(), ref_out, atol=atol, rtol=rtol)
    for name in stats:
        torch.testing.assert_close(
            got[name].double().cpu(), ref[name], atol=atol, rtol=rtol, msg=name
        )


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("d", [16, 64], ids=lambda d: f"d{d}")
@pytest.mark.parametrize("t", [1, 17, 130], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_triton_softmax_matches_reference(dtype, t, d, causal) -> None:
    compare("softmax", t, d, dtype, causal)


@pytest.mark.parametrize("d", [40, 128], ids=lambda d: f"d{d}")
def test_triton_pads_head_dim(d) -> None:
    compare("softmax", 33, d, torch.float32, True, heads=1)


def test_triton_alibi_and_prefix_queries() -> None:
    compare("softmax", 45, 16, torch.float32, True, alibi=torch.tensor([0.5, 0.0625]))
    compare("softmax", 20, 16, torch.float32, True, n_k=97)
    compare("softmax", 20, 16, torch.float32, False, n_k=97)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_triton_key_lengths_match_reference(kind, causal) -> None:
    compare(kind, 70, 16, torch.float32, causal, key_lengths=torch.tensor([70, 33, 1]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_stats_switch_leaves_output_bitwise_identical(dtype) -> None:
    (q, k, v), _ = make(70, 32, dtype)
    q, k, v = (x.to(DEVICE) for x in (q, k, v))
    plain, none = attention_forward(q, k, v, backend="triton", stats=())
    full, st = attention_forward(q, k, v, backend="triton", stats=SUPPORTED_STATS["softmax"])
    assert none == {} and set(st) == set(SUPPORTED_STATS["softmax"])
    assert torch.equal(plain, full)


def test_non_contiguous_inputs() -> None:
    (q, k, v), _ = make(40, 16, torch.float32)
    # [batch, pos, head, d] storage viewed as [batch, head, pos, d], as the model produces.
    q_t, k_t, v_t = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (q, k, v))
    assert not q_t.is_contiguous()
    a, sa = attention_forward(q, k, v, backend="triton", stats=("entropy",))
    b, sb = attention_forward(q_t, k_t, v_t, backend="triton", stats=("entropy",))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    torch.testing.assert_close(sa["entropy"], sb["entropy"], atol=0, rtol=0)


def test_auto_backend_choice() -> None:
    x = torch.zeros(1, 1, 4, 8)
    entropy, max_weight = AttentionCall(stats=("entropy",)), AttentionCall(stats=("max_weight",))
    assert SoftmaxKernel().pick_backend("auto", x, x, entropy) == "sdpa"
    assert SoftmaxKernel().pick_backend("auto", x, x, max_weight) == "chunked"
    assert ClippedKernel().pick_backend("auto", x, x, entropy) == "chunked"
    if CUDA:
        assert SoftmaxKernel().pick_backend("auto", x.cuda(), x.cuda(), entropy) == "triton"


def test_triton_rejects_too_large_head_dim() -> None:
    (q, k, v), _ = make(4, 160, torch.float32, heads=1)
    with pytest.raises(ValueError, match="head dims up to 128"):
        attention_forward(q, k, v, backend="triton")


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
def test_gpu_bf16_long_sequence(causal) -> None:
    t, d = 4096, 128
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 2, t, d, device="cuda", generator=g).bfloat16() for _ in range(3))
    stats = SUPPORTED_STATS["softmax"]
    ref_out, ref = attention_forward(
        q.float(), k.float(), v.float(), causal=causal, stats=stats, backend="reference"
    )
    out, got = attention_forward(q, k, v, causal=causal, stats=stats, backend="auto")
    torch.testing.assert_close(out.float(), ref_out, atol=2e-2, rtol=2e-2)
    for name in ("lse", "entropy", "max_weight", "sink"):
        torch.testing.assert_close(got[name], ref[name].float(), atol=2e-2, rtol=2e-2, msg=name)
    torch.testing.assert_close(got["n_eff"], ref["n_eff"].float(), atol=0.5, rtol=3e-2)
    plain, _ = attention_forward(q, k, v, causal=causal, backend="triton")
    assert torch.equal(plain, out)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_triton_sigmoid_matches_reference(dtype, causal) -> None:
    compare("sigmoid", 130, 16, dtype, causal)
    compare("sigmoid", 17, 64, dtype, causal, alibi=torch.tensor([0.5, 0.0625]))


def test_triton_sigmoid_bias_and_stats_switch() -> None:
    (q, k, v), _ = make(50, 16, torch.float32)
    q, k, v = (x.to(DEVICE) for x in (q, k, v))
    biased = SigmoidKernel(bias=-1.5)
    ref, _ = attention_forward(q, k, v, kind=biased, backend="chunked")
    out, _ = attention_forward(q, k, v, kind=biased, backend="triton")
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    full, _ = attention_forward(
        q, k, v, kind="sigmoid", backend="triton", stats=SUPPORTED_STATS["sigmoid"]
    )
    plain, _ = attention_forward(q, k, v, kind="sigmoid", backend="triton")
    assert torch.equal(plain, full)


def test_triton_available_says_whether_triton_imports() -> None:
    """`auto` picks Triton for CUDA tensors only when this is True; it must track the
    installed package, else a GPU silently falls back to the chunked path."""
    import importlib

    from workbench.kernels.attention.kind import triton_available

    try:
        importlib.import_module("triton")
        importable = True
    except ImportError:
        importable = False
    assert triton_available() is importable


@pytest.mark.parametrize(
    "d_head, dtype, tiles",
    [
        (24, torch.float32, (64, 32, 32, 4, 2)),  # fp32: smaller query tiles
        (64, torch.float16, (128, 64, 64, 4, 3)),
        (80, torch.bfloat16, (128, 64, 128, 8, 2)),  # wide heads: more warps, fewer stages
        (8, torch.float16, (128, 64, 16, 4, 3)),  # head width padded to at least 16
    ],
)
def test_gpu_tile_sizes_cover_the_head_width(d_head, dtype, tiles) -> None:
    """Run 10: the GPU tiles (chosen without CUDA here: `interpret=False`) hold the head
    width rounded up to a power of two, in their `d` field; the interpreter's tiles too."""
    from workbench.kernels.attention.triton_launch import block_sizes

    got = block_sizes(d_head, dtype, interpret=False)
    assert tuple(got) == tiles and got.d >= d_head
    assert tuple(block_sizes(d_head, dtype, interpret=True)) == (32, 32, tiles[2], 4, 1)
