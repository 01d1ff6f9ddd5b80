"""Triton clipped-softmax kernel vs the reference, and the STATS switch of every Triton
kernel (output bitwise identical with statistics on or off). Interpreter on CPU, CUDA when
present."""

import pytest
import torch
from workbench.kernels.attention import KINDS, ClippedKernel, attention_forward, kernel_named

pytest.importorskip("triton")
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
TOL = {torch.float32: (2e-5, 2e-5), torch.float16: (5e-3, 1e-2), torch.bfloat16: (3e-2, 3e-2)}
SUPPORTED_STATS = {name: kind.statistics for name, kind in KINDS.items()}
CLIP = ClippedKernel(gamma=-0.05, zeta=1.02)  # many exact zeros at these lengths


def qkv(t, d, dtype, n_k=None, heads=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(1, heads, t, d), (1, heads, n_k or t, d), (1, heads, n_k or t, d)]
    return [(torch.randn(s, generator=g) * 1.5).to(dtype) for s in shapes]


def kernel_for(kind):
    return CLIP if kind == "clipped" else kernel_named(kind)


def compare_clipped(t, d, dtype, causal, n_k=None, alibi=None, kernel=None):
    q, k, v = qkv(t, d, dtype, n_k)
    kw = dict(kind=kernel or ClippedKernel(), causal=causal, stats=SUPPORTED_STATS["clipped"])
    ref_out, ref = attention_forward(
        q.double(), k.double(), v.double(), backend="reference",
        alibi_slopes=alibi.double() if alibi is not None else None, **kw,
    )  # fmt: skip
    out, got = attention_forward(
        q.to(DEVICE), k.to(DEVICE), v.to(DEVICE), backend="triton",
        alibi_slopes=alibi.to(DEVICE) if alibi is not None else None, **kw,
    )  # fmt: skip
    atol, rtol = TOL[dtype]
    assert out.dtype == dtype
    torch.testing.assert_close(out.double().cpu(), ref_out, atol=atol, rtol=rtol)
    for name, expected in ref.items():
        torch.testing.assert_close(got[name].double().cpu(), expected, atol=atol, rtol=rtol)
    return ref


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("t", [1, 17, 130], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_triton_clipped_matches_reference(dtype, t, causal) -> None:
    ref = compare_clipped(t, 16, dtype, causal, kernel=CLIP)
    if t == 130:
        assert ref["zero_frac"].mean() > 0.1  # the clipping really produces zeros


def test_triton_clipped_head_dim_alibi_prefix_and_defaults() -> None:
    compare_clipped(40, 64, torch.float32, True, alibi=torch.tensor([0.5, 0.0625]), kernel=CLIP)
    compare_clipped(20, 16, torch.float32, True, n_k=97, kernel=CLIP)
    compare_clipped(20, 40, torch.float32, False, n_k=97)  # default gamma, zeta; padded d


@pytest.mark.parametrize("kind", list(SUPPORTED_STATS))
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_stats_switch_is_bitwise_for_every_kind(kind, causal, dtype) -> None:
    q, k, v = (x.to(DEVICE) for x in qkv(70, 32, dtype, seed=1))
    kw = dict(kind=kernel_for(kind), causal=causal, backend="triton")
    plain, none = attention_forward(q, k, v, **kw)
    full, stats = attention_forward(q, k, v, stats=SUPPORTED_STATS[kind], **kw)
    assert none == {} and set(stats) == set(SUPPORTED_STATS[kind])
    assert all(bool(torch.isfinite(x).all()) for x in stats.values())
    assert torch.equal(plain, full)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("kind", ["sigmoid", "clipped"])
def test_gpu_bf16_kinds(kind) -> None:
    t, d = 2048, 128
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 4, t, d, device="cuda", generator=g).bfloat16() for _ in range(3))
    kw = dict(kind=kernel_for(kind), stats=SUPPORTED_STATS[kind])
    ref_out, ref = attention_forward(q.float(), k.float(), v.float(), backend="reference", **kw)
    out, got = attention_forward(q, k, v, backend="auto", **kw)
    torch.testing.assert_close(out.float(), ref_out, atol=2e-2, rtol=2e-2)
    for name in ref:
        tol = (0.5, 3e-2) if name == "n_eff" else (2e-2, 2e-2)
        torch.testing.assert_close(got[name].float(), ref[name].float(), atol=tol[0], rtol=tol[1])
