"""Clipped-softmax attention kind: reference, chunked (CPU) and Triton (GPU) backends."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from workbench.kernels.attention.clipped.chunked import clipped_attention_chunked
from workbench.kernels.attention.clipped.reference import (
    CLIPPED_STATS,
    clipped_stats,
    clipped_weights,
)
from workbench.kernels.attention.kind import AttentionCall, AttentionKernel


@dataclasses.dataclass(frozen=True)
class ClippedKernel(AttentionKernel):
    """A = clip((zeta - gamma) softmax(s) + gamma, 0, 1) (Bondarenko et al. 2023)."""

    name: ClassVar[str] = "clipped"
    statistics: ClassVar[tuple[str, ...]] = CLIPPED_STATS
    local_in_triton: ClassVar[bool] = True
    gamma: float = -0.03
    zeta: float = 1.0

    def weights(self, scores, visible):
        return clipped_weights(scores, visible, self.gamma, self.zeta)

    def pattern_stats(self, scores, weights, visible, names):
        return clipped_stats(scores, weights, visible, names)

    def chunked(self, q, k, v, call: AttentionCall, chunk: int):
        return clipped_attention_chunked(q, k, v, call, chunk, gamma=self.gamma, zeta=self.zeta)

    def triton(self, q, k, v, call: AttentionCall):
        from workbench.kernels.attention.clipped.triton import clipped_attention_triton

        return clipped_attention_triton(q, k, v, call, gamma=self.gamma, zeta=self.zeta)


__all__ = ["ClippedKernel"]
