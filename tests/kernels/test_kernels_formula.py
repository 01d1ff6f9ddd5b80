"""Kernels and the model's attention paths against the formulas written out per head and per
query (tests/reference_model.py), with what the defaults hide: fewer queries than keys, ALiBi
together with causal masking, a scale other than 1/sqrt(d), non-default kind options, and
inputs longer than the chunk (chunk 16, 50 keys) so state carried across chunks is used."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from reference_model import alibi_slope, attend
from workbench.kernels.attention import KINDS, attention_forward
from workbench.kernels.mlp.chunked import mlp_activation_chunked

from workbench.core.context import ForwardContext
from workbench.variants.attention import SoftmaxAttentionModule
from workbench.variants.position import ALiBiPositions, PositionModule
from workbench.variants.recurrent_mixers import (
    delta_rule_chunked,
    delta_rule_recurrent,
    linear_attention_chunked,
    linear_attention_recurrent,
)

N_Q, N_K, HEADS, D = 17, 50, 3, 8


def qkv(seed: int = 0, n_q: int = N_Q, n_k: int = N_K):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, HEADS, n_q, D, generator=g, dtype=torch.float64) * 1.5
    k = torch.randn(2, HEADS, n_k, D, generator=g, dtype=torch.float64) * 1.5
    v = torch.randn(2, HEADS, n_k, D, generator=g, dtype=torch.float64)
    return q, k, v


def formula(q, k, v, *, causal, alibi, scale, weights="softmax", **options):
    """Per batch, head and query, from the definitions (softmax via `attend`)."""
    out = torch.zeros_like(q)
    every_key = torch.ones(k.shape[2], dtype=torch.bool)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            slope = alibi_slope(h, q.shape[1]) if alibi else None
            # `attend` divides by sqrt(d): fold the requested scale into q.
            qs = q[b, h] * scale * math.sqrt(q.shape[-1])
            if weights == "softmax":
                out[b, h] = attend(qs, k[b, h], v[b, h], causal=causal, slope=slope,
                                   visible_keys=every_key)  # fmt: skip
            else:
                out[b, h] = other_weights(qs, k[b, h], v[b, h], causal, slope, weights, options)
    return out


def other_weights(q, k, v, causal, slope, kind, options):
    n_q, n_k, d = q.shape[0], k.shape[0], q.shape[1]
    out = torch.zeros(n_q, v.shape[1], dtype=torch.float64)
    for i in range(n_q):
        pos = n_k - n_q + i
        keys = [j for j in range(n_k) if not causal or j <= pos]
        s = torch.stack([q[i] @ k[j] / math.sqrt(d) for j in keys])
        if slope is not None:
            s = s - slope * torch.tensor([abs(pos - j) for j in keys], dtype=torch.float64)
        if kind == "sigmoid":  # b = -log(number of visible keys) unless given
            bias = options.get("bias")
            bias = -math.log(len(keys)) if bias is None else bias
            a = 1 / (1 + torch.exp(-(s + bias)))
        else:  # clipped softmax
            p = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            gamma, zeta = options["gamma"], options["zeta"]
            a = torch.clamp((zeta - gamma) * p + gamma, 0, 1)
        out[i] = sum(w * v[j] for w, j in zip(a, keys, strict=True))
    return out


@pytest.mark.parametrize("backend", ["reference", "chunked"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("alibi", [True, False], ids=["alibi", "no-alibi"])
def test_softmax_fewer_queries_than_keys(backend: str, causal: bool, alibi: bool) -> None:
    q, k, v = qkv(0)
    slopes = torch.tensor([alibi_slope(h, HEADS) for h in range(HEADS)], dtype=torch.float64)
    kwargs = dict(chunk=16) if backend == "chunked" else {}
    out, _ = attention_forward(
        q, k, v, causal=causal, scale=0.2, alibi_slopes=slopes if alibi else None,
        backend=backend, **kwargs,
    )  # fmt: skip
    expected = formula(q, k, v, causal=causal, alibi=alibi, scale=0.2)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("sigmoid", {}),
        ("sigmoid", {"bias": -1.5}),
        ("clipped", {"gamma": -0.05, "zeta": 1.02}),
    ],
    ids=["sigmoid-default-bias", "sigmoid-bias", "clipped"],
)
@pytest.mark.parametrize("backend", ["reference", "chunked"])
def test_kinds_with_options_alibi_and_a_prefix(kind, options, backend) -> None:
    q, k, v = qkv(1)
    slopes = torch.tensor([alibi_slope(h, HEADS) for h in range(HEADS)], dtype=torch.float64)
    kwargs = dict(chunk=16) if backend == "chunked" else {}
    out, _ = attention_forward(
        q, k, v, kind=KINDS[kind](**options), causal=True, alibi_slopes=slopes,
        backend=backend, **kwargs,
    )  # fmt: skip
    expected = formula(
        q, k, v, causal=True, alibi=True, scale=1 / math.sqrt(D), weights=kind, **options
    )
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)


def test_gated_attention_scales_each_query_by_its_gate() -> None:
    """Gated attention is softmax attention times sigmoid(x W_G + b_G) per head and query."""
    from workbench import ModelConfig
    from workbench.variants.attention_kinds import GatedAttentionModule

    cfg = ModelConfig(d_model=HEADS * D, n_heads=HEADS, d_vocab=5, n_ctx=64)
    module = GatedAttentionModule(cfg, 0).double()
    torch.nn.init.normal_(module.W_G, std=1.0, generator=torch.Generator().manual_seed(3))
    ctx = ForwardContext(PositionModule(), torch.arange(N_K), causal=True)
    q, k, v = qkv(2, n_q=N_K)
    x = torch.randn(2, N_K, HEADS * D, generator=torch.Generator().manual_seed(4),
                    dtype=torch.float64)  # fmt: skip
    out = module.mix(q, k, v, ctx, x)
    gates = 1 / (1 + torch.exp(-(x @ module.W_G + module.b_G)))  # [batch, pos, head]
    plain = formula(q, k, v, causal=True, alibi=False, scale=module.scale)
    torch.testing.assert_close(out, plain * gates.transpose(1, 2)[..., None], atol=1e-12,
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("path", ["fused", "eager"])
@pytest.mark.parametrize("alibi", [True, False], ids=["alibi", "no-alibi"])
def test_model_attention_paths_with_fewer_queries_than_keys(path: str, alibi: bool) -> None:
    """SDPA (with an ALiBi bias and an offset causal mask) and the eager path."""
    from workbench import ModelConfig

    cfg = ModelConfig(d_model=HEADS * D, n_heads=HEADS, d_vocab=5, n_ctx=64)
    module = SoftmaxAttentionModule(cfg, 0).double()
    positions = ALiBiPositions(HEADS).double() if alibi else PositionModule()
    ctx = ForwardContext(positions, torch.arange(N_K), causal=True)
    q, k, v = qkv(4)
    out = module.fused(q, k, v, ctx) if path == "fused" else module.eager(q, k, v, ctx)[0]
    expected = formula(q, k, v, causal=True, alibi=alibi, scale=module.scale)
    # The ALiBi slopes buffer holds float32 values even in a float64 module (~1e-7 here); an
    # off-by-one distance or a wrong slope moves the output by > 1e-2.
    tol = 1e-6 if alibi else 1e-12
    torch.testing.assert_close(out, expected, atol=tol, rtol=tol)


# -- linear-time mixers and the MLP kernel, past their chunk size ------------------------------
def test_linear_attention_chunks_equal_the_sum_formula() -> None:
    q, k, v = (t.abs() for t in qkv(5, n_q=N_K))  # positive feature maps, as phi = 1 + elu
    chunked = linear_attention_chunked(q, k, v, chunk=16)
    # o_t = sum_{s <= t} (q_t . k_s) v_s
    expected = torch.zeros_like(q)
    for t in range(N_K):
        expected[:, :, t] = torch.einsum("bhd,bhsd,bhse->bhe", q[:, :, t], k[:, :, : t + 1],
                                         v[:, :, : t + 1])  # fmt: skip
    torch.testing.assert_close(chunked, expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(linear_attention_recurrent(q, k, v), expected, atol=1e-10,
                               rtol=1e-10)  # fmt: skip


@pytest.mark.parametrize("chunk", [16, 7])
def test_delta_rule_chunks_equal_the_recurrence_past_the_chunk(chunk: int) -> None:
    q, k, v = qkv(6, n_q=N_K)
    k = torch.nn.functional.normalize(k, dim=-1)
    beta = torch.rand(q.shape[:3], generator=torch.Generator().manual_seed(7), dtype=q.dtype)
    # the delta rule written out: S_t = S_{t-1} + beta_t (v_t - S_{t-1} k_t) k_t^T
    state = torch.zeros(2, HEADS, D, D, dtype=q.dtype)
    expected = torch.zeros_like(q)
    for t in range(N_K):
        kt, vt, bt = k[:, :, t], v[:, :, t], beta[:, :, t, None]
        state = state + (bt * (vt - (state @ kt[..., None])[..., 0]))[..., None] * kt[..., None, :]
        expected[:, :, t] = (state @ q[:, :, t, :, None])[..., 0]
    torch.testing.assert_close(delta_rule_chunked(q, k, v, beta, chunk), expected, atol=1e-10,
                               rtol=1e-10)  # fmt: skip
    torch.testing.assert_close(delta_rule_recurrent(q, k, v, beta), expected, atol=1e-10,
                               rtol=1e-10)  # fmt: skip


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_mlp_kernel_past_its_chunk_with_a_threshold_and_top_k(threshold: float) -> None:
    pre = torch.randn(3, 11, 20, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    post, stats = mlp_activation_chunked(pre, act="relu", top_k=5, threshold=threshold, chunk=4)
    expected = torch.zeros_like(pre)
    for idx in itertools.product(range(pre.shape[0]), range(pre.shape[1])):
        row = pre[idx]
        kept = sorted(range(20), key=lambda i: -row[i].item())[:5]
        for i in kept:
            expected[idx][i] = max(row[i].item(), 0.0)
    torch.testing.assert_close(post, expected)
    fired = expected.abs() > threshold
    torch.testing.assert_close(stats["nonzero_frac"], fired.double().mean(-1).float())
    assert torch.equal(stats["fire_count"], fired.sum((0, 1)))
