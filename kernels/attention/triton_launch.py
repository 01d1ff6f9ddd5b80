"""What every Triton attention launcher shares: checks, tile sizes, switches, outputs.

Block sizes come from `block_sizes` (fixed, no autotune), so the CPU interpreter
(TRITON_INTERPRET=1) runs exactly one configuration and GPU runs are reproducible.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
import triton
from torch import Tensor

MAX_HEAD_DIM = 128


class Blocks(NamedTuple):
    m: int
    n: int
    d: int
    warps: int
    stages: int


class LaunchArgs(NamedTuple):
    grid: tuple[int, int]
    slopes: Tensor  # ALiBi slopes, or a dummy pointer
    lens: Tensor  # key lengths, or a dummy pointer
    switches: dict[str, Any]  # constexpr switches and tile sizes
    local: tuple[int, int, int, int]  # window (0: none), shift (-1: sliding), dilation, global


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def block_sizes(d_head: int, dtype: torch.dtype, interpret: bool | None = None) -> Blocks:
    """Tile sizes: FlashAttention-2-like on GPU; small square tiles in the interpreter,
    where every program runs in Python and fewer, larger ops are what costs least."""
    block_d = max(16, triton.next_power_of_2(d_head))
    if interpret if interpret is not None else interpreting():
        return Blocks(32, 32, block_d, 4, 1)
    if dtype == torch.float32:  # fp32 tiles take twice the shared memory
        return Blocks(64, 32, block_d, 4, 2)
    return Blocks(128, 64, block_d, 4 if block_d <= 64 else 8, 3 if block_d <= 64 else 2)


def check_triton_inputs(q: Tensor, k: Tensor, v: Tensor) -> None:
    if not (q.is_cuda or interpreting()):
        raise RuntimeError(
            "The triton backend needs CUDA tensors (or TRITON_INTERPRET=1 set before "
            "importing Triton, for the slow CPU interpreter); use backend='chunked' on CPU."
        )
    if q.shape[-1] > MAX_HEAD_DIM or v.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"The Triton kernel supports head dims up to {MAX_HEAD_DIM} with d_v == d_qk; "
            f"got q {list(q.shape)}, v {list(v.shape)}. Use backend='chunked'."
        )
    if k.shape[2] == 0:
        raise ValueError("No keys: attention over an empty sequence is undefined.")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
    ):
        raise ValueError(f"q, k, v must share one of fp32/fp16/bf16, got {q.dtype}")


def launch_args(q: Tensor, k: Tensor, v: Tensor, call) -> LaunchArgs:
    """Checks the inputs and assembles grid, optional pointers and constexpr switches."""
    check_triton_inputs(q, k, v)
    blocks = block_sizes(q.shape[-1], q.dtype)
    dummy = q  # never read: its switch is off
    slopes = call.alibi_slopes.float().contiguous() if call.alibi_slopes is not None else dummy
    lens = call.key_lengths.to(torch.int32).contiguous() if call.key_lengths is not None else dummy
    local = call.local
    local_args = (
        (0, -1, 1, 0)
        if local is None
        else (local.window or 0, -1 if local.shift is None else local.shift, local.dilation,
              local.global_tokens)
    )  # fmt: skip
    switches = dict(
        LOCAL=local is not None,
        CAUSAL=call.causal,
        HAS_ALIBI=call.alibi_slopes is not None,
        HAS_LENS=call.key_lengths is not None,
        DOT_PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
        BLOCK_M=blocks.m, BLOCK_N=blocks.n, BLOCK_D=blocks.d,
        num_warps=blocks.warps, num_stages=blocks.stages,
    )  # fmt: skip
    grid = (triton.cdiv(q.shape[2], blocks.m), q.shape[0] * q.shape[1])
    return LaunchArgs(grid, slopes, lens, switches, local_args)


def stat_outputs(q: Tensor, names: tuple[str, ...], want: bool) -> list[Tensor]:
    """One float32 `[batch, head, q]` tensor per statistic the kernel writes (dummies when
    statistics are off: the kernel never stores to them)."""
    shape = q.shape[:3]
    return [torch.empty(shape, dtype=torch.float32, device=q.device) if want else q for _ in names]
