"""The identity mixer: an attention-free layer (MLP-only blocks, e.g. in hybrids).

The block does not run the mixer (nor build its norms): `blocks.{l}.hook_attn_out` fires
with zeros, so `hook_resid_mid == hook_resid_pre + hook_attn_out` still holds, and a hook
that writes into `hook_attn_out` still adds to the stream (activation patching works as on
any layer). There are no `blocks.{l}.attn.*` hooks and no `ln1` / `ln1_out`; the layer gives
no attention statistics (`run_with_stats` says so, naming the layer).

Example:
    >>> cfg = ModelConfig(n_layers=2, attention="identity")  # an MLP-only transformer
    >>> hybrid = ModelConfig(n_layers=2, attention=["identity", "softmax"])
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch import Tensor, nn

from workbench.core.registry import ATTENTION, VariantSpec


class IdentityMixer(nn.Module):
    """Mixes nothing; `Block` sees `adds_nothing` and skips the sublayer."""

    adds_nothing: ClassVar[bool] = True

    def __init__(self, layer: int) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, ctx) -> Tensor:
        raise RuntimeError(
            f"blocks.{self.layer}.attn is the identity mixer: the block skips it (its "
            "hook_attn_out holds zeros); it is not meant to be called"
        )

    def supported_stats(self) -> set[str]:
        return set()


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Identity(VariantSpec):
    name: ClassVar[str] = "identity"
    paper: ClassVar[str] = "none: the layer is MLP-only (no token mixing)"

    def build(self, cfg, layer=None) -> nn.Module:
        return IdentityMixer(layer or 0)
