"""Looped transformer: one block (or a short cycle of blocks) applied again and again.

Dehghani et al. 2019 (Universal Transformers) and Giannou et al. 2023 ("Looped Transformers
as Programmable Computers", arXiv 2301.13196) apply the same block k times. Here the model
is built with `n_layers` = k blocks and `Looped` ties the weights of block i to those of
block i % `period` after init, so there is one set of weights per cycle position.

Hook names: `blocks.{i}.*` are the hooks of *iteration* i (every analysis that works per
layer then works per iteration); `blocks.{i}` shares its parameters with
`blocks.{i % period}`. Because the reparam field holds one spec, looping does not combine
with `sigma_reparam` through the config.

AlgoFormer (Gao et al. 2024, arXiv 2402.13572) puts untied blocks around the loop: a
pre-transformer of `prefix` blocks and a post-transformer of `suffix` blocks, each with its
own weights; only the blocks between them loop.

Example:
    >>> cfg = ModelConfig(n_layers=6, reparam=Looped(period=1))  # one block, 6 iterations
    >>> cfg = ModelConfig(n_layers=6, reparam=Looped(prefix=1, suffix=1))  # AlgoFormer
    >>> sum(p.numel() for p in Model(cfg).blocks.parameters())  # the size of one block
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch import nn

from workbench.core.registry import REPARAM
from workbench.core.validate import NonNegInt, PosInt
from workbench.variants.reparam import Reparam


def tie_module_parameters(target: nn.Module, source: nn.Module) -> int:
    """Make every parameter of `target` *be* the matching parameter of `source` (same
    structure required); returns how many were tied.

    The tied tensors become plain attributes of `target` (not registered parameters), so
    `parameters()`, `state_dict()` and checkpoints hold each weight once (safetensors
    refuses shared tensors), while `target.W_Q` still reads the source's weight.
    """
    t_modules, s_modules = list(target.named_modules()), list(source.named_modules())
    if len(t_modules) != len(s_modules):  # checked before any weight is tied
        raise ValueError(
            f"Cannot tie {type(target).__name__} ({len(t_modules)} modules) to "
            f"{type(source).__name__} ({len(s_modules)} modules): different structure"
        )
    pairs = list(zip(t_modules, s_modules, strict=True))
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
    """Blocks `prefix .. n_layers - suffix` loop: block i uses the weights of block
    prefix + (i - prefix) % `period`; `period=1` loops a single block. The first `prefix`
    and last `suffix` blocks keep their own weights (AlgoFormer's pre/post-transformers)."""

    name: ClassVar[str] = "looped"
    paper: ClassVar[str] = (
        "Dehghani et al. 2019, Universal Transformers; Giannou et al. 2023, Looped "
        "Transformers as Programmable Computers (arXiv 2301.13196); untied prefix/suffix: "
        "Gao et al. 2024, AlgoFormer (arXiv 2402.13572)"
    )
    period: PosInt = 1
    prefix: NonNegInt = 0
    suffix: NonNegInt = 0

    def check(self) -> None:
        if self.period < 1:
            raise ValueError(f"Looped.period must be >= 1, got {self.period}")

    def apply(self, model: nn.Module) -> None:
        blocks = model.blocks
        looped = len(blocks) - self.prefix - self.suffix
        if self.period > looped:
            raise ValueError(
                f"Looped.period={self.period} > the {looped} looped blocks (n_layers="
                f"{len(blocks)} minus prefix={self.prefix} and suffix={self.suffix})"
            )
        for i in range(self.prefix + self.period, self.prefix + looped):
            tie_module_parameters(blocks[i], blocks[self.prefix + (i - self.prefix) % self.period])
