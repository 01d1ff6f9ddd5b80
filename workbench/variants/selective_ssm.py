"""Attention-free token mixers: a Mamba-style selective state-space mixer and a GLU block.

The selective scan here is the plain PyTorch recurrence (a reference, linear in T, not a
fused kernel): h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t, y_t = C_t h_t + D x_t.
`Mamba(scan="parallel")` computes the same recurrence as an associative (Hillis-Steele) scan
in log2(T) vectorized steps (tested equal).

Padding: a masked position (`attention_mask` 0) contributes nothing to other positions: its
conv input is zeroed (so it cannot leak through the causal conv) and its Delta is 0 (decay 1,
drive 0: the scan steps over it). With left or right padding the real tokens' outputs equal
those of the unpadded run.
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
from workbench.variants.mixing_stats import MIX_STATS, record_mixing_stats


def refuse_score_positions(cfg, mixer: str) -> None:
    """Rotary/ComRoPE rotate queries and keys and ALiBi biases scores; a mixer without them
    would silently run with no position information, so it refuses them."""
    positions = cfg.position.build(cfg)
    if positions.rotates or positions.alibi_slopes() is not None:
        raise ValueError(
            f"the {mixer} mixer has no queries, keys or scores, so position="
            f"{cfg.position.name!r} would be silently ignored; use 'learned', 'sinusoidal' "
            "or 'none'"
        )


class SelectiveSSM(nn.Module):
    """Mamba mixer (Gu & Dao 2023): in-projection to a branch and a gate, causal depthwise
    conv1d + SiLU, input-dependent Delta, B, C, diagonal A < 0, SiLU gate, out-projection.

    Hooks: `hook_conv` (branch after conv + SiLU), `hook_delta`, `hook_ssm_out` (y before the
    gate), `hook_gate` (SiLU of the gate branch), all `[batch, pos, d_inner]`.

    `bidirectional` (for causal=False models, as in Vision Mamba / Caduceus's weight-shared
    BiMamba): the conv, Delta, B, C and scan also run right to left with the same weights,
    and y = y_forward + y_backward. `hook_conv` and `hook_delta` then hold both directions,
    `[batch, pos, 2 * d_inner]` (forward channels first), in the original position order.
    """

    def __init__(
        self,
        cfg,
        d_state: int,
        d_conv: int,
        expand: int,
        scan: str = "sequential",
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.scan_kind, self.bidirectional = scan, bidirectional
        refuse_score_positions(cfg, "mamba")
        d, inner = cfg.d_model, expand * cfg.d_model
        self.init_range = cfg.init_range
        self.W_in = nn.Parameter(torch.empty(d, 2 * inner))
        self.conv = nn.Parameter(torch.empty(inner, d_conv))
        self.W_dt = nn.Parameter(torch.empty(inner, inner))  # full rank (Mamba: low rank)
        self.b_dt = nn.Parameter(torch.full((inner,), -2.0))  # softplus(-2) ~ 0.13: slow decay
        self.W_B = nn.Parameter(torch.empty(inner, d_state))
        self.W_C = nn.Parameter(torch.empty(inner, d_state))
        a_init = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(inner, 1)
        self.A_log = nn.Parameter(a_init.log())  # A = -exp(A_log) = -(1..N), as in Mamba (S4D)
        self.D = nn.Parameter(torch.ones(inner))
        self.W_out = nn.Parameter(torch.empty(inner, d))
        for name in ("conv", "delta", "ssm_out", "gate"):
            setattr(self, f"hook_{name}", HookPoint())

    def supported_stats(self) -> set[str]:
        """`attn.mix_*` per channel, from `scan_matrix` (see `mixing_stats`); none when
        bidirectional (the two directions mix two different value sequences)."""
        return set() if self.bidirectional else set(MIX_STATS)

    def init_weights(self, generator: torch.Generator) -> None:
        """Normal init for the projections; A keeps Mamba's S4D-Real values -(1..N)."""
        for param in (self.W_in, self.conv, self.W_dt, self.W_B, self.W_C, self.W_out):
            param.copy_(torch.randn(param.shape, generator=generator) * self.init_range)
        n = self.A_log.shape[1]
        self.A_log.copy_(torch.arange(1, n + 1, dtype=torch.float32).log().expand_as(self.A_log))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        if ctx.causal == self.bidirectional:
            raise ValueError(
                "The bidirectional selective SSM mixer needs causal=False"
                if self.bidirectional
                else "The selective SSM mixer is causal; set causal=True"
            )
        branch, gate = (x @ self.W_in).chunk(2, dim=-1)
        real = None if ctx.key_padding_mask is None else ctx.key_padding_mask[..., None]
        if real is not None:
            branch = branch * real.to(branch.dtype)
        u = self.conv_silu(branch)
        if self.bidirectional:  # the backward direction: the same conv, run right to left
            u = torch.cat([u, self.conv_silu(branch.flip(1)).flip(1)], dim=-1)
        u = self.hook_conv(u)
        delta = self.hook_delta(
            F.softplus(self.per_direction(u, self.W_dt) + self.b_dt.repeat(self.n_dir))
        )
        if real is not None:  # after the hook: a patched Delta cannot make padding write
            delta = delta * real.to(delta.dtype)
        b_mat, c_mat = self.per_direction(u, self.W_B), self.per_direction(u, self.W_C)
        if not self.bidirectional:  # two directions mix two different v: no single M
            record_mixing_stats(ctx, ctx.layer, lambda: self.scan_matrix(delta, b_mat, c_mat))
        scan = self.parallel_scan if self.scan_kind == "parallel" else self.scan
        y = self.hook_ssm_out(self.directions(scan, u, delta, b_mat, c_mat))
        return (y * self.hook_gate(F.silu(gate))) @ self.W_out

    @property
    def n_dir(self) -> int:
        return 2 if self.bidirectional else 1

    def conv_silu(self, branch: Tensor) -> Tensor:
        """Causal depthwise conv1d + SiLU along the positions."""
        padded = F.pad(branch.transpose(1, 2), (self.conv.shape[1] - 1, 0))
        out = F.conv1d(padded, self.conv[:, None], groups=self.conv.shape[0])
        return F.silu(out).transpose(1, 2)

    def per_direction(self, u: Tensor, weight: Tensor) -> Tensor:
        """`u @ weight` for each direction's channels (the directions share weights)."""
        return torch.cat([part @ weight for part in u.chunk(self.n_dir, dim=-1)], dim=-1)

    def directions(self, scan, u: Tensor, delta: Tensor, b: Tensor, c: Tensor) -> Tensor:
        """`scan` on the forward direction, plus, when bidirectional, on the reversed backward
        direction flipped back: y = y_forward + y_backward."""
        parts = [t.chunk(self.n_dir, dim=-1) for t in (u, delta, b, c)]
        out = scan(*(p[0] for p in parts))
        if self.bidirectional:
            out = out + scan(*(p[1].flip(1) for p in parts)).flip(1)
        return out

    def scan(self, u: Tensor, delta: Tensor, b: Tensor, c: Tensor) -> Tensor:
        """Sequential selective scan; state [batch, d_inner, d_state]."""
        a = -torch.exp(self.A_log)
        decay = torch.exp(delta[..., None] * a)  # [batch, pos, d_inner, d_state]
        drive = (delta * u)[..., None] * b[:, :, None, :]
        state = u.new_zeros(u.shape[0], u.shape[2], a.shape[1])
        outs = []
        for t in range(u.shape[1]):
            state = decay[:, t] * state + drive[:, t]
            outs.append(torch.einsum("bin,bn->bi", state, c[:, t]))
        return torch.stack(outs, dim=1) + self.D * u

    def parallel_scan(self, u: Tensor, delta: Tensor, b: Tensor, c: Tensor) -> Tensor:
        """The same recurrence as `scan`, as an associative scan over (decay, drive) pairs:
        (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2). Hillis-Steele: log2(T) vectorized
        steps of O(T) work each instead of T Python steps (memory [batch, pos, d_inner,
        d_state])."""
        a = -torch.exp(self.A_log)
        decay = torch.exp(delta[..., None] * a)
        state = (delta * u)[..., None] * b[:, :, None, :]
        shift = 1
        while shift < u.shape[1]:
            # step t combines with step t - shift (steps before 0 are the identity (1, 0))
            state = torch.cat(
                [state[:, :shift], state[:, shift:] + decay[:, shift:] * state[:, :-shift]], 1
            )
            decay = torch.cat([decay[:, :shift], decay[:, shift:] * decay[:, :-shift]], 1)
            shift *= 2
        return torch.einsum("btin,btn->bti", state, c) + self.D * u

    def scan_matrix(
        self, delta: Tensor, b: Tensor, c: Tensor, rows: int = 16
    ) -> Float[Tensor, "batch d_inner q k"]:
        """Per channel i, the matrix M_i with `scan(u)[:, t, i] == sum_s M_i[t, s] u[:, s, i]`
        (Mamba mixes each channel separately, so each channel is one "head"): M_i[t, s] =
        sum_n C_t[n] B_s[n] Delta_s[i] exp(sum_{s<r<=t} Delta_r[i] A[i, n]) for s <= t, plus
        D_i on the diagonal. Built `rows` query positions at a time to bound memory."""
        a = -torch.exp(self.A_log)
        cum = (delta[..., None] * a).cumsum(1)  # [batch, pos, d_inner, d_state]
        n = delta.shape[1]
        out = []
        for start in range(0, n, rows):
            t = torch.arange(start, min(start + rows, n), device=delta.device)
            diff = cum[:, t, None] - cum[:, None, :]  # [batch, rows, key, d_inner, d_state]
            causal = (t[:, None] >= torch.arange(n, device=delta.device))[None, :, :, None, None]
            decay = diff.masked_fill(~causal, float("-inf")).exp()
            m = torch.einsum("btn,bsn,bsi,btsin->bits", c[:, t], b, delta, decay)
            out.append(m)
        m = torch.cat(out, dim=2)
        return m + torch.diag_embed(self.D[None, :, None].expand(*m.shape[:3]))


class GLUMixer(nn.Module):
    """Attention-free block (Activator): the token mixer is a GLU MLP applied per token,
    `W_out (SiLU(x W_gate) * x W_in)`; tokens do not exchange information."""

    def __init__(self, cfg) -> None:
        super().__init__()
        refuse_score_positions(cfg, "glu_mixer")
        d, hidden = cfg.d_model, cfg.d_mlp
        self.W_gate = nn.Parameter(torch.empty(d, hidden))
        self.W_in = nn.Parameter(torch.empty(d, hidden))
        self.W_out = nn.Parameter(torch.empty(hidden, d))
        self.hook_post = HookPoint()

    @classmethod
    def supported_stats(cls) -> set[str]:
        return set()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        return self.hook_post(F.silu(x @ self.W_gate) * (x @ self.W_in)) @ self.W_out


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Mamba(VariantSpec):
    name: ClassVar[str] = "mamba"
    paper: ClassVar[str] = "Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling (arXiv 2312.00752)"
    d_state: PosInt = 8
    d_conv: PosInt = 4
    expand: PosInt = 2
    scan: Literal["sequential", "parallel"] = "sequential"  # parallel: log2(T) steps
    bidirectional: bool = False  # needs causal=False; both directions share the weights

    def build(self, cfg, layer=None) -> nn.Module:
        return SelectiveSSM(
            cfg, self.d_state, self.d_conv, self.expand, self.scan, self.bidirectional
        )


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Activator(VariantSpec):
    name: ClassVar[str] = "glu_mixer"
    paper: ClassVar[str] = (
        "Activator: GLU Activations as the Core Functions of a Vision Transformer"
    )

    def build(self, cfg, layer=None) -> nn.Module:
        return GLUMixer(cfg)
