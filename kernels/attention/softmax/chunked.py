"""Chunked softmax attention with statistics for the CPU: memory O(batch * head * T * chunk).

Queries are processed in blocks; for each block the keys stream past in chunks with the
online-softmax recurrences (FlashAttention) plus the shifted entropy accumulator and S2
(see `_tiling.OnlineSoftmax`). Causal key chunks entirely in a query block's future, and
chunks past every row's padding, are skipped: no [T, T] tensor ever exists.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention._blocks import run_blocks
from workbench.kernels.attention._tiling import OnlineSoftmax, key_chunks


def softmax_block(
    q_blk: Tensor, q_pos: Tensor, k: Tensor, v: Tensor, *, call, slopes, chunk
) -> tuple[Tensor, dict[str, Tensor]]:
    """Output and statistics of one query block (scores streamed in key chunks)."""
    stats = call.stats
    state = OnlineSoftmax(q_blk.shape[:3], q_blk.dtype, q_blk.device)
    acc = torch.zeros((*q_blk.shape[:3], v.shape[-1]), dtype=q_blk.dtype, device=q_blk.device)
    # Key 0's score, for the sink; -inf (weight 0) when no tile holds it (a local window).
    s0 = torch.full(q_blk.shape[:3], float("-inf"), dtype=q_blk.dtype, device=q_blk.device)
    tiles = key_chunks(
        q_blk, q_pos, k, causal=call.causal, slopes=slopes, chunk=chunk,
        key_lengths=call.key_lengths, local=call.local,
    )  # fmt: skip
    for keys, s, visible in tiles:
        if keys.start == 0:
            s0 = s[..., 0].clone()  # update() overwrites s
        pv, alpha = state.update(s, "entropy" in stats, "n_eff" in stats, v[:, :, keys],
                                 masked=visible is not None)  # fmt: skip
        acc = acc.mul_(alpha[..., None]).add_(pv)
    lse = state.lse()
    empty = state.empty
    every = {
        "lse": lambda: lse,
        "entropy": state.entropy,
        "max_weight": lambda: torch.where(empty, 0.0, 1 / state.l_safe),
        "sink": lambda: torch.where(empty, 0.0, torch.exp(s0 - lse)),
        "n_eff": state.n_eff,
    }
    return acc / state.l_safe[..., None], {name: every[name]() for name in stats}


def softmax_attention_chunked(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
    chunk: int = 512,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Same results as the reference, without the [q, k] pattern.

    Example:
        >>> out, st = softmax_attention_chunked(q, k, v, AttentionCall(stats=("entropy",)), 256)
    """
    return run_blocks(softmax_block, q, k, v, call, chunk)
