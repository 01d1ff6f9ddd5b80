"""Position variants: additive embeddings (learned), rotations of q/k (rotary), or none.

A position module may do any of three things; the defaults do nothing:
`embed(pos_ids)` adds to the residual stream, `rotate(x, pos_ids)` rotates queries and keys,
`alibi_slopes()` biases attention scores by distance.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from workbench.core.registry import POSITION, VariantSpec
from workbench.core.validate import PosFloat, PosInt


class PositionModule(nn.Module):
    """Base: no positional information at all."""

    max_len: int | None = None  # longest sequence the module can encode, None for any
    rotates: bool = False

    def embed(self, pos_ids: Int[Tensor, "pos"]) -> Float[Tensor, "pos d_model"] | None:
        return None

    def rotate(
        self, x: Float[Tensor, "batch pos head d_head"], pos_ids: Int[Tensor, "pos"]
    ) -> Float[Tensor, "batch pos head d_head"]:
        return x

    def alibi_slopes(self) -> Float[Tensor, "head"] | None:
        return None


class LearnedPositions(PositionModule):
    def __init__(self, n_ctx: int, d_model: int) -> None:
        super().__init__()
        self.max_len = n_ctx
        self.W_pos = nn.Parameter(torch.empty(n_ctx, d_model))

    def embed(self, pos_ids: Int[Tensor, "pos"]) -> Float[Tensor, "pos d_model"]:
        return self.W_pos[pos_ids]


class RotaryPositions(PositionModule):
    """RoPE (Su et al. 2021) in the GPT-NeoX layout: the first and second halves of the
    rotated dims form the pairs. Scores then depend only on relative position."""

    rotates = True

    def __init__(self, rotary_dim: int, base: float) -> None:
        super().__init__()
        if rotary_dim % 2:
            raise ValueError(f"rotary_dim must be even, got {rotary_dim}")
        self.rotary_dim = rotary_dim
        inv_freq = base ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)

    def rotate(
        self, x: Float[Tensor, "batch pos head d_head"], pos_ids: Int[Tensor, "*batch pos"]
    ) -> Float[Tensor, "batch pos head d_head"]:
        # pos_ids is [pos], or [batch, pos] when left padding shifts each row's positions.
        angles = pos_ids.to(self.inv_freq.dtype)[..., None] * self.inv_freq  # [*batch, pos, r/2]
        cos = angles.cos().unsqueeze(-2).to(x.dtype)  # broadcast over heads
        sin = angles.sin().unsqueeze(-2).to(x.dtype)
        half = self.rotary_dim // 2
        x1, x2, rest = x[..., :half], x[..., half : self.rotary_dim], x[..., self.rotary_dim :]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


@POSITION.register
@dataclasses.dataclass(frozen=True)
class NoPositions(VariantSpec):
    name: ClassVar[str] = "none"
    paper: ClassVar[str] = "Haviv et al. 2022, Transformer LMs without positional encodings"

    def build(self, cfg, layer=None) -> nn.Module:
        return PositionModule()


@POSITION.register
@dataclasses.dataclass(frozen=True)
class Learned(VariantSpec):
    name: ClassVar[str] = "learned"
    paper: ClassVar[str] = "Vaswani et al. 2017 / GPT-2: a learned vector per position"

    def build(self, cfg, layer=None) -> nn.Module:
        return LearnedPositions(cfg.n_ctx, cfg.d_model)


@POSITION.register
@dataclasses.dataclass(frozen=True)
class Rotary(VariantSpec):
    name: ClassVar[str] = "rotary"
    paper: ClassVar[str] = "Su et al. 2021, RoFormer: Rotary Position Embedding"
    rotary_dim: PosInt | None = None  # default: the whole head
    base: PosFloat = 10000.0

    def build(self, cfg, layer=None) -> nn.Module:
        return RotaryPositions(self.rotary_dim or cfg.d_head, self.base)


class SinusoidalPositions(PositionModule):
    """Fixed sin/cos embeddings (Vaswani et al. 2017); any length."""

    def __init__(self, d_model: int, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model, self.base = d_model, base

    def embed(self, pos_ids: Int[Tensor, "*batch pos"]) -> Float[Tensor, "*batch pos d_model"]:
        half = self.d_model // 2
        freq = self.base ** (-torch.arange(half, dtype=torch.float64) / half)
        angles = pos_ids.double()[..., None] * freq.to(pos_ids.device)
        table = torch.cat([angles.sin(), angles.cos()], dim=-1)
        # float64 here; the model casts it to its own dtype (float64 models keep every bit)
        return torch.nn.functional.pad(table, (0, self.d_model - 2 * half))


class ALiBiPositions(PositionModule):
    """Linear distance penalties on the scores, slope 2^(-8h/H) for head h = 1..H."""

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        slopes = 2.0 ** (-8.0 * torch.arange(1, n_heads + 1) / n_heads)
        self.register_buffer("slopes", slopes, persistent=False)

    def alibi_slopes(self) -> Float[Tensor, "head"]:
        return self.slopes


@POSITION.register
@dataclasses.dataclass(frozen=True)
class Sinusoidal(VariantSpec):
    name: ClassVar[str] = "sinusoidal"
    paper: ClassVar[str] = "Vaswani et al. 2017, Attention Is All You Need"

    def build(self, cfg, layer=None) -> nn.Module:
        return SinusoidalPositions(cfg.d_model)


@POSITION.register
@dataclasses.dataclass(frozen=True)
class ALiBi(VariantSpec):
    name: ClassVar[str] = "alibi"
    paper: ClassVar[str] = "Press et al. 2022, Train Short, Test Long (ALiBi)"

    def build(self, cfg, layer=None) -> nn.Module:
        return ALiBiPositions(cfg.n_heads)
