"""Token-chunked PyTorch MLP activation with statistics (CPU or any device).

Same results as `reference.py`; the boolean `fired` temporaries exist one token chunk at
a time, and per-neuron counts are exact integer sums (deterministic, no float atomics).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from workbench.kernels.mlp.reference import ACTIVATIONS, MLP_STATS, fired_as_float, keep_top_k


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
    # The activation itself is one whole-tensor op, as in the plain forward (copying it in
    # chunks into a preallocated output cost a full extra pass); only the statistics'
    # boolean temporaries are chunked.
    post = ACTIVATIONS[act](pre)
    if top_k is not None:
        post = keep_top_k(post, top_k)
    rows = post.reshape(-1, post.shape[-1])
    real = token_mask.reshape(-1) if token_mask is not None else None
    if real is not None and bool(real.all()):
        real = None  # no padding: skip the row selection (a copy of every chunk)
    frac = torch.empty(rows.shape[0], dtype=torch.float32, device=pre.device)
    counts = torch.zeros(rows.shape[-1], dtype=torch.int64, device=pre.device)
    for r0 in range(0, rows.shape[0] if stats else 0, chunk):
        block = rows[r0 : r0 + chunk]
        real_rows = None if real is None else real[r0 : r0 + chunk]
        per_row, per_neuron = fire_counts(block, threshold, real_rows)
        frac[r0 : r0 + chunk] = per_row / rows.shape[-1]
        counts += per_neuron
    values = {"nonzero_frac": frac.reshape(pre.shape[:-1]), "fire_count": counts}
    return post, {name: values[name] for name in stats}


def fire_counts(
    block: Float[Tensor, "rows d_mlp"], threshold: float, real: Bool[Tensor, "rows"] | None
) -> tuple[Tensor, Tensor]:
    """Firing neurons per row, and per neuron over the real rows (int64).

    Counted as float sums of 0/1 (exact: a chunk has at most 2^24 rows and neurons).
    """
    on = fired_as_float(block, threshold)
    per_row = on.sum(-1)
    per_neuron = on.sum(0) if real is None else real.to(on.dtype) @ on
    return per_row.to(torch.int64), per_neuron.to(torch.int64)
