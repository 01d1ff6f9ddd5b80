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
from workbench.core.stats import record_mlp_stats
from workbench.core.validate import PosInt
from workbench.kernels.mlp import mlp_activation
from workbench.kernels.mlp.reference import ACTIVATIONS, keep_top_k


class ActivationMLP(nn.Module):
    """`W_out act(W_in x + b_in) + b_out` with hooks `hook_pre` and `hook_post`.

    Activation statistics (`mlp.nonzero_frac`, `mlp.fire_count`) come from the fused MLP
    kernel (`workbench.kernels.mlp`: Triton on GPU, chunked on CPU) when the activation has
    one (`kernel_act`, optionally with `top_k`) and no hook replaces the post-activation;
    otherwise from the materialized post-activation with the kernel's reference functions.
    `exact_zeros`: the activation outputs exact zeros (ReLU family), so a neuron fires when
    it is nonzero; other activations need an explicit threshold.
    """

    def __init__(
        self,
        cfg,
        act: Callable[[Tensor], Tensor],
        act_name: str,
        exact_zeros: bool | None = None,
        kernel_act: str | None = None,
        top_k: int | None = None,
    ) -> None:
        super().__init__()
        self.act = act
        self.act_name = act_name
        self.exact_zeros = act_name == "relu" if exact_zeros is None else exact_zeros
        self.kernel_act, self.top_k = kernel_act, top_k
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
        wanted = ctx.stats.wants("mlp") if ctx.stats is not None else ()
        if wanted and self.kernel_act is not None and not self.hook_post.has_hooks:
            post = self.hook_post(self.fused_with_stats(pre, ctx, wanted))
        else:
            post = self.hook_post(self.act(pre))
            record_mlp_stats(post, ctx, self.exact_zeros, self.where(ctx))
        return post @ self.W_out + self.b_out

    def fused_with_stats(self, pre: Tensor, ctx, wanted: tuple[str, ...]) -> Tensor:
        threshold = ctx.stats.threshold(self.exact_zeros, self.where(ctx))
        post, values = mlp_activation(
            pre, act=self.kernel_act, stats=wanted, top_k=self.top_k, threshold=threshold,
            token_mask=ctx.stats.token_mask,
        )  # fmt: skip
        ctx.stats.record("mlp", ctx.layer, values)
        return post

    def where(self, ctx) -> str:
        return f"blocks.{ctx.layer}.mlp ({self.act_name})"


@MLP.register
@dataclasses.dataclass(frozen=True)
class ReLU(VariantSpec):
    name: ClassVar[str] = "relu"
    paper: ClassVar[str] = "Vaswani et al. 2017; sparsity: Li et al. 2023 (Lazy Neuron)"

    def build(self, cfg, layer=None) -> nn.Module:
        return ActivationMLP(cfg, F.relu, "relu", kernel_act="relu")


@MLP.register
@dataclasses.dataclass(frozen=True)
class NoMLP(VariantSpec):
    """No MLP at all: attention-only blocks (`x + attn(x)`), the toy models of Elhage et al.
    2021. `build` returns None; `Block` then has no `ln2`, `hook_mlp_out`, `hook_resid_mid`
    or `mlp.*` hooks, and MLP statistics are refused."""

    name: ClassVar[str] = "none"
    paper: ClassVar[str] = "Elhage et al. 2021, A Mathematical Framework for Transformer Circuits"

    def build(self, cfg, layer=None) -> None:
        return None


@MLP.register
@dataclasses.dataclass(frozen=True)
class GELU(VariantSpec):
    """GELU; `approximate="tanh"` is GPT-2's `gelu_new`, `"none"` is BERT's exact erf form."""

    name: ClassVar[str] = "gelu"
    paper: ClassVar[str] = "Hendrycks & Gimpel 2016, Gaussian Error Linear Units"
    approximate: Literal["none", "tanh"] = "none"

    def build(self, cfg, layer=None) -> nn.Module:
        # The kernel computes the exact (erf) form; the tanh form stays on the eager path.
        kernel_act = "gelu" if self.approximate == "none" else None
        act = lambda x: F.gelu(x, approximate=self.approximate)  # noqa: E731
        return ActivationMLP(cfg, act, "gelu", kernel_act=kernel_act)


@MLP.register
@dataclasses.dataclass(frozen=True)
class SquaredReLU(VariantSpec):
    name: ClassVar[str] = "relu2"
    paper: ClassVar[str] = "So et al. 2021, Primer: Searching for Efficient Transformers"

    def build(self, cfg, layer=None) -> nn.Module:
        return ActivationMLP(cfg, ACTIVATIONS["relu2"], "relu", kernel_act="relu2")


class TopKReLU(nn.Module):
    """ReLU that keeps only the k largest activations of each token (Li et al. 2023); the
    kernels' `keep_top_k`, so the statistics path and this one agree exactly."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        if self.k >= x.shape[-1]:
            return F.relu(x)
        return keep_top_k(F.relu(x), self.k)


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
        k = ks[layer or 0]
        top_k = k if k < cfg.d_mlp else None
        return ActivationMLP(cfg, TopKReLU(k), "relu", kernel_act="relu", top_k=top_k)


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
        record_mlp_stats(post, ctx, self.exact_zeros, f"blocks.{ctx.layer}.mlp (GLU)")
        return post @ self.W_out + self.b_out

    @property
    def exact_zeros(self) -> bool:
        return self.act is F.relu


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
