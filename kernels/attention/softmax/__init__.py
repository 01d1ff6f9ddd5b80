"""Softmax attention kind: reference, chunked (CPU) and Triton (GPU) backends."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from workbench.kernels.attention.kind import AttentionCall, AttentionKernel
from workbench.kernels.attention.softmax.chunked import softmax_attention_chunked
from workbench.kernels.attention.softmax.reference import (
    SOFTMAX_STATS,
    softmax_stats,
    softmax_weights,
)
from workbench.kernels.attention.softmax.sdpa import sdpa_applies, softmax_attention_sdpa


@dataclasses.dataclass(frozen=True)
class SoftmaxKernel(AttentionKernel):
    """A = softmax(s) over the visible keys. No options."""

    name: ClassVar[str] = "softmax"
    statistics: ClassVar[tuple[str, ...]] = SOFTMAX_STATS
    local_in_triton: ClassVar[bool] = True

    def weights(self, scores, visible):
        return softmax_weights(scores)

    def pattern_stats(self, scores, weights, visible, names):
        return softmax_stats(scores, weights, names)

    def chunked(self, q, k, v, call: AttentionCall, chunk: int):
        return softmax_attention_chunked(q, k, v, call, chunk)

    def sdpa_applies(self, q, k, call: AttentionCall) -> bool:
        return sdpa_applies(q, k, call)

    def sdpa(self, q, k, v, call: AttentionCall):
        return softmax_attention_sdpa(q, k, v, call)

    def triton(self, q, k, v, call: AttentionCall):
        from workbench.kernels.attention.softmax.triton import softmax_attention_triton

        return softmax_attention_triton(q, k, v, call)


__all__ = ["SoftmaxKernel"]
