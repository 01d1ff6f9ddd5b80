"""What every layer needs to know about the current forward pass."""

from __future__ import annotations

import dataclasses

from jaxtyping import Bool, Int
from torch import Tensor, nn

from workbench.core.stats import StatsCollector


@dataclasses.dataclass(frozen=True)
class ForwardContext:
    """Positions, masks and requested statistics, passed down through the blocks.

    `key_padding_mask` is True where a key may be attended to (Hugging Face's convention);
    `key_lengths` is set when that mask is right padding (real tokens first), the form the
    instrumented kernels take. `row_pos_ids` are per-row positions of left-padded rows (for
    additive position embeddings); relative schemes (rotary, ALiBi) need none.
    """

    positions: nn.Module
    pos_ids: Int[Tensor, "pos"]
    causal: bool
    key_padding_mask: Bool[Tensor, "batch key_pos"] | None = None
    key_lengths: Int[Tensor, "batch"] | None = None
    row_pos_ids: Int[Tensor, "batch pos"] | None = None
    stats: StatsCollector | None = None
    layer: int = 0

    def at_layer(self, layer: int, positions: nn.Module | None = None) -> ForwardContext:
        """The context of `layer`; `positions` replaces the model's for a layer with its own
        (a per-layer position schedule)."""
        if positions is None:
            return dataclasses.replace(self, layer=layer)
        return dataclasses.replace(self, layer=layer, positions=positions)
