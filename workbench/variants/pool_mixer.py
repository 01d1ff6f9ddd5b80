"""Pooling token mixer (Yu et al. 2022, "MetaFormer Is Actually What You Need for Vision",
PoolFormer): y = AvgPool(x) - x. The paper subtracts the input because the block adds it
back through the residual; so `pool_size=1` (the average of the token alone) gives exactly 0.

Causal models average each token with the `pool_size - 1` tokens before it; bidirectional
models use a centered window (odd `pool_size`), as the paper's 2-D pooling does in 1-D. As in
PoolFormer (count_include_pad=False), the average is over the tokens that exist: at the edges
and next to padding it divides by how many real tokens the window holds. A padded token
(attention_mask 0) is never averaged in. Hook: `hook_pooled` `[batch, pos, d_model]`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import ATTENTION, VariantSpec
from workbench.core.validate import PosInt
from workbench.variants.selective_ssm import refuse_score_positions


def window_sums(x: Tensor, before: int, after: int) -> Tensor:
    """sum_{j = t - before .. t + after} x_j along dim 1 (missing positions count 0), as a
    sum of shifted copies: exact for one token and free of the rounding drift a cumsum
    difference would accumulate over long sequences."""
    padded = F.pad(x, (0, 0, before, after))
    n = x.shape[1]
    return sum(padded[:, i : i + n] for i in range(before + after + 1))


class PoolMixer(nn.Module):
    def __init__(self, cfg, pool_size: int) -> None:
        super().__init__()
        refuse_score_positions(cfg, "pool")
        if not cfg.causal and pool_size % 2 == 0:
            raise ValueError(f"pool: a centered window needs an odd pool_size, got {pool_size}")
        self.pool_size = pool_size
        self.hook_pooled = HookPoint()

    @classmethod
    def supported_stats(cls) -> set[str]:
        return set()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        before, after = (self.pool_size - 1, 0) if ctx.causal else ((self.pool_size - 1) // 2,) * 2
        real = torch.ones_like(x[..., :1])
        if ctx.key_padding_mask is not None:
            real = ctx.key_padding_mask[..., None].to(x.dtype)
        count = window_sums(real, before, after)
        pooled = window_sums(x * real, before, after) / count.clamp(min=1)
        return self.hook_pooled(pooled) - x


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Pool(VariantSpec):
    """`pool_size` tokens averaged (PoolFormer's default 3); 1 gives a zero mixer."""

    name: ClassVar[str] = "pool"
    paper: ClassVar[str] = "Yu et al. 2022, MetaFormer Is Actually What You Need for Vision"
    pool_size: PosInt = 3

    def build(self, cfg, layer=None) -> nn.Module:
        return PoolMixer(cfg, self.pool_size)
