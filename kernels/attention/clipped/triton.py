"""Triton forward kernel: clipped-softmax attention with statistics (Bondarenko et al.
2023, "Quantizable Transformers", arXiv 2306.12929).

A_ij = clip((zeta - gamma) p_ij + gamma, 0, 1), p = softmax(s). Clipping needs the final
normaliser before any weight is known, so each program makes two passes over its keys:

1. online softmax (running max m, l, and with `STATS` the shifted entropy accumulator of
   `_tiling.py`), giving lse = m + log l of the *unclipped* softmax;
2. p = exp(s - lse), clip, accumulate A @ V, and (with `STATS`) count the exact zeros among
   the visible keys.

Base-2 scores as in `softmax/triton.py`. max_weight = clip(1 / l) because clipping is
monotone; sink = clip(p_i0). With `STATS` off the output is bitwise the same: the output
path (m, l, the clipped weights, acc) never reads the statistics accumulators.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention.clipped.reference import CLIPPED_STATS
from workbench.kernels.attention.softmax.triton import LOG2E
from workbench.kernels.attention.triton_launch import launch_args, stat_outputs
from workbench.kernels.attention.triton_tiles import (
    key_ranges,
    load_query_block,
    load_v_tile,
    local_visible,
    score_tile,
    valid_keys,
)


@triton.jit
def _lse_blocks(
    m_i, l_i, a_i, q, k_base, lo, hi, offs_n, offs_d, d_ok, skn, skd, n_valid, q_pos, slope,
    qk_scale, window, shift, dilation, n_global, CAUSAL: tl.constexpr, MASKED: tl.constexpr,
    STATS: tl.constexpr, HAS_ALIBI: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_N: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Pass 1 over key blocks [lo, hi): running max, normaliser, entropy accumulator."""
    for start_n in range(lo, hi, BLOCK_N):
        t = score_tile(
            q, k_base, start_n, offs_n, offs_d, d_ok, skn, skd, n_valid, q_pos, slope, qk_scale,
            window, shift, dilation, n_global, CAUSAL, MASKED, HAS_ALIBI, DOT_PRECISION, LOCAL,
        )  # fmt: skip
        m_new = tl.maximum(m_i, tl.max(t, 1))
        m_use = m_new  # the shift; m_i stays the true running max
        if LOCAL:  # a row may see nothing in a block
            m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_use)
        shifted = t - m_use[:, None]
        p = tl.exp2(shifted)
        if STATS:
            moved = tl.where(l_i > 0, m_i - m_use, 0.0) * l_i
            a_i = alpha * (a_i + moved) + tl.sum(p * tl.where(p > 0, shifted, 0.0), 1)
        l_i = l_i * alpha + tl.sum(p, 1)
        m_i = m_new
    return m_i, l_i, a_i


@triton.jit
def _clipped_pv_blocks(
    acc, zeros, n_seen, lse2, q, k_base, v_base, lo, hi, offs_n, offs_d, d_ok, skn, skd, svn,
    svd, n_valid, q_pos, slope, qk_scale, gamma, zeta, window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, STATS: tl.constexpr, HAS_ALIBI: tl.constexpr,
    DOT_PRECISION: tl.constexpr, BLOCK_N: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Pass 2 over key blocks [lo, hi): clipped weights, A @ V, count of exact zeros (and,
    with a local mask, of the visible keys: every tile is masked then)."""
    for start_n in range(lo, hi, BLOCK_N):
        t = score_tile(
            q, k_base, start_n, offs_n, offs_d, d_ok, skn, skd, n_valid, q_pos, slope, qk_scale,
            window, shift, dilation, n_global, CAUSAL, MASKED, HAS_ALIBI, DOT_PRECISION, LOCAL,
        )  # fmt: skip
        p = tl.exp2(t - lse2[:, None])  # invisible keys: exp2(-inf) = 0
        w = tl.minimum(tl.maximum((zeta - gamma) * p + gamma, 0.0), 1.0)
        k_idx = start_n + offs_n
        if MASKED:
            visible = t > float("-inf")
            w = tl.where(visible, w, 0.0)
            if STATS:
                zeros += tl.sum((visible & (w == 0.0)).to(tl.float32), 1)
                n_seen += tl.sum(visible.to(tl.float32), 1)
        elif STATS:
            zeros += tl.sum((w == 0.0).to(tl.float32), 1)
        v = load_v_tile(v_base, k_idx, offs_d, svn, svd, k_idx < n_valid, d_ok, MASKED)
        acc += tl.dot(w.to(v.dtype), v, input_precision=DOT_PRECISION)
    return acc, zeros, n_seen


@triton.jit
def clipped_attention_fwd(
    Q, K, V, Out, SLOPES, LENS, LSE, ENT, ZFRAC, MAXW, SINK,
    sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod,
    n_heads, n_q, n_k, d_head, qk_scale, gamma, zeta, window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, STATS: tl.constexpr, HAS_ALIBI: tl.constexpr,
    HAS_LENS: tl.constexpr, DOT_PRECISION: tl.constexpr, LOCAL: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // n_heads
    h = pid_bh % n_heads
    offs_m, offs_d, row_ok, d_ok, q_pos, q = load_query_block(
        Q, pid_m, b, h, sqb, sqh, sqm, sqd, n_q, n_k, d_head, BLOCK_M, BLOCK_D
    )
    offs_n = tl.arange(0, BLOCK_N)
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    slope = 0.0
    if HAS_ALIBI:
        slope = tl.load(SLOPES + h).to(tl.float32) * 1.4426950408889634
    n_valid = valid_keys(LENS, b, n_k, HAS_LENS)
    first_end, lo, end = key_ranges(
        pid_m, n_q, n_k, n_valid, window, shift, dilation, n_global, BLOCK_M, BLOCK_N, CAUSAL,
        LOCAL,
    )  # fmt: skip
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    a_i = tl.zeros([BLOCK_M], tl.float32)
    # Interior key blocks without masks, then the causal diagonal and the ragged tail (with a
    # local mask: the global-token blocks, then the window; both masked).
    m_i, l_i, a_i = _lse_blocks(
        m_i, l_i, a_i, q, k_base, 0, first_end, offs_n, offs_d, d_ok, skn, skd, n_valid, q_pos,
        slope, qk_scale, window, shift, dilation, n_global, CAUSAL, LOCAL, STATS, HAS_ALIBI,
        DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    m_i, l_i, a_i = _lse_blocks(
        m_i, l_i, a_i, q, k_base, lo, end, offs_n, offs_d, d_ok, skn, skd, n_valid, q_pos,
        slope, qk_scale, window, shift, dilation, n_global, CAUSAL, True, STATS, HAS_ALIBI,
        DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    seen = l_i > 0  # False only where a local mask hides every key (padded queries)
    if LOCAL:  # +inf for such rows, so pass 2 gives them p = 0 (their lse is stored -inf)
        lse2 = tl.where(seen, m_i + tl.log2(tl.where(seen, l_i, 1.0)), float("inf"))
    else:
        lse2 = m_i + tl.log2(l_i)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    zeros = tl.zeros([BLOCK_M], tl.float32)
    n_seen = tl.zeros([BLOCK_M], tl.float32)
    acc, zeros, n_seen = _clipped_pv_blocks(
        acc, zeros, n_seen, lse2, q, k_base, v_base, 0, first_end, offs_n, offs_d, d_ok, skn,
        skd, svn, svd, n_valid, q_pos, slope, qk_scale, gamma, zeta, window, shift, dilation,
        n_global, CAUSAL, LOCAL, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    acc, zeros, n_seen = _clipped_pv_blocks(
        acc, zeros, n_seen, lse2, q, k_base, v_base, lo, end, offs_n, offs_d, d_ok, skn,
        skd, svn, svd, n_valid, q_pos, slope, qk_scale, gamma, zeta, window, shift, dilation,
        n_global, CAUSAL, True, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    o_ptrs = Out + b * sob + h * soh + offs_m[:, None] * som + offs_d[None, :] * sod
    tl.store(o_ptrs, acc.to(Out.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    if STATS:
        ln2 = 0.6931471805599453
        stat_offs = pid_bh * n_q + offs_m
        n_visible = n_valid + tl.zeros([BLOCK_M], tl.int32)
        if CAUSAL:
            n_visible = tl.minimum(q_pos + 1, n_valid)
        n_visible = n_visible.to(tl.float32)
        k0 = tl.load(k_base + offs_d * skd, mask=d_ok, other=0.0).to(tl.float32)
        t0 = tl.sum(q.to(tl.float32) * k0[None, :], 1) * qk_scale
        if HAS_ALIBI:
            t0 -= slope * q_pos.to(tl.float32)
        sink = tl.minimum(tl.maximum((zeta - gamma) * tl.exp2(t0 - lse2) + gamma, 0.0), 1.0)
        if LOCAL:  # counted visible keys; key 0 may lie outside the window; empty rows: 0
            n_visible = tl.maximum(n_seen, 1.0)
            k_zero = tl.zeros([BLOCK_N], tl.int32)
            sees_0 = local_visible(q_pos, k_zero, window, shift, dilation, n_global)
            sink = tl.where((tl.max(sees_0.to(tl.int32), 1) > 0) & seen, sink, 0.0)
            lse2 = tl.where(seen, lse2, float("-inf"))
            l_i = tl.where(seen, l_i, 1.0)
        max_w = tl.minimum(tl.maximum((zeta - gamma) / l_i + gamma, 0.0), 1.0)
        tl.store(LSE + stat_offs, lse2 * ln2, mask=row_ok)
        tl.store(ENT + stat_offs, tl.log(l_i) - ln2 * a_i / l_i, mask=row_ok)
        tl.store(ZFRAC + stat_offs, zeros / n_visible, mask=row_ok)
        tl.store(MAXW + stat_offs, tl.where(seen, max_w, 0.0), mask=row_ok)
        tl.store(SINK + stat_offs, sink, mask=row_ok)


def clipped_attention_triton(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
    *,
    gamma: float,
    zeta: float,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Clipped-softmax attention: two passes over the keys in one kernel; `lse` and
    `entropy` are those of the unclipped softmax.

    Example:
        >>> out, st = clipped_attention_triton(q, k, v, call, gamma=-0.03, zeta=1.0)
    """
    args = launch_args(q, k, v, call)
    out, tensors = torch.empty_like(q), stat_outputs(q, CLIPPED_STATS, bool(call.stats))
    scale = call.scale if call.scale is not None else 1 / math.sqrt(q.shape[-1])
    clipped_attention_fwd[args.grid](
        q, k, v, out, args.slopes, args.lens, *tensors,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        q.shape[1], q.shape[2], k.shape[2], q.shape[3], scale * LOG2E, float(gamma),
        float(zeta), *args.local, STATS=bool(call.stats), **args.switches,
    )  # fmt: skip
    return out, _named(tensors, call.stats)


def _named(tensors: list[Tensor], names: Sequence[str]) -> dict[str, Tensor]:
    every = dict(zip(CLIPPED_STATS, tensors, strict=True))
    return {name: every[name] for name in names}
