"""Softmax alternatives that keep the QKV structure: sigmoid, clipped softmax, gated.

Sigmoid and clipped softmax have instrumented kernels of their own
(`workbench.kernels.attention.sigmoid|clipped`); gated attention is softmax attention (its
kernel) followed by a per-head gate, so `run_with_stats` works for all three.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import ATTENTION
from workbench.kernels.attention import ClippedKernel, SigmoidKernel
from workbench.kernels.attention.statistics import gate_statistics
from workbench.variants.attention import LocalWindow, QKVAttention, SoftmaxAttentionModule

GATE_STATS = ("gate", "gate_closed")


class _KernelFused(QKVAttention):
    """Inference fast path through the instrumented kernel with no statistics, so hook-free
    runs never build the [q, k] weights (SDPA has no kernel for these weightings). The kernels
    are forward-only, so training (and padding other than right padding) takes the eager
    path."""

    def fused(self, q: Tensor, k: Tensor, v: Tensor, ctx) -> Tensor:
        right_padded = ctx.key_padding_mask is None or ctx.key_lengths is not None
        if not right_padded or (torch.is_grad_enabled() and q.requires_grad):
            return self.eager(q, k, v, ctx)[0]
        return self.run_kernel(q, k, v, ctx)[0]


class SigmoidAttentionModule(_KernelFused):
    """A = sigmoid(s + b), b = -log(n) with n the keys a row sees; rows are not normalised
    (Ramapuram et al. 2024, "Theory, Analysis, and Best Practices for Sigmoid Self-Attention")."""

    def __init__(self, cfg, layer: int, bias: float | None) -> None:
        super().__init__(cfg, layer)
        self.kernel = SigmoidKernel(bias=bias)


class ClippedSoftmaxModule(_KernelFused):
    """clip((zeta - gamma) softmax(s) + gamma, 0, 1): a head can put exactly zero weight
    on keys without huge logits (Bondarenko et al. 2023, "Quantizable Transformers")."""

    def __init__(self, cfg, layer: int, gamma: float, zeta: float) -> None:
        super().__init__(cfg, layer)
        self.kernel = ClippedKernel(gamma=gamma, zeta=zeta)


class GatedAttentionModule(SoftmaxAttentionModule):
    """Softmax attention whose per-head output is scaled by sigmoid(x W_G + b_G), so a head
    can switch itself off (Bondarenko et al. 2023). Hook `hook_gate`: `[batch, pos, head]`,
    fired on every path; statistics `gate` and `gate_closed` come from the hooked gate."""

    def __init__(self, cfg, layer: int) -> None:
        super().__init__(cfg, layer)
        self.W_G = nn.Parameter(torch.empty(cfg.d_model, cfg.n_heads))
        self.b_G = nn.Parameter(torch.zeros(cfg.n_heads))
        self.hook_gate = HookPoint()

    def output_stats(self, x: Tensor, z: Tensor, wanted: tuple[str, ...]):
        gate = self.hook_gate(torch.sigmoid(x @ self.W_G + self.b_G))  # [batch, pos, head]
        gate = gate.transpose(1, 2)
        return z * gate[..., None].to(z.dtype), gate_statistics(gate, wanted)

    def supported_stats(self) -> set[str]:
        return super().supported_stats() | set(GATE_STATS)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Sigmoid(LocalWindow):
    name: ClassVar[str] = "sigmoid"
    paper: ClassVar[str] = "Ramapuram et al. 2024, Sigmoid Self-Attention (arXiv 2409.04431)"
    bias: float | None = SigmoidKernel.bias  # None: -log(number of visible keys), per row

    def build(self, cfg, layer=None) -> nn.Module:
        return self.with_local(SigmoidAttentionModule(cfg, layer or 0, self.bias))


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Clipped(LocalWindow):
    name: ClassVar[str] = "clipped"
    paper: ClassVar[str] = "Bondarenko et al. 2023, Quantizable Transformers (arXiv 2306.12929)"
    gamma: float = ClippedKernel.gamma
    zeta: float = ClippedKernel.zeta

    def build(self, cfg, layer=None) -> nn.Module:
        return self.with_local(ClippedSoftmaxModule(cfg, layer or 0, self.gamma, self.zeta))


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Gated(LocalWindow):
    name: ClassVar[str] = "gated"
    paper: ClassVar[str] = "Bondarenko et al. 2023, Quantizable Transformers (arXiv 2306.12929)"

    def build(self, cfg, layer=None) -> nn.Module:
        return self.with_local(GatedAttentionModule(cfg, layer or 0))
