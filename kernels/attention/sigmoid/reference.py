"""Sigmoid attention (Ramapuram et al. 2024, arXiv 2409.04431): A = sigmoid(s + b) with
b = -log n_i (n_i the keys row i sees) or a constant bias; rows are not normalised.

Statistics: `row_mass` (sum of the row's weights), `max_weight`, `sink`, `active_count`
(weights > 0.5) and `entropy` of the row-normalised weights A / row_mass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from workbench.kernels.attention import statistics as S
from workbench.kernels.attention.scores import n_visible

SIGMOID_STATS = ("row_mass", "max_weight", "sink", "active_count", "entropy")


def sigmoid_bias(
    visible: Bool[Tensor, "batch_or_1 1 q k"], bias: float | None, dtype: torch.dtype
) -> Float[Tensor, "batch_or_1 1 q 1"]:
    """b_i = -log(number of keys row i sees), or the constant override."""
    if bias is not None:
        return torch.full(visible.shape[:-1], float(bias), dtype=dtype, device=visible.device)[
            ..., None
        ]
    return -torch.log(n_visible(visible, dtype).clamp(min=1))[..., None]


def sigmoid_weights(
    s: Float[Tensor, "batch head q k"], visible: Tensor, bias: float | None
) -> Float[Tensor, "batch head q k"]:
    return torch.sigmoid(s + sigmoid_bias(visible, bias, s.dtype))  # sigmoid(-inf) = 0


def sigmoid_stats(
    w: Float[Tensor, "batch head q k"], names: Sequence[str]
) -> dict[str, Float[Tensor, "batch head q"]]:
    every = {
        "row_mass": lambda: S.row_mass(w),
        "max_weight": lambda: S.max_weight(w),
        "sink": lambda: S.sink(w),
        "active_count": lambda: S.active_count(w),
        "entropy": lambda: S.entropy(S.normalized(w)),
    }
    return {name: every[name]() for name in names}
