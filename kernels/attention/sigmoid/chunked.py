"""Chunked (CPU) sigmoid attention with statistics: memory O(batch * head * T * chunk).

A = sigmoid(x), x = s + b, needs no running max for the output. Its entropy is that of
p = A / sum A = softmax(log sigmoid(x)), so it streams through the same shifted entropy
accumulator as softmax, fed with log sigmoid(x); that stays exact when every A underflows
(x around -1e3), where sum A log A / sum A would be 0 / 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention._blocks import run_blocks
from workbench.kernels.attention._tiling import OnlineSoftmax, key_chunks, visible_count


def _sigmoid_block(q_blk, q_pos, k, v, *, call, slopes, chunk, bias):
    shape, dtype = q_blk.shape[:3], q_blk.dtype
    count = visible_count(q_pos, k.shape[2], call.causal, call.key_lengths, dtype, call.local)
    b = torch.full_like(count, float(bias)) if bias is not None else -torch.log(count.clamp(min=1))
    b = b[..., None]
    acc = torch.zeros((*shape, v.shape[-1]), dtype=dtype, device=q_blk.device)
    mass, max_w, active = (torch.zeros(shape, dtype=dtype, device=q_blk.device) for _ in range(3))
    normalised = OnlineSoftmax(shape, dtype, q_blk.device)
    sink = torch.zeros(shape, dtype=dtype, device=q_blk.device)  # key 0 unseen: weight 0
    tiles = key_chunks(
        q_blk, q_pos, k, causal=call.causal, slopes=slopes, chunk=chunk,
        key_lengths=call.key_lengths, local=call.local,
    )  # fmt: skip
    for keys, s, _ in tiles:
        x = s + b
        a = torch.sigmoid(x)  # masked keys: sigmoid(-inf) = 0
        acc = acc + a @ v[:, :, keys]
        mass = mass + a.sum(-1)
        max_w = torch.maximum(max_w, a.amax(-1))
        active = active + (a > 0.5).sum(-1)
        if keys.start == 0:
            sink = a[..., 0]
        if "entropy" in call.stats:
            normalised.update(F.logsigmoid(x), want_entropy=True, want_s2=False)
    every = {
        "row_mass": lambda: mass,
        "max_weight": lambda: max_w,
        "sink": lambda: sink,
        "active_count": lambda: active,
        "entropy": normalised.entropy,
    }
    return acc, {name: every[name]() for name in call.stats}


def sigmoid_attention_chunked(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    v: Float[Tensor, "batch head k d"],
    call,
    chunk: int = 512,
    bias: float | None = None,
) -> tuple[Float[Tensor, "batch head q d"], dict[str, Float[Tensor, "batch head q"]]]:
    """Chunked sigmoid attention; matches the reference.

    Example:
        >>> out, st = sigmoid_attention_chunked(q, k, v, AttentionCall(stats=("row_mass",)))
    """
    return run_blocks(_sigmoid_block, q, k, v, call, chunk, bias=bias)
