"""Triton forward kernel: sigmoid attention with statistics (arXiv 2409.04431).

A_ij = sigmoid(x_ij), x = s + b_i (b_i = -log n_i, or a constant), output A @ V with no
normalisation, so the output path needs no running max. Weights are formed as
exp(log sigmoid(x)) with the stable log sigmoid(x) = min(x, 0) - log(1 + e^-|x|), which
never overflows (masked keys: x = -inf -> weight 0).

With `STATS` on, log sigmoid(x) also feeds an online softmax (running max m, l, shifted
entropy accumulator): the row-normalised weights A / sum A are softmax(log sigmoid(x)), so
entropy = log l - acc / l, row_mass = e^m l and max_weight = e^m (log sigmoid is
monotone). The output path does not read these, so it is bitwise the same with STATS off.
Interior key blocks run without masks, the causal diagonal and ragged tail with masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention.sigmoid.reference import SIGMOID_STATS
from workbench.kernels.attention.triton_launch import launch_args, stat_outputs
from workbench.kernels.attention.triton_tiles import (
    count_visible,
    key_ranges,
    load_query_block,
    load_v_tile,
    local_visible,
    score_tile,
    valid_keys,
)


@triton.jit
def _log_sigmoid(x):
    return tl.minimum(x, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _sigmoid_blocks(
    acc, m_i, l_i, a_i, active, q, k_base, v_base, lo, hi, offs_n, offs_d, d_ok,
    skn, skd, svn, svd, n_k, q_pos, slope, scale, row_bias, window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, STATS: tl.constexpr, HAS_ALIBI: tl.constexpr,
    DOT_PRECISION: tl.constexpr, BLOCK_N: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Fold key blocks [lo, hi) into the output and (with STATS) the log-domain state."""
    for start_n in range(lo, hi, BLOCK_N):
        s = score_tile(
            q, k_base, start_n, offs_n, offs_d, d_ok, skn, skd, n_k, q_pos, slope, scale,
            window, shift, dilation, n_global, CAUSAL, MASKED, HAS_ALIBI, DOT_PRECISION, LOCAL,
        )  # fmt: skip
        ls = _log_sigmoid(s + row_bias[:, None])  # invisible keys: s = -inf -> ls = -inf
        w = tl.exp(ls)
        k_idx = start_n + offs_n
        v = load_v_tile(v_base, k_idx, offs_d, svn, svd, k_idx < n_k, d_ok, MASKED)
        acc += tl.dot(w.to(v.dtype), v, input_precision=DOT_PRECISION)
        if STATS:
            active += tl.sum((w > 0.5).to(tl.float32), 1)
            m_new = tl.maximum(m_i, tl.max(ls, 1))
            m_use = m_new  # the shift; m_i stays the true running max
            if LOCAL:  # a row may see nothing in a block
                m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
            alpha = tl.exp(m_i - m_use)
            shifted = ls - m_use[:, None]
            p = tl.exp(shifted)
            moved = tl.where(l_i > 0, m_i - m_use, 0.0) * l_i
            a_i = alpha * (a_i + moved) + tl.sum(p * tl.where(p > 0, shifted, 0.0), 1)
            l_i = l_i * alpha + tl.sum(p, 1)
            m_i = m_new
    return acc, m_i, l_i, a_i, active


@triton.jit
def sigmoid_attention_fwd(
    Q, K, V, Out, SLOPES, LENS, MASS, MAXW, SINK, ACTIVE, ENT,
    sqb, sqh, sqm, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, som, sod,
    n_heads, n_q, n_k, d_head, scale, bias, window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, STATS: tl.constexpr, HAS_ALIBI: tl.constexpr,
    HAS_LENS: tl.constexpr, ROW_BIAS: tl.constexpr, DOT_PRECISION: tl.constexpr,
    LOCAL: tl.constexpr,
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
    n_valid = valid_keys(LENS, b, n_k, HAS_LENS)
    first_end, lo, end = key_ranges(
        pid_m, n_q, n_k, n_valid, window, shift, dilation, n_global, BLOCK_M, BLOCK_N, CAUSAL,
        LOCAL,
    )  # fmt: skip
    row_bias = tl.zeros([BLOCK_M], tl.float32) + bias
    if ROW_BIAS:  # -log(number of keys row i sees)
        if LOCAL:  # counted over the blocks the window reaches (at least 1, as the reference)
            n_seen = count_visible(q_pos, 0, first_end, offs_n, n_valid, window, shift,
                                   dilation, n_global, BLOCK_M, BLOCK_N, CAUSAL)  # fmt: skip
            n_seen += count_visible(q_pos, lo, end, offs_n, n_valid, window, shift, dilation,
                                    n_global, BLOCK_M, BLOCK_N, CAUSAL)  # fmt: skip
            row_bias = -tl.log(tl.maximum(n_seen, 1.0))
        else:
            n_visible = n_valid + tl.zeros([BLOCK_M], tl.int32)
            if CAUSAL:
                n_visible = tl.minimum(q_pos + 1, n_valid)
            row_bias = -tl.log(n_visible.to(tl.float32))
    slope = 0.0
    if HAS_ALIBI:
        slope = tl.load(SLOPES + h).to(tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    a_i = tl.zeros([BLOCK_M], tl.float32)
    active = tl.zeros([BLOCK_M], tl.float32)
    acc, m_i, l_i, a_i, active = _sigmoid_blocks(
        acc, m_i, l_i, a_i, active, q, k_base, v_base, 0, first_end, offs_n, offs_d, d_ok,
        skn, skd, svn, svd, n_valid, q_pos, slope, scale, row_bias, window, shift, dilation,
        n_global, CAUSAL, LOCAL, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    acc, m_i, l_i, a_i, active = _sigmoid_blocks(
        acc, m_i, l_i, a_i, active, q, k_base, v_base, lo, end, offs_n, offs_d, d_ok,
        skn, skd, svn, svd, n_valid, q_pos, slope, scale, row_bias, window, shift, dilation,
        n_global, CAUSAL, True, STATS, HAS_ALIBI, DOT_PRECISION, BLOCK_N, LOCAL,
    )  # fmt: skip
    o_ptrs = Out + b * sob + h * soh + offs_m[:, None] * som + offs_d[None, :] * sod
    tl.store(o_ptrs, acc.to(Out.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    if STATS:
        stat_offs = pid_bh * n_q + offs_m
        tl.store(MASS + stat_offs, tl.exp(m_i) * l_i, mask=row_ok)
        tl.store(MAXW + stat_offs, tl.exp(m_i), mask=row_ok)
        tl.store(ACTIVE + stat_offs, active, mask=row_ok)
        k0 = tl.load(k_base + offs_d * skd, mask=d_ok, other=0.0).to(tl.float32)
        x0 = tl.sum(q.to(tl.float32) * k0[None, :], 1) * scale + row_bias
        if HAS_ALIBI:
            x0 -= slope * q_pos.to(tl.float32)
        sink = tl.exp(_log_sigmoid(x0))
        if LOCAL:  # key 0 may lie outside the window; rows that see nothing: entropy 0
            k_zero = tl.zeros([BLOCK_N], tl.int32)
            sees_0 = local_visible(q_pos, k_zero, window, shift, dilation, n_global)
            sink = tl.where(tl.max(sees_0.to(tl.int32), 1) > 0, sink, 0.0)
            l_i = tl.where(l_i > 0, l_i, 1.0)
        tl.store(ENT + stat_offs, tl.log(l_i) - a_i / l_i, mask=row_ok)
        tl.store(SINK + stat_offs, sink, mask=row_ok)


def sigmoid_attention_triton(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
    bias: float | None = None,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Sigmoid attention with statistics in one Triton kernel.

    Example:
        >>> out, st = sigmoid_attention_triton(q, k, v, AttentionCall(stats=("row_mass",)))
    """
    args = launch_args(q, k, v, call)
    out, tensors = torch.empty_like(q), stat_outputs(q, SIGMOID_STATS, bool(call.stats))
    scale = call.scale if call.scale is not None else 1 / math.sqrt(q.shape[-1])
    sigmoid_attention_fwd[args.grid](
        q, k, v, out, args.slopes, args.lens, *tensors,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        q.shape[1], q.shape[2], k.shape[2], q.shape[3], scale,
        float(bias) if bias is not None else 0.0, *args.local,
        STATS=bool(call.stats), ROW_BIAS=bias is None, **args.switches,
    )  # fmt: skip
    return out, _named(tensors, call.stats)


def _named(tensors: list[Tensor], names: Sequence[str]) -> dict[str, Tensor]:
    every = dict(zip(SIGMOID_STATS, tensors, strict=True))
    return {name: every[name] for name in names}
