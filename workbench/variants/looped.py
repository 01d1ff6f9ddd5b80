"""Looped transformer: one block (or a short cycle of blocks) applied again and again.

Dehghani et al. 2019 (Universal Transformers) and Giannou et al. 2023 ("Looped Transformers
as Programmable Computers", arXiv 2301.13196) apply the same block k times. Here the model
is built with `n_layers` = k blocks and `Looped` ties the weights of block i to those of
block i % `period` after init, so there is one set of weights per cycle position.

Hook names: `blocks.{i}.*` are the hooks of *iteration* i (every analysis that works per
layer then works per iteration); `blocks.{i}` shares its parameters with
`blocks.{i % period}`. Because the reparam field holds one spec, looping does not combine
with `sigma_reparam` through the config.

Example:
    >>> cfg = ModelConfig(n_layers=6, reparam=Looped(period=1))  # one block, 6 iterations
    >>> sum(p.numel() for p in Model(cfg).blocks.parameters())  # the size of one block
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch import nn

from workbench.core.registry import REPARAM
from workbench.core.validate import PosInt
from workbench.variants.reparam import Reparam


def tie_module_parameters(target: nn.Module, source: nn.Module) -> int:
    """Make every parameter of `target` *be* the matching parameter of `source` (same
    structure required); returns how many were tied.

    The tied tensors become plain attributes of `target` (not registered parameters), so
    `parameters()`, `state_dict()` and checkpoints hold each weight once (safetensors
    refuses shared tensors), while `target.W_Q` still reads the source's weight.
    """
    pairs = list(zip(target.named_modules(), source.named_modules(), strict=True))
    tied = 0
    for (t_name, t_mod), (s_name, s_mod) in pairs:
        if t_name != s_name or set(t_mod._parameters) != set(s_mod._parameters):
            raise ValueError(f"Cannot tie {t_name!r} to {s_name!r}: different structure")
        for name, param in s_mod._parameters.items():
            del t_mod._parameters[name]
            object.__setattr__(t_mod, name, param)  # bypass nn.Module's registration
            tied += param is not None
    return tied


@REPARAM.register
@dataclasses.dataclass(frozen=True)
class Looped(Reparam):
    """Block i uses the weights of block i % `period`; `period=1` loops a single block."""

    name: ClassVar[str] = "looped"
    paper: ClassVar[str] = (
        "Dehghani et al. 2019, Universal Transformers; Giannou et al. 2023, Looped "
        "Transformers as Programmable Computers (arXiv 2301.13196)"
    )
    period: PosInt = 1

    def check(self) -> None:
        if self.period < 1:
            raise ValueError(f"Looped.period must be >= 1, got {self.period}")

    def apply(self, model: nn.Module) -> None:
        blocks = model.blocks
        if self.period > len(blocks):
            raise ValueError(f"Looped.period={self.period} > n_layers={len(blocks)}")
        for i in range(self.period, len(blocks)):
            tie_module_parameters(blocks[i], blocks[i % self.period])
