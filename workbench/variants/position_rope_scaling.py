"""Rotary embeddings with a rescaled frequency table, as long-context checkpoints use them.

Both keep the NeoX half-rotation of `rotary` and change only its inverse frequencies:
`rotary_linear` divides every frequency by `factor` (position interpolation), and
`rotary_llama3` divides only the low frequencies, blending smoothly in between.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from workbench.core.registry import POSITION
from workbench.variants.position import Rotary, RotaryPositions


def _with_inv_freq(module: RotaryPositions, inv_freq: Tensor) -> RotaryPositions:
    module.inv_freq.copy_(inv_freq.to(module.inv_freq.dtype))
    return module


@POSITION.register
@dataclasses.dataclass(frozen=True)
class RotaryLinear(Rotary):
    """Position interpolation: angle(p) = p / factor * freq, i.e. rotary at p / factor."""

    name: ClassVar[str] = "rotary_linear"
    paper: ClassVar[str] = "Chen et al. 2023, Extending Context Window via Position Interpolation"
    factor: float = 1.0

    def build(self, cfg, layer=None) -> nn.Module:
        module = RotaryPositions(self.rotary_dim or cfg.d_head, self.base)
        return _with_inv_freq(module, module.inv_freq.double() / self.factor)


@POSITION.register
@dataclasses.dataclass(frozen=True)
class RotaryLlama3(Rotary):
    """Llama 3.1 frequency table: wavelengths above `original_max_len / low_freq_factor`
    are stretched by `factor`, below `original_max_len / high_freq_factor` kept, and the
    band between interpolated linearly in `original_max_len / wavelength`."""

    name: ClassVar[str] = "rotary_llama3"
    paper: ClassVar[str] = "Grattafiori et al. 2024, The Llama 3 Herd of Models"
    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_len: int = 8192

    def build(self, cfg, layer=None) -> nn.Module:
        module = RotaryPositions(self.rotary_dim or cfg.d_head, self.base)
        freq = module.inv_freq.double()
        wavelength = 2 * math.pi / freq
        smooth = (self.original_max_len / wavelength - self.low_freq_factor) / (
            self.high_freq_factor - self.low_freq_factor
        )
        blended = (1 - smooth) * freq / self.factor + smooth * freq
        long = wavelength > self.original_max_len / self.low_freq_factor
        short = wavelength < self.original_max_len / self.high_freq_factor
        scaled = torch.where(long, freq / self.factor, torch.where(short, freq, blended))
        return _with_inv_freq(module, scaled)
