"""Softmax attention (Vaswani et al. 2017): how scores become weights, and its statistics.

Statistics per (batch, head, query): `lse` (log-sum-exp of the visible scores), `entropy`
(nats, Zhai et al. 2023), `max_weight`, `sink` (weight on key 0), `n_eff` (1 / sum_j A_ij^2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention import statistics as S

SOFTMAX_STATS = ("lse", "entropy", "max_weight", "sink", "n_eff")


def softmax_weights(s: Float[Tensor, "batch head q k"]) -> Float[Tensor, "batch head q k"]:
    """softmax over visible keys; a row with no visible key attends to nothing (as SDPA)."""
    return torch.nan_to_num(s.softmax(-1), nan=0.0)


def softmax_stats(
    s: Float[Tensor, "batch head q k"], w: Float[Tensor, "batch head q k"], names: Sequence[str]
) -> dict[str, Float[Tensor, "batch head q"]]:
    every = {
        "lse": lambda: S.log_sum_exp(s),
        "entropy": lambda: S.entropy(w),
        "max_weight": lambda: S.max_weight(w),
        "sink": lambda: S.sink(w),
        "n_eff": lambda: S.effective_keys(w),
    }
    return {name: every[name]() for name in names}
