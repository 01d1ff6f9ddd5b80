"""Polynomial composition activations (Zhuo et al. 2024, arXiv 2411.03884).

PolyReLU_r(x) = sum_{i=0..r} a_i relu(x)^i, PolyNorm_r(x) = sum_{i=0..r} a_i norm(x^i), with
norm an RMS normalization over the hidden dimension and learnable scalars a_i per layer
(initialized to a_i = 1/r for i >= 1 and a_0 = 0, so the activation starts as an average of
its powers).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.registry import MLP, VariantSpec
from workbench.core.validate import PosInt
from workbench.variants.mlp import ActivationMLP

_PAPER = "Zhuo et al. 2024, Polynomial Composition Activations (arXiv 2411.03884)"


class PolyActivation(nn.Module):
    """sum_i a_i f_i(x), `coef[i]` = a_i; `f_i` is relu(x)^i or rms_norm(x^i)."""

    def __init__(self, order: int, normalize: bool, eps: float) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"Polynomial order must be >= 1, got {order}")
        self.order, self.normalize, self.eps = order, normalize, eps
        self.coef = nn.Parameter(torch.cat([torch.zeros(1), torch.full((order,), 1.0 / order)]))

    def forward(self, x: Float[Tensor, "batch pos d_mlp"]) -> Float[Tensor, "batch pos d_mlp"]:
        base = x if self.normalize else F.relu(x)
        out = self.coef[0].expand_as(x)
        power = torch.ones_like(base)
        for i in range(1, self.order + 1):
            power = power * base
            term = F.rms_norm(power, power.shape[-1:], eps=self.eps) if self.normalize else power
            out = out + self.coef[i] * term
        return out


def _poly_mlp(cfg, order: int, normalize: bool, name: str) -> nn.Module:
    # `ActivationMLP.act` registers the module, so the coefficients train and are saved.
    return ActivationMLP(cfg, PolyActivation(order, normalize, cfg.eps), name, exact_zeros=False)


@MLP.register
@dataclasses.dataclass(frozen=True)
class PolyReLU(VariantSpec):
    name: ClassVar[str] = "polyrelu"
    paper: ClassVar[str] = _PAPER
    order: PosInt = 3

    def build(self, cfg, layer=None) -> nn.Module:
        return _poly_mlp(cfg, self.order, normalize=False, name="polyrelu")


@MLP.register
@dataclasses.dataclass(frozen=True)
class PolyNorm(VariantSpec):
    name: ClassVar[str] = "polynorm"
    paper: ClassVar[str] = _PAPER
    order: PosInt = 3

    def build(self, cfg, layer=None) -> nn.Module:
        return _poly_mlp(cfg, self.order, normalize=True, name="polynorm")
