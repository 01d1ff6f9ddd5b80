"""Triton forward kernel: softmax attention with statistics (FlashAttention-2 style).

One program per (query block, batch * head); the keys stream past in blocks with the
online softmax, in base 2 (exp2 with log2(e) folded into the scale). Interior key blocks run
without masks, the causal diagonal and the ragged tail with masks (`triton_tiles.py`).
With `STATS` on, two more accumulators ride along (see `_tiling.py`): the shifted entropy
accumulator A = sum_j p_j (t_j - m) and S2 = sum_j p_j^2, rescaled like l when the max
moves. `STATS` is a `tl.constexpr`: with it off the output is bitwise the same, because the
output path (m, l, acc) never reads the statistics accumulators.

Optional switches: `HAS_ALIBI` (bias -m_h |i - j| in the score tile) and `HAS_LENS`
(per-row key lengths: keys past a row's length are padding). Any T (masking), head dims up
to 128 (padded to a power of two >= 16 with masking). Queries are the last n_q of n_k
positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention.softmax.reference import SOFTMAX_STATS
from workbench.kernels.attention.triton_launch import launch_args, stat_outputs
from workbench.kernels.attention.triton_tiles import (
    key_ranges,
    load_query_block,
    load_v_tile,
    local_visible,
    score_tile,
    valid_keys,
)

LOG2E = 1.4426950408889634


@triton.jit
def _online_softmax_blocks(
    acc, m_i, l_i, a_i, s2_i, q, k_base, v_base, lo, hi, offs_n, offs_d, d_ok,
    skn, skd, svn, svd, n_k, q_pos, slope, qk_scale, window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, STATS: tl.constexpr, HAS_ALIBI: tl.constexpr,
    DOT_PRECISION: tl.constexpr, BLOCK_N: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Fold key blocks [lo, hi) into the running state (acc, m, l, A, S2)."""
    for start_n in range(lo, hi, BLOCK_N):
        t = score_tile(
            q, k_base, start_n, offs_n, offs_d, d_ok, skn, skd, n_k, q_pos, slope, qk_scale,
            window, shift, dilation, n_global, CAUSAL, MASKED, HAS_ALIBI, DOT_PRECISION, LOCAL,
        )  # fmt: skip
        # Key 0 is visible to every row and lies in the first block, so m_new is finite;
        # with a local mask a row may see nothing in a block: shift such rows by 0.
        m_new = tl.maximum(m_i, tl.max(t, 1))
        m_use = m_new  # the shift; m_i stays the true running max (max_weight = 1 / l)
        if LOCAL:
            m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_use)
        shifted = t - m_use[:, None]
        p = tl.exp2(shifted)
        if STATS:
            # Select before multiplying: -inf * 0 (empty history, masked keys) is NaN.
            moved = tl.where(l_i > 0, m_i - m_use, 0.0) * l_i
            a_i = alpha * (a_i + moved) + tl.sum(p * tl.where(p > 0, shifted, 0.0), 1)
            s2_i = alpha * alpha * s2_i + tl.sum(p * p, 1)
        l_i = l_i * alpha + tl.sum(p, 1)
        k_idx = start_n + offs_n
        v = load_v_tile(v_base, k_idx, offs_d, svn, svd, k_idx < n_k, d_ok, MASKED)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new
    return acc, m_i, l_i, a_i, s2_i


@triton.jit
def softmax_attention_fwd(
    Q, K, V, Out, SLOPES, LENS, LSE, ENT, MAXW, SINK, NEFF,
    sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod,
    n_heads, n_q, n_k, d_head, qk_scale, window, shift, dilation, n_global,
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
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    a_i = tl.zeros([BLOCK_M], tl.float32)
    s2_i = tl.zeros([BLOCK_M], tl.float32)
    n_valid = valid_keys(LENS, b, n_k, HAS_LENS)
    first_end, lo, end = key_ranges(
        pid_m, n_q, n_k, n_valid, window, shift, dilation, n_global, BLOCK_M, BLOCK_N, CAUSAL,
        LOCAL,
    )  # fmt: skip
    acc, m_i, l_i, a_i, s2_i = _online_softmax_blocks(
        acc, m_i, l_i, a_i, s2_i, q, k_base, v_base, 0, first_end, offs_n, offs_d, d_ok,
        skn, skd, svn, svd, n_valid, q_pos, slope, qk_scale, window, shift, dilation, n_global,
        CAUSAL, LOCAL, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    acc, m_i, l_i, a_i, s2_i = _online_softmax_blocks(
        acc, m_i, l_i, a_i, s2_i, q, k_base, v_base, lo, end, offs_n, offs_d, d_ok,
        skn, skd, svn, svd, n_valid, q_pos, slope, qk_scale, window, shift, dilation, n_global,
        CAUSAL, True, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    seen = l_i > 0  # False only where a local mask hides every key (padded queries)
    out = acc / (tl.where(seen, l_i, 1.0) if LOCAL else l_i)[:, None]
    o_ptrs = Out + b * sob + h * soh + offs_m[:, None] * som + offs_d[None, :] * sod
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    if STATS:
        ln2 = 0.6931471805599453
        stat_offs = pid_bh * n_q + offs_m
        k0 = tl.load(k_base + offs_d * skd, mask=d_ok, other=0.0).to(tl.float32)
        t0 = tl.sum(q.to(tl.float32) * k0[None, :], 1) * qk_scale
        if HAS_ALIBI:
            t0 -= slope * q_pos.to(tl.float32)
        if LOCAL:  # rows that see no key: lse -inf, the rest 0, as in the reference
            lse2 = tl.where(seen, m_i + tl.log2(tl.where(seen, l_i, 1.0)), float("-inf"))
            l_i = tl.where(seen, l_i, 1.0)
            s2_i = tl.where(seen, s2_i, 1.0)
            m_i = tl.where(seen, m_i, float("inf"))  # exp2(t0 - inf) = 0 below
        else:
            lse2 = m_i + tl.log2(l_i)
        entropy = tl.log(l_i) - ln2 * a_i / l_i
        max_w = tl.where(seen, 1.0 / l_i, 0.0)
        n_eff = tl.where(seen, l_i * l_i / s2_i, 0.0)
        sink = tl.exp2(t0 - m_i) / l_i
        if LOCAL:  # key 0 may lie outside the window
            k_zero = tl.zeros([BLOCK_N], tl.int32)
            sees_0 = local_visible(q_pos, k_zero, window, shift, dilation, n_global)
            sink = tl.where(tl.max(sees_0.to(tl.int32), 1) > 0, sink, 0.0)
        tl.store(LSE + stat_offs, lse2 * ln2, mask=row_ok)
        tl.store(ENT + stat_offs, entropy, mask=row_ok)
        tl.store(MAXW + stat_offs, max_w, mask=row_ok)
        tl.store(NEFF + stat_offs, n_eff, mask=row_ok)
        tl.store(SINK + stat_offs, sink, mask=row_ok)


def softmax_attention_triton(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Softmax attention with statistics in one Triton kernel; stats are float32.

    Example:
        >>> out, st = softmax_attention_triton(q, k, v, AttentionCall(stats=("entropy",)))
    """
    args = launch_args(q, k, v, call)
    out, tensors = torch.empty_like(q), stat_outputs(q, SOFTMAX_STATS, bool(call.stats))
    scale = call.scale if call.scale is not None else 1 / math.sqrt(q.shape[-1])
    softmax_attention_fwd[args.grid](
        q, k, v, out, args.slopes, args.lens, *tensors,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        q.shape[1], q.shape[2], k.shape[2], q.shape[3], scale * LOG2E, *args.local,
        STATS=bool(call.stats), **args.switches,
    )  # fmt: skip
    return out, _named(tensors, call.stats)


def _named(tensors: list[Tensor], names: Sequence[str]) -> dict[str, Tensor]:
    every = dict(zip(SOFTMAX_STATS, tensors, strict=True))
    return {name: every[name] for name in names}
