"""Chunked (CPU) clipped-softmax attention: two passes over the keys; the first finds the
log-sum-exp (and the softmax entropy), the second forms the clipped weights, the output and
the zero count. Memory O(batch * head * T * chunk)."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention._blocks import run_blocks
from workbench.kernels.attention._tiling import OnlineSoftmax, key_chunks, visible_count
from workbench.kernels.attention.clipped.reference import clip_weights


def _clipped_block(q_blk, q_pos, k, v, *, call, slopes, chunk, gamma, zeta):
    shape, dtype = q_blk.shape[:3], q_blk.dtype
    tiles = dict(causal=call.causal, slopes=slopes, chunk=chunk, key_lengths=call.key_lengths,
                 local=call.local)  # fmt: skip
    state = OnlineSoftmax(shape, dtype, q_blk.device)
    for _, s, _ in key_chunks(q_blk, q_pos, k, **tiles):  # pass 1: log-sum-exp
        state.update(s, "entropy" in call.stats, want_s2=False)
    lse = state.lse()
    acc = torch.zeros((*shape, v.shape[-1]), dtype=dtype, device=q_blk.device)
    zeros = torch.zeros(shape, dtype=dtype, device=q_blk.device)
    sink = torch.zeros(shape, dtype=dtype, device=q_blk.device)  # key 0 unseen: weight 0
    for keys, s, visible in key_chunks(q_blk, q_pos, k, **tiles):  # pass 2: clip, P @ V
        a = clip_weights(torch.exp(s - lse[..., None]), gamma, zeta)
        if visible is not None:
            a = a.masked_fill(~visible, 0.0)
            zeros = zeros + ((a == 0) & visible).sum(-1)
        else:
            zeros = zeros + (a == 0).sum(-1)
        acc = acc + a @ v[:, :, keys]
        if keys.start == 0:
            sink = a[..., 0]
    count = visible_count(q_pos, k.shape[2], call.causal, call.key_lengths, dtype, call.local)
    every = {
        "lse": lambda: lse,
        "entropy": state.entropy,
        # Rows that see no key (padded queries outside every window) report 0, as the
        # reference does.
        "zero_frac": lambda: torch.where(count > 0, zeros / count.clamp(min=1), 0.0),
        "max_weight": lambda: torch.where(
            state.empty, 0.0, clip_weights(1 / state.l_safe, gamma, zeta)
        ),
        "sink": lambda: sink,
    }
    return acc, {name: every[name]() for name in call.stats}


def clipped_attention_chunked(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
    chunk: int = 512,
    *,
    gamma: float,
    zeta: float,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Chunked clipped softmax (Bondarenko et al. 2023); `entropy` and `lse` are those of
    the unclipped softmax.

    Example:
        >>> out, st = clipped_attention_chunked(q, k, v, call, gamma=-0.03, zeta=1.0)
    """
    return run_blocks(_clipped_block, q, k, v, call, chunk, gamma=gamma, zeta=zeta)
