"""Softmax attention with its entropy from two fused SDPA calls (the CPU fast path).

The entropy of a softmax row is H = lse - E_p[s], and E_p[s] = scale * q . (P K): the
expected score is the query against the attention-weighted mean key. PyTorch's CPU flash
attention (`_scaled_dot_product_flash_attention_for_cpu`, the kernel behind
`F.scaled_dot_product_attention`) returns the log-sum-exp beside the output, so one call
with values V gives the output and lse, and one with values K gives P K. Two fused calls
cost about 2x plain SDPA; the chunked PyTorch loop costs 3-6x (docs/benchmarks.md).

Precision. H is a difference of two numbers of the size of the scores, so float32 loses
about 1e-7 x |score| to cancellation. Two things keep that small: keys are centred per
head first (a per-query shift of every score, which softmax ignores, and which removes the
shared key direction that makes trained models' raw scores large), and calls whose score
bound scale * max|q| * max|k - mean k| exceeds `FLOAT32_SCORE_BOUND` run in float64
(measured error at the bound: < 1e-5 nats; tests/kernels/test_kernels_attention_sdpa.py).

Covers `lse`, `entropy` and `sink` (exp(s_0 - lse)); `max_weight` and `n_eff` need the
weights themselves and take the chunked path. No ALiBi (its bias is not a product q . k).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

SDPA_STATS = frozenset({"lse", "entropy", "sink"})
FLOAT32_SCORE_BOUND = 64.0

_flash_cpu = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def sdpa_applies(q: Tensor, k: Tensor, call) -> bool:
    """Whether this call can take the fast path (CPU, no ALiBi, no local mask, only SDPA_STATS, and
    queries aligned with keys when causal: SDPA's causal mask is top-left aligned)."""
    return (
        _flash_cpu is not None
        and q.device.type == "cpu"
        and q.dtype in (torch.float32, torch.float64)
        and call.alibi_slopes is None
        and getattr(call, "local", None) is None  # window masks: the chunked kernel
        and set(call.stats) <= SDPA_STATS
        and (not call.causal or q.shape[2] == k.shape[2])
    )


def softmax_attention_sdpa(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Output and `call.stats` (a subset of SDPA_STATS) without a [q, k] tensor.

    Example:
        >>> out, st = softmax_attention_sdpa(q, k, v, AttentionCall(stats=("entropy",)))
    """
    scale = call.scale if call.scale is not None else q.shape[-1] ** -0.5
    key_mean = k.mean(2, keepdim=True)
    centred = k - key_mean
    work = torch.float64 if _needs_float64(q, centred, scale) else q.dtype
    qw, kw = q.to(work), centred.to(work)
    mask = _padding_bias(call.key_lengths, k.shape[2], work)
    out, lse_c = _flash_cpu(qw, kw, v.to(work), 0.0, call.causal, attn_mask=mask, scale=scale)
    stats = {}
    if "entropy" in call.stats:
        mean_key, _ = _flash_cpu(qw, kw, kw, 0.0, call.causal, attn_mask=mask, scale=scale)
        stats["entropy"] = (lse_c - scale * torch.linalg.vecdot(qw, mean_key)).clamp_min(0.0)
    if "sink" in call.stats:
        stats["sink"] = torch.exp(scale * torch.linalg.vecdot(qw, kw[:, :, :1]) - lse_c)
    if "lse" in call.stats:  # undo the centring: s = s_centred + scale * q . mean(k)
        stats["lse"] = lse_c + scale * torch.linalg.vecdot(qw, key_mean.to(work))
    return out.to(q.dtype), {name: stats[name].to(q.dtype) for name in call.stats}


def _needs_float64(q: Tensor, centred_k: Tensor, scale: float) -> bool:
    if q.dtype == torch.float64:
        return True
    bound = scale * q.norm(dim=-1).amax() * centred_k.norm(dim=-1).amax()
    return bool(bound > FLOAT32_SCORE_BOUND)


def _padding_bias(key_lengths: Tensor | None, n_k: int, dtype) -> Tensor | None:
    """Additive [batch, 1, 1, key] mask (-inf on right padding), or None."""
    if key_lengths is None:
        return None
    real = torch.arange(n_k, device=key_lengths.device)[None, :] < key_lengths[:, None]
    bias = torch.zeros(real.shape, dtype=dtype).masked_fill_(~real, float("-inf"))
    return bias[:, None, None, :]
