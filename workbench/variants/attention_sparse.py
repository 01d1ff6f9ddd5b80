"""Sparse softmax attention: top-k per query, and Informer's ProbSparse query selection.

Both keep the QKV structure and the hooks of `QKVAttention`; `hook_attn_scores` holds the
full scores and `hook_pattern` the sparse weights. They run the eager path (no kernel), so
`run_with_stats` offers no attention statistics for them (asking raises, naming it).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from workbench.core.registry import ATTENTION, VariantSpec
from workbench.core.validate import PosFloat, PosInt
from workbench.variants.attention import QKVAttention

Scores = Float[Tensor, "batch head q k"]


def topk_softmax(scores: Scores, k: int) -> Scores:
    """Softmax over each row's k largest scores; the other keys get exactly 0. Masked keys
    (-inf) are never kept over a visible one; exactly k keys per row (ties: by index).

    Example:
        >>> topk_softmax(torch.tensor([[0.0, 2.0, 1.0]]), k=2)
        tensor([[0.0000, 0.7311, 0.2689]])
    """
    if k >= scores.shape[-1]:
        return scores.softmax(-1)
    keep = torch.zeros_like(scores, dtype=torch.bool)
    keep.scatter_(-1, scores.topk(k, dim=-1).indices, True)
    return scores.masked_fill(~keep, float("-inf")).softmax(-1)


def sparsity_measure(scores: Scores, visible: Bool[Tensor, "b 1 q k"]) -> Float[Tensor, "b h q"]:
    """Informer's M(q_i) = max_j s_ij - mean_j s_ij over the visible keys (computed exactly
    over all keys; the paper estimates it from a sample of keys)."""
    count = visible.sum(-1).clamp(min=1)
    mean = scores.masked_fill(~visible, 0.0).sum(-1) / count
    return scores.amax(-1) - mean


def real_queries(visible: Bool[Tensor, "b 1 q k"]) -> Bool[Tensor, "b 1 q"]:
    """Which queries are real tokens: in self-attention query i is key n_k - n_q + i, so a
    query is real when it may see its own position (padding masks that key)."""
    n_q, n_k = visible.shape[-2:]
    return visible.diagonal(offset=n_k - n_q, dim1=-2, dim2=-1)


def probsparse_weights(
    scores: Scores, visible: Bool[Tensor, "b 1 q k"], u: Int[Tensor, "b"] | int
) -> Scores:
    """Softmax rows for the u queries with the largest M(q); the others attend uniformly to
    their visible keys, so their output is the mean of the visible values (Informer's lazy
    queries; in a causal model, the running mean). Queries that see no key (padding, in
    self-attention) are never among the u; `u` may differ per batch row."""
    uniform = visible.to(scores.dtype)  # [b, 1, q, k]: broadcast over heads, not copied
    uniform = uniform / uniform.sum(-1, keepdim=True).clamp(min=1)
    measure = sparsity_measure(scores, visible).masked_fill(~real_queries(visible), float("-inf"))
    rank = measure.argsort(-1, descending=True).argsort(-1)  # 0 = the most "active" query
    u = torch.as_tensor(u, device=scores.device).reshape(-1, 1, 1)
    active = rank < u
    return torch.where(active[..., None], scores.softmax(-1), uniform)


class TopKSoftmaxModule(QKVAttention):
    def __init__(self, cfg, layer: int, k: int) -> None:
        super().__init__(cfg, layer)
        self.k = k

    def weights(self, scores: Tensor, visible: Tensor) -> Tensor:
        return topk_softmax(scores, self.k)


class ProbSparseModule(QKVAttention):
    def __init__(self, cfg, layer: int, u: int | None, factor: float) -> None:
        super().__init__(cfg, layer)
        self.u, self.factor = u, factor

    def active_queries(self, visible: Tensor) -> Tensor | int:
        """u, or Informer's ceil(c * ln L_Q) per batch row when u is not given, with L_Q
        the queries that see a key (padded queries are not counted)."""
        if self.u is not None:
            return self.u
        n_queries = real_queries(visible).sum(-1).flatten().double().clamp(min=1)
        return (self.factor * n_queries.log()).ceil().clamp(min=1).long()

    def weights(self, scores: Tensor, visible: Tensor) -> Tensor:
        return probsparse_weights(scores, visible, self.active_queries(visible))


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class TopKSoftmax(VariantSpec):
    """Each query keeps its `k` largest scores (k >= number of keys: plain softmax)."""

    name: ClassVar[str] = "topk_softmax"
    paper: ClassVar[str] = (
        "Gupta et al. 2021, Memory-efficient Transformers via Top-k Attention (arXiv 2106.06899)"
    )
    k: PosInt = 8

    def build(self, cfg, layer=None) -> nn.Module:
        return TopKSoftmaxModule(cfg, layer or 0, self.k)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class ProbSparse(VariantSpec):
    """`u` active queries per head (None: ceil(factor * ln T), as Informer's c ln L_Q)."""

    name: ClassVar[str] = "probsparse"
    paper: ClassVar[str] = (
        "Zhou et al. 2021, Informer: Beyond Efficient Transformer for Long Sequence "
        "Time-Series Forecasting (arXiv 2012.07436)"
    )
    u: PosInt | None = None
    factor: PosFloat = 5.0

    def build(self, cfg, layer=None) -> nn.Module:
        return ProbSparseModule(cfg, layer or 0, self.u, self.factor)
