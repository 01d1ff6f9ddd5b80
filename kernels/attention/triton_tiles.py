"""Jitted tile helpers shared by the Triton attention kernels.

Scores are kept in base 2 (t = s * log2(e), the scale folded into `qk_scale`) so the kernels
use exp2/log2. `MASKED` is a `tl.constexpr`: interior key blocks (wholly visible, wholly
inside the sequence) load and score without any masking, as in FlashAttention-2; only the
blocks on the causal diagonal and the ragged tail pay for masks.

Local masks (`LOCAL` constexpr; `LocalMask` in `local.py`) arrive as four runtime ints:
`window` (0: none), `shift` (-1: sliding windows, else blocked windows with that offset),
`dilation` and `n_global`. With them every tile is masked, and only the key blocks a
query block can reach are visited (`key_ranges`): the global blocks, then the window.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def load_query_block(
    Q, pid_m, b, h, sqb, sqh, sqm, sqd, n_q, n_k, d_head,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """Rows of query block `pid_m` of (batch b, head h): their offsets, the head-dim offsets,
    the row and column masks, the rows' absolute positions (queries are the last n_q of n_k)
    and the [BLOCK_M, BLOCK_D] tile of Q."""
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    row_ok = offs_m < n_q
    d_ok = offs_d < d_head
    q = tl.load(
        Q + b * sqb + h * sqh + offs_m[:, None] * sqm + offs_d[None, :] * sqd,
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    return offs_m, offs_d, row_ok, d_ok, offs_m + (n_k - n_q), q


@triton.jit
def load_k_tile(k_base, k_idx, offs_d, skn, skd, k_ok, d_ok, MASKED: tl.constexpr):
    """K block transposed: [BLOCK_D, BLOCK_N]."""
    ptrs = k_base + k_idx[None, :] * skn + offs_d[:, None] * skd
    if MASKED:
        return tl.load(ptrs, mask=k_ok[None, :] & d_ok[:, None], other=0.0)
    return tl.load(ptrs, mask=d_ok[:, None], other=0.0)


@triton.jit
def load_v_tile(v_base, k_idx, offs_d, svn, svd, k_ok, d_ok, MASKED: tl.constexpr):
    """V block: [BLOCK_N, BLOCK_D]."""
    ptrs = v_base + k_idx[:, None] * svn + offs_d[None, :] * svd
    if MASKED:
        return tl.load(ptrs, mask=k_ok[:, None] & d_ok[None, :], other=0.0)
    return tl.load(ptrs, mask=d_ok[None, :], other=0.0)


@triton.jit
def local_visible(q_pos, k_idx, window, shift, dilation, n_global):
    """[BLOCK_M, BLOCK_N] visibility under a local mask (see `local.py`)."""
    diff = q_pos[:, None] - k_idx[None, :]
    sliding = (diff % dilation) == 0  # C remainder: 0 exactly for multiples, either sign
    sliding = sliding & ((window == 0) | (tl.abs(diff) < window * dilation))
    w = tl.maximum(window, 1)
    s = tl.maximum(shift, 0)
    blocked = ((q_pos[:, None] + s) // w) == ((k_idx[None, :] + s) // w)
    ok = tl.where(shift >= 0, blocked, sliding)
    return ok | (q_pos[:, None] < n_global) | (k_idx[None, :] < n_global)


@triton.jit
def score_tile(
    q, k_base, start_n, offs_n, offs_d, d_ok, skn, skd, n_k, q_pos, slope, qk_scale,
    window, shift, dilation, n_global,
    CAUSAL: tl.constexpr, MASKED: tl.constexpr, HAS_ALIBI: tl.constexpr,
    DOT_PRECISION: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Scores of one key block, base 2, invisible keys at -inf: [BLOCK_M, BLOCK_N].

    `slope` is the ALiBi slope already multiplied by log2(e) (ignored without HAS_ALIBI).
    `n_k` here is the number of valid (non-padding) keys of the row.
    """
    k_idx = start_n + offs_n
    k_ok = k_idx < n_k
    k = load_k_tile(k_base, k_idx, offs_d, skn, skd, k_ok, d_ok, MASKED)
    t = tl.dot(q, k, input_precision=DOT_PRECISION) * qk_scale
    if HAS_ALIBI:
        t -= slope * tl.abs(q_pos[:, None] - k_idx[None, :]).to(tl.float32)
    if MASKED:
        visible = k_ok[None, :]
        if CAUSAL:
            visible = visible & (k_idx[None, :] <= q_pos[:, None])
        if LOCAL:
            visible = visible & local_visible(q_pos, k_idx, window, shift, dilation, n_global)
        t = tl.where(visible, t, float("-inf"))
    return t


@triton.jit
def key_block_bounds(
    pid_m, n_q, n_k, n_valid, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    CAUSAL: tl.constexpr,
):  # fmt: skip
    """(interior_end, end) of the key loop of query block `pid_m`.

    Keys [0, interior_end) are whole blocks visible to every row of the block; keys
    [interior_end, end) need masks (causal diagonal, ragged tail, padding). Causal key
    blocks wholly in the future of the block's last query, and keys at or past `n_valid`
    (this row's padding starts there), are skipped. Queries are the last n_q of n_k.
    """
    first_q = (n_k - n_q) + pid_m * BLOCK_M
    if CAUSAL:
        end = tl.minimum(n_valid, first_q + BLOCK_M)
        interior_end = tl.minimum(first_q + 1, n_valid) // BLOCK_N * BLOCK_N
    else:
        end = n_valid
        interior_end = n_valid // BLOCK_N * BLOCK_N
    return interior_end, end


@triton.jit
def key_ranges(
    pid_m, n_q, n_k, n_valid, window, shift, dilation, n_global,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr, LOCAL: tl.constexpr,
):  # fmt: skip
    """Key blocks of query block `pid_m` as two loops: [0, first_end) then [lo, end).

    Without LOCAL: the interior blocks (unmasked), then the diagonal and tail (masked). With
    LOCAL (both loops masked): the global-token blocks, then the blocks the window reaches.
    """
    interior_end, end = key_block_bounds(pid_m, n_q, n_k, n_valid, BLOCK_M, BLOCK_N, CAUSAL)
    first_end = interior_end
    lo = interior_end
    if LOCAL:
        # Selects, not branches: on the GPU a runtime `if` needs one type on both paths.
        first_q = (n_k - n_q) + pid_m * BLOCK_M
        last_q = first_q + BLOCK_M - 1
        w = tl.maximum(window, 1)
        s = tl.maximum(shift, 0)
        span = (window - 1) * dilation
        lo_k = tl.where(window > 0, first_q - span, 0)
        hi_k = tl.where(window > 0, last_q + span + 1, n_k)
        lo_k = tl.where(shift >= 0, (first_q + s) // w * w - s, lo_k)
        hi_k = tl.where(shift >= 0, ((last_q + s) // w + 1) * w - s, hi_k)
        lo_k = tl.where(first_q < n_global, 0, lo_k)  # global queries see every key
        hi_k = tl.where(first_q < n_global, n_k, hi_k)
        lo = tl.maximum(lo_k, 0) // BLOCK_N * BLOCK_N
        end = tl.minimum(end, hi_k)
        first_end = tl.minimum((n_global + BLOCK_N - 1) // BLOCK_N * BLOCK_N, lo)
    return first_end, lo, end


@triton.jit
def count_visible(
    q_pos, lo, hi, offs_n, n_valid, window, shift, dilation, n_global,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr,
):  # fmt: skip
    """Keys each row sees among key blocks [lo, hi) (local mask, causal, padding); index
    arithmetic only, no loads."""
    count = tl.zeros([BLOCK_M], tl.float32)
    for start_n in range(lo, hi, BLOCK_N):
        k_idx = start_n + offs_n
        ok = local_visible(q_pos, k_idx, window, shift, dilation, n_global)
        ok = ok & (k_idx[None, :] < n_valid)
        if CAUSAL:
            ok = ok & (k_idx[None, :] <= q_pos[:, None])
        count += tl.sum(ok.to(tl.float32), 1)
    return count


@triton.jit
def valid_keys(LENS, b, n_k, HAS_LENS: tl.constexpr):
    """Keys of batch row `b` that are not padding: its length, or all n_k."""
    n_valid = n_k
    if HAS_LENS:
        n_valid = tl.minimum(tl.load(LENS + b).to(tl.int32), n_k)
    return n_valid
