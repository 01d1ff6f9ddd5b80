"""Linear attention with decay: RetNet's retention (a fixed decay per head) and gated
linear attention (GLA, a data-dependent decay per key channel). Both run in the parallel,
recurrent or chunkwise form of `decay_scan` (tested equal), normalize each head's output
and gate it with swish(x W_G), as in both papers.

Token-mixing matrix: the output before the per-head norm is M v (`decay_scan.mixing_matrix`),
so `run_with_stats` offers `attn.mix_*` (see `mixing_stats`). With GLA's learned initial
state the output is M v + q_t exp(G_t) S0: M covers the tokens, S0 acts as a bias.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import ATTENTION, VariantSpec
from workbench.core.validate import PosFloat, PosInt
from workbench.variants.decay_scan import decay_attention, mixing_matrix
from workbench.variants.mixing_stats import record_mixing_stats
from workbench.variants.recurrent_mixers import _MatrixStateMixer

Mode = Literal["parallel", "chunked", "recurrent"]


def retention_decays(n_heads: int) -> Tensor:
    """RetNet's multi-scale decays gamma_h = 1 - 2^(-5-h), h = 0..n_heads-1."""
    return 1 - 2.0 ** (-5 - torch.arange(n_heads, dtype=torch.float64))


class _DecayMixer(_MatrixStateMixer):
    """Shared by retention and GLA: decayed linear attention, per-head norm, swish gate.
    Hooks: `hook_decay` (log-decay, `[batch, pos, head, 1 or d_head]`), `hook_gate`."""

    def __init__(self, cfg, layer: int, mode: str, chunk: int) -> None:
        super().__init__(cfg, layer, mode)
        self.chunk = chunk
        self.W_G = nn.Parameter(torch.empty(cfg.d_model, cfg.n_heads * cfg.d_head))
        self.hook_decay, self.hook_gate = HookPoint(), HookPoint()

    def log_decay(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def initial_state(self) -> Tensor | None:
        return None

    def mix(self, q, k, v, ctx, x) -> Tensor:
        k = k * self.scale  # RetNet scales K by d^-1/2 (GLA likewise)
        g = self.hook_decay(self.log_decay(x).transpose(1, 2)).transpose(1, 2)
        real = self.key_weights(ctx, k)
        if real is not None:  # padding neither writes into nor decays the state
            k, v, g = k * real, v * real, g * real
        record_mixing_stats(ctx, self.layer, lambda: mixing_matrix(q, k, g))
        out = decay_attention(q, k, v, g, self.mode, self.initial_state(), self.chunk)
        out = F.group_norm(out.transpose(1, 2).flatten(0, 1), self.n_heads, eps=1e-5)
        out = out.view(x.shape[0], x.shape[1], self.n_heads, -1).transpose(1, 2)
        gate = self.hook_gate(F.silu(x @ self.W_G).unflatten(-1, (self.n_heads, -1)))
        return out * gate.transpose(1, 2)


class RetentionMixer(_DecayMixer):
    """Multi-scale retention (Sun et al. 2023): head h decays by the fixed gamma_h."""

    def __init__(self, cfg, layer: int, mode: str, chunk: int) -> None:
        super().__init__(cfg, layer, mode, chunk)
        self.register_buffer("log_gamma", retention_decays(cfg.n_heads).log().float())

    def log_decay(self, x: Tensor) -> Tensor:
        b, p = x.shape[:2]
        return self.log_gamma.to(x.dtype)[None, :, None, None].expand(b, -1, p, 1)


class GLAMixer(_DecayMixer):
    """Gated linear attention (Yang et al. 2024): alpha_t = sigmoid(x W_a1 W_a2 + b)^(1/tau)
    per key channel (low-rank W_a, tau = 16 as in the paper); optional learned S0."""

    def __init__(self, cfg, layer: int, mode: str, chunk: int, spec: GLA) -> None:
        super().__init__(cfg, layer, mode, chunk)
        self.tau = spec.tau
        self.W_a1 = nn.Parameter(torch.empty(cfg.d_model, spec.gate_rank))
        self.W_a2 = nn.Parameter(torch.empty(spec.gate_rank, cfg.n_heads * cfg.d_head))
        self.b_a = nn.Parameter(torch.zeros(cfg.n_heads, cfg.d_head))
        shape = (cfg.n_heads, cfg.d_head, cfg.d_head)
        self.S0 = nn.Parameter(torch.zeros(shape)) if spec.learn_initial_state else None

    def log_decay(self, x: Tensor) -> Tensor:
        logits = (x @ self.W_a1 @ self.W_a2).unflatten(-1, (self.n_heads, -1)).transpose(1, 2)
        logits = logits + self.b_a[:, None]
        return F.logsigmoid(logits) / self.tau

    def initial_state(self) -> Tensor | None:
        return None if self.S0 is None else self.S0[None]


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Retention(VariantSpec):
    """`mode`: "parallel" (quadratic), "recurrent" (a loop), "chunked" (chunkwise)."""

    name: ClassVar[str] = "retention"
    paper: ClassVar[str] = "Sun et al. 2023, Retentive Network (RetNet, arXiv 2307.08621)"
    mode: Mode = "chunked"
    chunk: PosInt = 64

    def build(self, cfg, layer=None) -> nn.Module:
        return RetentionMixer(cfg, layer or 0, self.mode, self.chunk)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class GLA(VariantSpec):
    name: ClassVar[str] = "gla"
    paper: ClassVar[str] = (
        "Yang et al. 2024, Gated Linear Attention Transformers with Hardware-Efficient "
        "Training (arXiv 2312.06635)"
    )
    mode: Mode = "chunked"
    chunk: PosInt = 64
    gate_rank: PosInt = 16
    tau: PosFloat = 16.0
    learn_initial_state: bool = False

    def build(self, cfg, layer=None) -> nn.Module:
        return GLAMixer(cfg, layer or 0, self.mode, self.chunk, self)
