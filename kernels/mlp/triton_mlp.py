"""Triton MLP activation with sparsity statistics (Li et al. 2023), optionally top-k.

Dense: one program per (row block, neuron block) applies the activation, stores `post`, and
writes *integer* partial counts of firing neurons per row (one slot per neuron block) and
per neuron (one slot per row block). Top-k: one program per group of whole rows; a 32-round
bisection on the float bits finds each row's k-th largest value (`_keep_top_k`). The host
sums the partials in int64, so `fire_count` is exact and deterministic (no float atomics).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.mlp import MAX_TOPK_COLS  # the package is loaded before this module
from workbench.kernels.mlp.reference import fired

ACT_CODES = {"relu": 0, "gelu": 1, "relu2": 2, "silu": 3}


@triton.jit
def _activation(x, ACT: tl.constexpr):
    if ACT == 0:
        y = tl.maximum(x, 0.0)
    elif ACT == 1:  # exact (erf) GELU
        y = 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))
    elif ACT == 2:  # squared ReLU
        y = tl.maximum(x, 0.0) * tl.maximum(x, 0.0)
    else:
        y = x * tl.sigmoid(x)
    return y


@triton.jit
def mlp_activation_fwd(
    Pre, Post, ROW_CNT, COL_CNT, n_rows, n_cols, threshold,
    ACT: tl.constexpr, STATS: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
):  # fmt: skip
    pid_r = tl.program_id(0)
    pid_c = tl.program_id(1)
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    ok = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    offs = rows[:, None] * n_cols + cols[None, :]
    x = tl.load(Pre + offs, mask=ok, other=0.0).to(tl.float32)
    y = _activation(x, ACT)
    tl.store(Post + offs, y.to(Post.dtype.element_ty), mask=ok)
    if STATS:
        stored = y.to(Post.dtype.element_ty).to(tl.float32)  # count what the caller sees
        fired = ((tl.abs(stored) > threshold) & ok).to(tl.int32)
        tl.store(ROW_CNT + pid_c * n_rows + rows, tl.sum(fired, 1), mask=rows < n_rows)
        tl.store(COL_CNT + pid_r * n_cols + cols, tl.sum(fired, 0), mask=cols < n_cols)


@triton.jit
def _order_key(y):
    """Map float32 to uint32 so that unsigned order is float order (radix-sort key)."""
    bits = y.to(tl.uint32, bitcast=True)
    return tl.where((bits >> 31) == 1, ~bits, bits | 0x80000000)


@triton.jit
def _keep_top_k(y, ok, K: tl.constexpr, BLOCK_R: tl.constexpr):
    """Mask of the k largest entries of each row of y (entries outside `ok` never kept).

    The k-th largest key is found bit by bit from the top (32 rounds of compare-and-count,
    cheaper than sorting the row): tau grows greedily while at least k keys are >= tau.
    Entries > tau are kept; ties at tau are kept lowest index first until k are kept.
    """
    u = _order_key(y)
    tau = tl.zeros([BLOCK_R], tl.uint32)
    for i in tl.static_range(32):
        cand = tau | (1 << (31 - i))
        n_ge = tl.sum(((u >= cand[:, None]) & ok).to(tl.int32), 1)
        tau = tl.where(n_ge >= K, cand, tau)
    greater = (u > tau[:, None]) & ok
    n_greater = tl.sum(greater.to(tl.int32), 1)
    ties = (u == tau[:, None]) & ok
    return greater | (ties & (tl.cumsum(ties.to(tl.int32), 1) <= (K - n_greater)[:, None]))


@triton.jit
def mlp_topk_fwd(
    Pre, Post, ROW_CNT, COL_CNT, n_rows, n_cols, threshold,
    K: tl.constexpr, ACT: tl.constexpr, STATS: tl.constexpr, ROWS_PER_PROGRAM: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr,
):  # fmt: skip
    """Top-k: each program holds whole rows (BLOCK_C >= n_cols) and selects with
    `_keep_top_k`. Column counts accumulate over ROWS_PER_PROGRAM rows in registers and are
    written once per program (integer partials, summed on the host)."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_C)
    col_ok = cols < n_cols
    col_cnt = tl.zeros([BLOCK_C], tl.int32)
    for r0 in range(0, ROWS_PER_PROGRAM, BLOCK_R):
        rows = pid * ROWS_PER_PROGRAM + r0 + tl.arange(0, BLOCK_R)
        ok = (rows[:, None] < n_rows) & col_ok[None, :]
        offs = rows[:, None] * n_cols + cols[None, :]
        x = tl.load(Pre + offs, mask=ok, other=0.0).to(tl.float32)
        # Rank the values as stored (what the reference ranks in the input dtype).
        y = _activation(x, ACT).to(Post.dtype.element_ty).to(tl.float32)
        post = tl.where(_keep_top_k(y, ok, K, BLOCK_R), y, 0.0)
        tl.store(Post + offs, post.to(Post.dtype.element_ty), mask=ok)
        if STATS:
            fired = ((tl.abs(post) > threshold) & ok).to(tl.int32)
            tl.store(ROW_CNT + rows, tl.sum(fired, 1), mask=rows < n_rows)
            col_cnt += tl.sum(fired, 0)
    if STATS:
        tl.store(COL_CNT + pid * n_cols + cols, col_cnt, mask=col_ok)


def _launch_dense(rows, post, act, want, threshold):
    n_rows, n_cols = rows.shape
    block_r, block_c = 32, 64
    grid = (triton.cdiv(n_rows, block_r), triton.cdiv(n_cols, block_c))
    row_cnt = torch.zeros((grid[1], n_rows), dtype=torch.int32, device=rows.device)
    col_cnt = torch.zeros((grid[0], n_cols), dtype=torch.int32, device=rows.device)
    mlp_activation_fwd[grid](
        rows, post, row_cnt, col_cnt, n_rows, n_cols, float(threshold),
        ACT=ACT_CODES[act], STATS=want, BLOCK_R=block_r, BLOCK_C=block_c,
    )  # fmt: skip
    return row_cnt, col_cnt


def _launch_top_k(rows, post, act, want, threshold, top_k):
    n_rows, n_cols = rows.shape
    if n_cols > MAX_TOPK_COLS:
        raise ValueError(
            f"The Triton top-k kernel holds whole rows: d_mlp <= {MAX_TOPK_COLS}, got {n_cols}. "
            "Use backend='chunked'."
        )
    block_c = triton.next_power_of_2(n_cols)
    block_r = max(1, min(16, 4096 // block_c))  # ~4k values in flight per step
    per_program = max(block_r, 64)
    grid = (triton.cdiv(n_rows, per_program),)
    row_cnt = torch.zeros((1, n_rows), dtype=torch.int32, device=rows.device)
    col_cnt = torch.zeros((grid[0], n_cols), dtype=torch.int32, device=rows.device)
    mlp_topk_fwd[grid](
        rows, post, row_cnt, col_cnt, n_rows, n_cols, float(threshold),
        K=top_k, ACT=ACT_CODES[act], STATS=want, ROWS_PER_PROGRAM=per_program,
        BLOCK_R=block_r, BLOCK_C=block_c,
    )  # fmt: skip
    return row_cnt, col_cnt


def mlp_activation_triton(
    pre: Float[Tensor, "batch pos d_mlp"],
    *,
    act: str = "relu",
    stats: Sequence[str] = ("nonzero_frac", "fire_count"),
    top_k: int | None = None,
    threshold: float = 0.0,
    token_mask: Tensor | None = None,
) -> tuple[Float[Tensor, "batch pos d_mlp"], dict[str, Tensor]]:
    """Activation (optionally top-k) and integer firing counts in one kernel.

    Example:
        >>> post, st = mlp_activation_triton(pre.cuda(), act="gelu", threshold=0.1)
    """
    if not (pre.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"):
        raise RuntimeError("The triton MLP backend needs CUDA tensors (or TRITON_INTERPRET=1).")
    rows = pre.reshape(-1, pre.shape[-1]).contiguous()
    post = torch.empty_like(rows)
    want = bool(stats)
    if top_k is None:
        row_cnt, col_cnt = _launch_dense(rows, post, act, want, threshold)
    else:
        row_cnt, col_cnt = _launch_top_k(rows, post, act, want, threshold, top_k)
    values = {
        "nonzero_frac": lambda: (
            (row_cnt.sum(0, dtype=torch.int64) / rows.shape[1])
            .to(torch.float32)
            .reshape(pre.shape[:-1])
        ),
        "fire_count": lambda: (
            col_cnt.sum(0, dtype=torch.int64) - _padding_fires(post, threshold, token_mask)
        ),
    }
    return post.reshape(pre.shape), {name: values[name]() for name in stats}


def _padding_fires(post: Tensor, threshold: float, token_mask: Tensor | None) -> Tensor | int:
    """Fires the kernel counted on padded rows, to take back out (exact, integer)."""
    if token_mask is None:
        return 0
    pads = post[~token_mask.reshape(-1).to(post.device)]
    return fired(pads, threshold).sum(0, dtype=torch.int64)
