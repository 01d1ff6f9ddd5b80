"""Clipped-softmax attention (Bondarenko et al. 2023, "Quantizable Transformers",
arXiv 2306.12929): A = clip((zeta - gamma) softmax(s) + gamma, 0, 1), so a head can put
exactly zero weight on keys without huge logits.

Statistics: `lse` and `entropy` of the *unclipped* softmax; `zero_frac` (fraction of visible
keys whose clipped weight is exactly zero), `max_weight` and `sink` of the clipped weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxtyping import Float
from torch import Tensor
from workbench.kernels.attention import statistics as S
from workbench.kernels.attention.softmax.reference import softmax_weights

CLIPPED_STATS = ("lse", "entropy", "zero_frac", "max_weight", "sink")


def clip_weights(p: Tensor, gamma: float, zeta: float) -> Tensor:
    """clip((zeta - gamma) p + gamma, 0, 1) (Bondarenko et al. 2023, eq. 4.1)."""
    return ((zeta - gamma) * p + gamma).clamp(0.0, 1.0)


def clipped_weights(
    s: Float[Tensor, "batch head q k"], visible: Tensor, gamma: float, zeta: float
) -> Float[Tensor, "batch head q k"]:
    """Invisible keys get weight 0 even when gamma > 0 would lift them."""
    return clip_weights(softmax_weights(s), gamma, zeta).masked_fill(~visible, 0.0)


def clipped_stats(
    s: Tensor, w: Tensor, visible: Tensor, names: Sequence[str]
) -> dict[str, Float[Tensor, "batch head q"]]:
    p = softmax_weights(s)
    every = {
        "lse": lambda: S.log_sum_exp(s),
        "entropy": lambda: S.entropy(p),
        "zero_frac": lambda: S.zero_fraction(w, visible.expand_as(w)),
        "max_weight": lambda: S.max_weight(w),
        "sink": lambda: S.sink(w),
    }
    return {name: every[name]() for name in names}
