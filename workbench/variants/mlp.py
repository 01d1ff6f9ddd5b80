"""MLP variants: an elementwise activation between two linear maps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import MLP, VariantSpec
from workbench.core.stats import mlp_stats
from workbench.core.validate import PosInt


class ActivationMLP(nn.Module):
    """`W_out act(W_in x + b_in) + b_out` with hooks `hook_pre` and `hook_post`.

    Activation statistics (`mlp.nonzero_frac`, `mlp.fire_count`) are computed from the
    post-activation when a `run_with_stats` call asks for them.
    """

    def __init__(
        self,
        cfg,
        act: Callable[[Tensor], Tensor],
        act_name: str,
        exact_zeros: bool | None = None,
    ) -> None:
        super().__init__()
        self.act = act
        self.act_name = act_name
        # Activations with exact zeros count "fired" as != 0; others need a threshold.
        self.exact_zeros = act_name == "relu" if exact_zeros is None else exact_zeros
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp), requires_grad=cfg.mlp_bias)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model), requires_grad=cfg.mlp_bias)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(x @ self.W_in + self.b_in)
        post = self.hook_post(self.act(pre))
        mlp_stats(post, ctx, exact_zeros=self.exact_zeros)
        return post @ self.W_out + self.b_out


@MLP.register
@dataclasses.dataclass(frozen=True)
class ReLU(VariantSpec):
    name: ClassVar[str] = "relu"
    paper: ClassVar[str] = "Vaswani et al. 2017; sparsity: Li et al. 2023 (Lazy Neuron)"

    def build(self, cfg, layer=None) -> nn.Module:
        return ActivationMLP(cfg, F.relu, "relu")


@MLP.register
@dataclasses.dataclass(frozen=True)
class GELU(VariantSpec):
    """GELU; `approximate="tanh"` is GPT-2's `gelu_new`, `"none"` is BERT's exact erf form."""

    name: ClassVar[str] = "gelu"
    paper: ClassVar[str] = "Hendrycks & Gimpel 2016, Gaussian Error Linear Units"
    approximate: Literal["none", "tanh"] = "none"

    def build(self, cfg, layer=None) -> nn.Module:
        return ActivationMLP(cfg, lambda x: F.gelu(x, approximate=self.approximate), "gelu")


@MLP.register
@dataclasses.dataclass(frozen=True)
class SquaredReLU(VariantSpec):
    name: ClassVar[str] = "relu2"
    paper: ClassVar[str] = "So et al. 2021, Primer: Searching for Efficient Transformers"

    def build(self, cfg, layer=None) -> nn.Module:
        return ActivationMLP(cfg, lambda x: F.relu(x).square(), "relu")


class TopKReLU(nn.Module):
    """ReLU that keeps only the k largest activations of each token (Li et al. 2023)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        if self.k >= x.shape[-1]:
            return F.relu(x)
        threshold = x.topk(self.k, dim=-1).values[..., -1:]
        return F.relu(x) * (x >= threshold)


@MLP.register
@dataclasses.dataclass(frozen=True)
class TopK(VariantSpec):
    """`k` is one int for every layer or a tuple with one k per layer."""

    name: ClassVar[str] = "topk_relu"
    paper: ClassVar[str] = "Li et al. 2023, The Lazy Neuron Phenomenon (arXiv 2210.06313)"
    k: PosInt | tuple[PosInt, ...] = 32

    def build(self, cfg, layer=None) -> nn.Module:
        ks = self.k if isinstance(self.k, tuple) else (self.k,) * cfg.n_layers
        if len(ks) != cfg.n_layers:
            raise ValueError(f"topk_relu needs one k per layer ({cfg.n_layers}), got {ks}")
        return ActivationMLP(cfg, TopKReLU(ks[layer or 0]), "relu")


class GatedMLP(nn.Module):
    """`W_out (act(x W_gate + b_gate) * (x W_in + b_in)) + b_out` (Shazeer 2020, GLU
    variants). Hooks: `hook_pre` (gate pre-activation), `hook_pre_linear`, `hook_post`."""

    def __init__(self, cfg, act: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.act = act
        self.W_gate = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_gate = nn.Parameter(torch.zeros(cfg.d_mlp), requires_grad=cfg.mlp_bias)
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp), requires_grad=cfg.mlp_bias)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model), requires_grad=cfg.mlp_bias)
        self.hook_pre = HookPoint()
        self.hook_pre_linear = HookPoint()
        self.hook_post = HookPoint()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        gate = self.hook_pre(x @ self.W_gate + self.b_gate)
        linear = self.hook_pre_linear(x @ self.W_in + self.b_in)
        post = self.hook_post(self.act(gate) * linear)
        mlp_stats(post, ctx, exact_zeros=self.act is F.relu)
        return post @ self.W_out + self.b_out


@dataclasses.dataclass(frozen=True)
class _GLU(VariantSpec):
    paper: ClassVar[str] = "Shazeer 2020, GLU Variants Improve Transformer"
    activation: ClassVar[Callable[[Tensor], Tensor]]

    def build(self, cfg, layer=None) -> nn.Module:
        return GatedMLP(cfg, type(self).activation)


@MLP.register
@dataclasses.dataclass(frozen=True)
class SwiGLU(_GLU):
    name: ClassVar[str] = "swiglu"
    activation: ClassVar = staticmethod(F.silu)


@MLP.register
@dataclasses.dataclass(frozen=True)
class GeGLU(_GLU):
    name: ClassVar[str] = "geglu"
    activation: ClassVar = staticmethod(F.gelu)


@MLP.register
@dataclasses.dataclass(frozen=True)
class ReGLU(_GLU):
    name: ClassVar[str] = "reglu"
    activation: ClassVar = staticmethod(F.relu)
