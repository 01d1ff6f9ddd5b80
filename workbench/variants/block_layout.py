"""Block layouts: how a block composes its attention and MLP sublayers.

A layout is a small module called as `layout(block, resid, ctx)`; it uses the block's
`residual_step` / `branch` and must pass the stream through `hook_resid_mid` and
`hook_resid_post`. Layouts that need their own weights (gates, a second MLP) hold them.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.registry import BLOCK, VariantSpec


class SequentialLayout(nn.Module):
    """x -> x + attn(x) -> + mlp(.): the MLP reads the stream after attention."""

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        resid = block.hook_resid_mid(block.residual_step(resid, "attn", ctx))
        return block.hook_resid_post(block.residual_step(resid, "mlp", ctx))


class ParallelLayout(nn.Module):
    """x + attn(ln1(x)) + mlp(ln2(x)): both sublayers read the block's input.

    `hook_resid_mid` holds `resid_pre + attn_out` (what a sequential block would hand its
    MLP); `resid_post = resid_mid + mlp_out`. Patching `hook_resid_mid` therefore changes
    the output but not what the MLP reads (it reads `resid_pre`).
    """

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        attn_out = block.branch(resid, "attn", ctx)
        mlp_out = block.branch(resid, "mlp", ctx)
        return block.hook_resid_post(block.hook_resid_mid(resid + attn_out) + mlp_out)


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class Sequential(VariantSpec):
    name: ClassVar[str] = "sequential"
    paper: ClassVar[str] = "Vaswani et al. 2017, Attention Is All You Need"

    def build(self, cfg, layer=None) -> nn.Module:
        return SequentialLayout()


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class Parallel(VariantSpec):
    """Attention and MLP side by side (GPT-J, GPT-NeoX `use_parallel_residual`, PaLM)."""

    name: ClassVar[str] = "parallel"
    paper: ClassVar[str] = "Wang & Komatsuzaki 2021, GPT-J-6B; Chowdhery et al. 2022, PaLM"

    def build(self, cfg, layer=None) -> nn.Module:
        if cfg.norm_placement.norm_after_add:
            raise ValueError(
                f"block 'parallel' needs norms on the sublayer inputs; norm_placement "
                f"{cfg.norm_placement.name!r} normalizes the residual sum (use pre, peri or none)"
            )
        return ParallelLayout()
