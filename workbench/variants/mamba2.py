"""Mamba-2 (Dao & Gu 2024, "Transformers are SSMs", arXiv 2405.21060): the SSD layer.

Per head h the state-space recurrence has a *scalar* decay, a_t = exp(Delta_t A_h):

    H_t = a_t H_{t-1} + (Delta_t x_t) B_t^T,    y_t = H_t C_t + D_h x_t

which is linear attention with a decay (`decay_scan`) with q = C, k = B, v = Delta x: the
quadratic masked form (`mode="parallel"`, the paper's "attention" form), the scan
(`"recurrent"`) and the chunked SSD algorithm (`"chunked"`) give the same outputs (tested).
B and C are per head here (the multi-head pattern; Mamba-2's default shares one B, C across
heads). Around it, as in the paper: one input projection to (z, x, B, C, Delta), a causal
depthwise conv + SiLU on (x, B, C), the gated RMSNorm y * silu(z), an output projection.

Token-mixing matrix: y (before D, the gate and the norm) is M (Delta x), M_ts =
C_t . B_s exp(sum_{s<r<=t} Delta_r A_h), so `attn.mix_*` statistics are offered; here the
"values" are Delta_s x_s, so the input step size is part of v, not of M.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import ATTENTION, VariantSpec
from workbench.core.validate import PosInt
from workbench.variants.decay_scan import decay_attention, mixing_matrix
from workbench.variants.mixing_stats import MIX_STATS, record_mixing_stats
from workbench.variants.selective_ssm import refuse_score_positions


class Mamba2Mixer(nn.Module):
    """Hooks: `hook_x`, `hook_B`, `hook_C` (`[batch, pos, head, *]`, after conv + SiLU),
    `hook_delta` (`[batch, pos, head]`), `hook_ssm_out` (`[batch, pos, head, d_head]`)."""

    def __init__(self, cfg, layer: int, spec: Mamba2) -> None:
        super().__init__()
        refuse_score_positions(cfg, "mamba2")
        self.layer, self.mode, self.chunk = layer, spec.mode, spec.chunk
        self.n_heads, self.d_state = cfg.n_heads, spec.d_state
        inner = spec.expand * cfg.n_heads * cfg.d_head  # head dim: expand * d_head
        self.d_inner, conv_dim = inner, inner + 2 * cfg.n_heads * spec.d_state
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, inner + conv_dim + cfg.n_heads))
        self.conv = nn.Parameter(torch.empty(conv_dim, spec.d_conv))
        self.b_dt = nn.Parameter(torch.full((cfg.n_heads,), -2.0))  # softplus(-2) ~ 0.13
        self.A_log = nn.Parameter(torch.zeros(cfg.n_heads))  # A = -exp(A_log) = -1 at init
        self.D = nn.Parameter(torch.ones(cfg.n_heads))
        self.norm_w = nn.Parameter(torch.ones(inner))
        self.W_out = nn.Parameter(torch.empty(inner, cfg.d_model))
        for name in ("x", "B", "C", "delta", "ssm_out"):
            setattr(self, f"hook_{name}", HookPoint())

    def supported_stats(self) -> set[str]:
        return set(MIX_STATS)

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        if not ctx.causal:
            raise ValueError("The mamba2 mixer is causal; set causal=True")
        b, p, h = x.shape[0], x.shape[1], self.n_heads
        z, xbc, dt = (x @ self.W_in).split([self.d_inner, self.conv.shape[0], h], dim=-1)
        real = None if ctx.key_padding_mask is None else ctx.key_padding_mask[..., None]
        if real is not None:  # padding cannot leak through the conv
            xbc = xbc * real.to(xbc.dtype)
        width = self.conv.shape[1]
        padded = F.pad(xbc.transpose(1, 2), (width - 1, 0))
        xbc = F.silu(F.conv1d(padded, self.conv[:, None], groups=self.conv.shape[0]))
        n = h * self.d_state
        xs, bs, cs = xbc.transpose(1, 2).split([self.d_inner, n, n], dim=-1)
        xs = self.hook_x(xs.view(b, p, h, -1))
        bs = self.hook_B(bs.view(b, p, h, self.d_state))
        cs = self.hook_C(cs.view(b, p, h, self.d_state))
        delta = self.hook_delta(F.softplus(dt + self.b_dt))
        if real is not None:  # Delta = 0 at padding: decay 1, no input (the scan skips it)
            delta = delta * real.to(delta.dtype)
        y = self.hook_ssm_out(self.ssd(xs, bs, cs, delta, ctx).transpose(1, 2))
        y = y + self.D[:, None] * xs
        y = y.flatten(2) * F.silu(z)
        return F.rms_norm(y, (self.d_inner,), self.norm_w, 1e-5) @ self.W_out

    def ssd(self, xs: Tensor, bs: Tensor, cs: Tensor, delta: Tensor, ctx) -> Tensor:
        """The SSM part, `[batch, head, pos, d_head]`, in the configured form."""
        q, k = cs.transpose(1, 2), bs.transpose(1, 2)
        v = (delta[..., None] * xs).transpose(1, 2)
        g = (delta * -torch.exp(self.A_log)).transpose(1, 2)[..., None]  # log a_t
        record_mixing_stats(ctx, self.layer, lambda: mixing_matrix(q, k, g))
        return decay_attention(q, k, v, g, self.mode, chunk=self.chunk)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Mamba2(VariantSpec):
    """`mode`: "chunked" (the SSD algorithm), "parallel" (quadratic), "recurrent" (scan)."""

    name: ClassVar[str] = "mamba2"
    paper: ClassVar[str] = "Dao & Gu 2024, Transformers are SSMs (Mamba-2, arXiv 2405.21060)"
    d_state: PosInt = 16
    d_conv: PosInt = 4
    expand: PosInt = 2
    mode: Literal["parallel", "chunked", "recurrent"] = "chunked"
    chunk: PosInt = 64

    def build(self, cfg, layer=None) -> nn.Module:
        return Mamba2Mixer(cfg, layer or 0, self)
