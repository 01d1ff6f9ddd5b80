"""Sigmoid attention kind: reference, chunked (CPU) and Triton (GPU) backends."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from workbench.kernels.attention.kind import AttentionCall, AttentionKernel
from workbench.kernels.attention.sigmoid.chunked import sigmoid_attention_chunked
from workbench.kernels.attention.sigmoid.reference import (
    SIGMOID_STATS,
    sigmoid_stats,
    sigmoid_weights,
)


@dataclasses.dataclass(frozen=True)
class SigmoidKernel(AttentionKernel):
    """A = sigmoid(s + b); `bias` None means b_i = -log(number of keys row i sees)."""

    name: ClassVar[str] = "sigmoid"
    statistics: ClassVar[tuple[str, ...]] = SIGMOID_STATS
    local_in_triton: ClassVar[bool] = True
    bias: float | None = None

    def weights(self, scores, visible):
        return sigmoid_weights(scores, visible, self.bias)

    def pattern_stats(self, scores, weights, visible, names):
        return sigmoid_stats(weights, names)

    def chunked(self, q, k, v, call: AttentionCall, chunk: int):
        return sigmoid_attention_chunked(q, k, v, call, chunk, bias=self.bias)

    def triton(self, q, k, v, call: AttentionCall):
        from workbench.kernels.attention.sigmoid.triton import sigmoid_attention_triton

        return sigmoid_attention_triton(q, k, v, call, bias=self.bias)


__all__ = ["SigmoidKernel"]
