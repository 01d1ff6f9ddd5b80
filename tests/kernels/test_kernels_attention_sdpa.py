"""The fused-SDPA softmax path (entropy = lse - scale * q . (P K)) vs the float64 reference."""

import pytest
import torch
from workbench.kernels.attention import AttentionCall, SoftmaxKernel, attention_forward
from workbench.kernels.attention.softmax.sdpa import FLOAT32_SCORE_BOUND

STATS = ("lse", "entropy", "sink")


def make_qkv(t: int, *, n_k=None, scale=1.5, key_offset=0.0, seed=0, d=16, batch=2):
    g = torch.Generator().manual_seed(seed)
    n_k = n_k or t
    q = torch.randn(batch, 3, t, d, generator=g, dtype=torch.float64) * scale
    k = torch.randn(batch, 3, n_k, d, generator=g, dtype=torch.float64) * scale + key_offset
    v = torch.randn(batch, 3, n_k, d, generator=g, dtype=torch.float64)
    return q, k, v


def both(q, k, v, dtype=torch.float32, **kw):
    ref = attention_forward(q, k, v, backend="reference", stats=STATS, **kw)
    got = attention_forward(q.to(dtype), k.to(dtype), v.to(dtype), backend="sdpa",
                            stats=STATS, **kw)  # fmt: skip
    return ref, got


def assert_close(ref, got, atol):
    torch.testing.assert_close(got[0].double(), ref[0], atol=atol, rtol=0)
    for name in STATS:
        torch.testing.assert_close(got[1][name].double(), ref[1][name], atol=atol, rtol=0,
                                   msg=name)  # fmt: skip


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize("t", [1, 9, 200])
def test_sdpa_equals_reference(t, causal) -> None:
    q, k, v = make_qkv(t)
    assert_close(*both(q, k, v, torch.float64, causal=causal), atol=1e-10)
    assert_close(*both(q, k, v, causal=causal), atol=2e-5)


def test_sdpa_fewer_queries_than_keys_bidirectional() -> None:
    q, k, v = make_qkv(5, n_k=40)
    assert_close(*both(q, k, v, torch.float64, causal=False), atol=1e-10)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
def test_sdpa_right_padding(causal) -> None:
    q, k, v = make_qkv(30)
    lengths = torch.tensor([30, 11])
    assert_close(*both(q, k, v, torch.float64, causal=causal, key_lengths=lengths), atol=1e-10)


def test_large_shared_key_component_is_centred_away() -> None:
    """Keys with a big common direction (what makes trained models' scores large): the
    centring removes it, the entropy stays float32-accurate."""
    q, k, v = make_qkv(128, key_offset=40.0)
    assert_close(*both(q, k, v, causal=True), atol=3e-5)


@pytest.mark.parametrize("scale", [2.0, 6.0, 12.0])
def test_large_scores_stay_accurate(scale) -> None:
    """Around and far above FLOAT32_SCORE_BOUND (float64 inside): entropy error < 2e-5."""
    q, k, v = make_qkv(128, scale=scale)
    bound = q.norm(dim=-1).amax() * (k - k.mean(2, keepdim=True)).norm(dim=-1).amax() / 4
    assert (bound > FLOAT32_SCORE_BOUND) == (scale > 2.0)
    ref, got = both(q, k, v, causal=True)
    torch.testing.assert_close(got[1]["entropy"].double(), ref[1]["entropy"], atol=2e-5, rtol=0)


@pytest.mark.parametrize(
    "call, why",
    [
        (AttentionCall(stats=("max_weight",)), "max_weight"),
        (AttentionCall(stats=("entropy",), alibi_slopes=torch.ones(3)), "ALiBi"),
    ],
)
def test_sdpa_refuses_what_it_cannot_compute(call, why) -> None:
    q, k, v = (x.float() for x in make_qkv(8))
    with pytest.raises(ValueError, match="backend='chunked'"):
        SoftmaxKernel().forward(q, k, v, call, backend="sdpa")
    assert SoftmaxKernel().pick_backend("auto", q, k, call) == "chunked", why


def test_sdpa_refuses_causal_with_fewer_queries() -> None:
    """SDPA's causal mask is top-left aligned; ours puts queries at the last positions."""
    q, k, v = (x.float() for x in make_qkv(5, n_k=40))
    call = AttentionCall(causal=True, stats=("entropy",))
    assert SoftmaxKernel().pick_backend("auto", q, k, call) == "chunked"
