"""Weight reparametrizations, applied to a built model (e.g. sigmaReparam)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from workbench.core.registry import REPARAM, VariantSpec


@dataclasses.dataclass(frozen=True)
class Reparam(VariantSpec):
    """Base: `apply(model)` rewires the model's weights in place after it is built."""

    def apply(self, model: nn.Module) -> None:
        raise NotImplementedError


@REPARAM.register
@dataclasses.dataclass(frozen=True)
class NoReparam(Reparam):
    name: ClassVar[str] = "none"

    def apply(self, model: nn.Module) -> None:
        return None


class SpectralRescale(nn.Module):
    """Parametrization W_hat = gamma / sigma(W) * W (Zhai et al. 2023, sigmaReparam).

    sigma(W) is the spectral norm of the weight as a linear map (`to_matrix` lays it out),
    estimated by one power-iteration step per training forward; u, v are buffers without
    gradient, and sigma = u^T W v keeps the gradient with respect to W. sigma is computed in
    fp32. gamma starts at sigma(W0), so the reparametrized model equals the original at init.
    """

    def __init__(self, weight: Tensor, to_matrix, n_init_iters: int = 20) -> None:
        super().__init__()
        self.to_matrix = to_matrix
        matrix = to_matrix(weight.detach()).float()
        generator = torch.Generator().manual_seed(0)
        v = torch.randn(matrix.shape[1], generator=generator)
        self.register_buffer("u", torch.zeros(matrix.shape[0]))
        self.register_buffer("v", v / v.norm())
        for _ in range(n_init_iters):
            self._power_step(matrix)
        self.gamma = nn.Parameter(self.sigma(matrix).detach().clone())

    @torch.no_grad()
    def _power_step(self, matrix: Tensor) -> None:
        u = matrix @ self.v
        self.u.copy_(u / u.norm().clamp_min(1e-12))
        v = matrix.T @ self.u
        self.v.copy_(v / v.norm().clamp_min(1e-12))

    def sigma(self, matrix: Tensor) -> Tensor:
        return self.u @ matrix @ self.v

    def forward(self, weight: Tensor) -> Tensor:
        matrix = self.to_matrix(weight).float()
        if self.training:
            self._power_step(matrix.detach())
        return (self.gamma / self.sigma(matrix)).to(weight.dtype) * weight


def _as_map(name: str):
    """How a weight reads as a matrix [in, out] (the spectral norm ignores transposes)."""
    # [head, d_model, d_head] -> [d_model, head * d_head]; W_QK, W_OV (collapsed attention)
    # and W_U (CRATE's MSSA) are laid out [head, d_model, out] too
    if name in ("W_Q", "W_K", "W_V", "W_QK", "W_OV", "W_U"):
        return lambda w: w.transpose(0, 1).reshape(w.shape[1], -1)
    if name == "W_O":  # [head, d_head, d_model] -> [head * d_head, d_model]
        return lambda w: w.reshape(-1, w.shape[-1])
    return lambda w: w


@REPARAM.register
@dataclasses.dataclass(frozen=True)
class SigmaReparam(Reparam):
    """sigmaReparam on every attention and MLP weight matrix (not embeddings/unembedding)."""

    name: ClassVar[str] = "sigma_reparam"
    paper: ClassVar[str] = (
        "Zhai et al. 2023, Stabilizing Transformer Training (sigmaReparam, arXiv 2303.06296)"
    )

    def apply(self, model: nn.Module) -> None:
        for block in model.blocks:
            for module in (m for m in (block.attn, block.mlp) if m is not None):
                for name, param in list(module.named_parameters(recurse=False)):
                    if param.dim() >= 2 and name.startswith("W_"):
                        rescale = SpectralRescale(param, _as_map(name))
                        parametrize.register_parametrization(module, name, rescale)
