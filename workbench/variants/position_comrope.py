"""ComRoPE (Yu et al. 2025, "ComRoPE: Scalable and Robust Rotary Position Embedding
Parameterized by Trainable Commuting Angle Matrices", arXiv 2506.03737).

RoPE rotates each pair of dims by a fixed angle per position. ComRoPE replaces the fixed
2x2 rotations by R(p) = exp(p A) with A a *trainable* skew-symmetric, block-diagonal matrix
(blocks of `block_size` dims). The paper needs the angle matrices of different position axes
to commute so that R(p)^T R(p') = R(p' - p); token positions have one axis, for which this
holds for any A, so scores depend only on relative position (tested). With `block_size=2`
and no noise this is exactly RoPE in the interleaved-pair layout.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from workbench.core.registry import POSITION, VariantSpec
from workbench.core.validate import NonNegFloat, PosFloat, PosInt
from workbench.variants.position import PositionModule


class ComRoPEPositions(PositionModule):
    """Parameter `generator [n_blocks, b, b]`; A = generator - generator^T (skew-symmetric).

    Hooks are the attention's `hook_rot_q|k`, as for RoPE.
    """

    rotates = True

    def __init__(self, d_head: int, block_size: int, base: float, init_noise: float) -> None:
        super().__init__()
        if block_size < 2 or block_size % 2 or d_head % block_size:
            raise ValueError(
                f"ComRoPE block_size must be even and divide d_head={d_head}, got {block_size}"
            )
        self.d_head, self.block_size, self.base, self.init_noise = (
            d_head,
            block_size,
            base,
            init_noise,
        )
        self.generator = nn.Parameter(torch.zeros(d_head // block_size, block_size, block_size))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> None:
        """RoPE's frequencies on the pairs (2j, 2j+1) of each block, plus small noise that
        couples the pairs so the blocks start as more than RoPE."""
        n_pairs = self.d_head // 2
        freq = self.base ** (-torch.arange(n_pairs, dtype=torch.float64) * 2 / self.d_head)
        init = torch.randn(self.generator.shape, generator=generator) * self.init_noise
        pairs_per_block = self.block_size // 2
        for pair in range(n_pairs):
            block, j = divmod(pair, pairs_per_block)
            init[block, 2 * j + 1, 2 * j] += freq[pair].float()
        self.generator.copy_(init)

    def angle_matrix(self) -> Float[Tensor, "block b b"]:
        return self.generator - self.generator.transpose(-1, -2)

    def rotation(self, pos_ids: Int[Tensor, "pos"]) -> Float[Tensor, "pos block b b"]:
        angles = pos_ids.to(self.generator.dtype)[:, None, None, None] * self.angle_matrix()
        return torch.linalg.matrix_exp(angles)

    def rotate(
        self, x: Float[Tensor, "batch pos head d_head"], pos_ids: Int[Tensor, "pos"]
    ) -> Float[Tensor, "batch pos head d_head"]:
        rot = self.rotation(pos_ids).to(x.dtype)
        blocks = x.unflatten(-1, (-1, self.block_size))  # [batch, pos, head, block, b]
        return torch.einsum("pnij,bphnj->bphni", rot, blocks).flatten(-2)


@POSITION.register
@dataclasses.dataclass(frozen=True)
class ComRoPE(VariantSpec):
    name: ClassVar[str] = "comrope"
    paper: ClassVar[str] = (
        "Yu et al. 2025, ComRoPE: Scalable and Robust Rotary Position Embedding "
        "Parameterized by Trainable Commuting Angle Matrices (arXiv 2506.03737)"
    )
    block_size: PosInt = 4
    base: PosFloat = 10000.0
    init_noise: NonNegFloat = 0.02

    def build(self, cfg, layer=None) -> nn.Module:
        return ComRoPEPositions(cfg.d_head, self.block_size, self.base, self.init_noise)
