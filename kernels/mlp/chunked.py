"""Token-chunked PyTorch MLP activation with statistics (CPU or any device).

Same results as `reference.py`; the boolean `fired` temporaries exist one token chunk at
a time, and per-neuron counts are exact integer sums (deterministic, no float atomics).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from workbench.kernels.mlp.reference import ACTIVATIONS, MLP_STATS, fired, keep_top_k


def mlp_activation_chunked(
    pre: Float[Tensor, "batch pos d_mlp"],
    *,
    act: str = "relu",
    stats: Sequence[str] = MLP_STATS,
    top_k: int | None = None,
    threshold: float = 0.0,
    token_mask: Bool[Tensor, "batch pos"] | None = None,
    chunk: int = 4096,
) -> tuple[Float[Tensor, "batch pos d_mlp"], dict[str, Tensor]]:
    """Example:
    >>> post, st = mlp_activation_chunked(pre, act="gelu", threshold=0.1, chunk=1024)
    """
    fn = ACTIVATIONS[act]
    rows = pre.reshape(-1, pre.shape[-1])
    real = token_mask.reshape(-1) if token_mask is not None else None
    post = torch.empty_like(rows)
    frac = torch.empty(rows.shape[0], dtype=torch.float32, device=pre.device)
    counts = torch.zeros(rows.shape[-1], dtype=torch.int64, device=pre.device)
    for r0 in range(0, rows.shape[0], chunk):
        block = fn(rows[r0 : r0 + chunk])
        if top_k is not None:
            block = keep_top_k(block, top_k)
        post[r0 : r0 + chunk] = block
        if stats:
            real_rows = None if real is None else real[r0 : r0 + chunk]
            per_row, per_neuron = fire_counts(block, threshold, real_rows)
            frac[r0 : r0 + chunk] = per_row / rows.shape[-1]
            counts += per_neuron
    values = {"nonzero_frac": frac.reshape(pre.shape[:-1]), "fire_count": counts}
    return post.reshape(pre.shape), {name: values[name] for name in stats}


def fire_counts(
    block: Float[Tensor, "rows d_mlp"], threshold: float, real: Bool[Tensor, "rows"] | None
) -> tuple[Tensor, Tensor]:
    """Firing neurons per row, and per neuron over the real rows (int64). At threshold 0
    "fires" is "nonzero", which `count_nonzero` counts in one pass."""
    if threshold == 0:
        counted = block if real is None else block[real]
        return torch.count_nonzero(block, dim=-1), torch.count_nonzero(counted, dim=0)
    on = fired(block, threshold)
    counted = on if real is None else on & real[:, None]
    return on.sum(-1, dtype=torch.int64), counted.sum(0, dtype=torch.int64)
