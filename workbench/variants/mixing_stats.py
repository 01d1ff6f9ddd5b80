"""Attention-like statistics of mixers that are linear in their values, from their
token-mixing matrix M (y == M v).

M is not a probability distribution: its entries can be negative (DeltaNet) and its rows
need not sum to 1 (linear attention, RetNet, Mamba). The statistics are therefore named
apart from softmax attention's (`attn.mix_entropy`, not `attn.entropy`) and computed from
the row-normalized magnitudes |M_ij| / sum_j |M_ij|, with the one implementation of each
statistic in `workbench.kernels.attention.statistics`. M is built only when one of these is
requested (it costs [T, T] memory per head).
"""

from __future__ import annotations

from collections.abc import Callable

from jaxtyping import Float
from torch import Tensor

from workbench.kernels.attention.statistics import entropy, max_weight, normalized, sink

MIX_STATS = ("mix_entropy", "mix_max_weight", "mix_sink")

_FROM_WEIGHTS = {"mix_entropy": entropy, "mix_max_weight": max_weight, "mix_sink": sink}


def mixing_statistics(
    matrix: Float[Tensor, "batch head q k"], names: tuple[str, ...]
) -> dict[str, Float[Tensor, "batch head q"]]:
    """The requested `mix_*` statistics of M, from |M| normalized per row.

    Example:
        >>> m = torch.tensor([[[[1.0, 0.0], [-1.0, 3.0]]]])
        >>> mixing_statistics(m, ("mix_max_weight",))["mix_max_weight"]
        tensor([[[1.0000, 0.7500]]])
    """
    magnitude = matrix.detach().abs()
    if magnitude.element_size() < 4:  # half precision: reduce in float32
        magnitude = magnitude.float()
    weights = normalized(magnitude)
    return {name: _FROM_WEIGHTS[name](weights) for name in names if name in _FROM_WEIGHTS}


def record_mixing_stats(
    ctx, layer: int, build_matrix: Callable[[], Tensor], extra: dict[str, Tensor] | None = None
) -> None:
    """If `run_with_stats` asked for `attn.mix_*`, build M (only then) and record them."""
    wanted = ctx.stats.wants("attn") if ctx.stats is not None else ()
    names = tuple(n for n in wanted if n in MIX_STATS)
    if not wanted:
        return
    values = mixing_statistics(build_matrix(), names) if names else {}
    ctx.stats.record("attn", layer, {**values, **(extra or {})})
