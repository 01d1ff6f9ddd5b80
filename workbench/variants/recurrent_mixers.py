"""Linear-time token mixers with a matrix state: normalized linear attention (TransNormer)
and DeltaNet. Each has a parallel/chunked form for training and a recurrent form; tests
check that they agree.

Padding: a masked position (`attention_mask` 0) writes nothing into the state (its key and
value are zeroed, and DeltaNet's step beta too), so with left or right padding the real
tokens' outputs equal those of the unpadded run."""

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
from workbench.variants.attention import QKVAttention
from workbench.variants.mixing_stats import MIX_STATS, record_mixing_stats

BHPD = Float[Tensor, "batch head pos d_head"]


def linear_attention_recurrent(q: BHPD, k: BHPD, v: BHPD) -> BHPD:
    """o_t = q_t^T S_t with S_t = S_{t-1} + k_t v_t^T (causal, unnormalized)."""
    state = q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])
    outs = []
    for t in range(q.shape[2]):
        state = state + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], state))
    return torch.stack(outs, dim=2)


def linear_attention_chunked(q: BHPD, k: BHPD, v: BHPD, chunk: int = 64) -> BHPD:
    """The same outputs in linear time: each chunk reads the state of the chunks before it
    and attends causally within itself; S <- S + K_c^T V_c."""
    state = q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])
    outs = []
    for start in range(0, q.shape[2], chunk):
        qc, kc, vc = (t[:, :, start : start + chunk] for t in (q, k, v))
        outs.append(qc @ state + torch.tril(qc @ kc.transpose(-1, -2)) @ vc)
        state = state + kc.transpose(-1, -2) @ vc
    return torch.cat(outs, dim=2)


def delta_rule_recurrent(q: BHPD, k: BHPD, v: BHPD, beta: Float[Tensor, "batch head pos"]) -> BHPD:
    """S_t = S_{t-1} - beta_t (S_{t-1} k_t - v_t) k_t^T, o_t = S_t q_t (S: [d_v, d_k])."""
    state = q.new_zeros(*q.shape[:2], v.shape[-1], k.shape[-1])
    outs = []
    for t in range(q.shape[2]):
        k_t, v_t, b_t = k[:, :, t], v[:, :, t], beta[:, :, t, None]
        error = torch.einsum("bhvk,bhk->bhv", state, k_t) - v_t
        state = state - (b_t * error)[..., None] * k_t[..., None, :]
        outs.append(torch.einsum("bhvk,bhk->bhv", state, q[:, :, t]))
    return torch.stack(outs, dim=2)


def delta_rule_chunked(
    q: BHPD, k: BHPD, v: BHPD, beta: Float[Tensor, "batch head pos"], chunk: int = 32
) -> BHPD:
    """The same outputs, a chunk at a time, with the WY representation (Yang et al. 2024):
    within a chunk T = (I + strict_lower(diag(beta) K K^T))^-1 diag(beta), W = T K,
    U = T V; with state S at the chunk start, U' = U - W S^T, O = Q S^T + (Q K^T, causal) U',
    and S <- S + U'^T K."""
    b, h, n, d_k = k.shape
    state = q.new_zeros(b, h, v.shape[-1], d_k)
    outs = []
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        qc, kc, vc, bc = q[:, :, sl], k[:, :, sl], v[:, :, sl], beta[:, :, sl]
        c = kc.shape[2]
        eye = torch.eye(c, dtype=q.dtype, device=q.device)
        lower = torch.tril(bc[..., None] * (kc @ kc.transpose(-1, -2)), diagonal=-1)
        t_mat = torch.linalg.solve_triangular(eye + lower, torch.diag_embed(bc), upper=False)
        u_adj = t_mat @ vc - (t_mat @ kc) @ state.transpose(-1, -2)
        causal = torch.tril(qc @ kc.transpose(-1, -2))
        outs.append(qc @ state.transpose(-1, -2) + causal @ u_adj)
        state = state + u_adj.transpose(-1, -2) @ kc
    return torch.cat(outs, dim=2)


def delta_rule_matrix(
    q: BHPD, k: BHPD, beta: Float[Tensor, "batch head pos"], chunk: int = 32
) -> Float[Tensor, "batch head q k"]:
    """DeltaNet's token-mixing matrix M (o == M v for fixed q, k, beta): the output is
    linear in v, so running the delta rule on v = the identity (one value channel per
    position) gives M's rows. M_ts = beta_s k_s^T (prod_{r=s+1..t} (I - beta_r k_r k_r^T)) q_t
    can be negative."""
    n = q.shape[2]
    eye = torch.eye(n, dtype=q.dtype, device=q.device).expand(*q.shape[:2], n, n)
    return delta_rule_chunked(q, k, eye, beta, chunk)


class _MatrixStateMixer(QKVAttention):
    """QKV projections and hooks of `QKVAttention`; no softmax pattern, no kernels."""

    def __init__(self, cfg, layer: int, mode: str) -> None:
        super().__init__(cfg, layer)
        if not cfg.causal:
            raise ValueError(f"{type(self).__name__} is a causal mixer; set causal=True")
        if mode not in ("parallel", "chunked", "recurrent"):
            raise ValueError(f"mode must be 'parallel', 'chunked' or 'recurrent', got {mode!r}")
        self.mode = mode
        if cfg.position.build(cfg).alibi_slopes() is not None:
            raise ValueError(
                f"{type(self).__name__} has no attention scores, so ALiBi would be silently "
                "ignored; use position='rotary', 'learned' or 'none'"
            )
        del self.hook_attn_scores, self.hook_pattern  # no softmax pattern exists here

    def supported_stats(self) -> set[str]:
        """`attn.mix_*`: statistics of the token-mixing matrix M (see `mixing_stats`)."""
        return set(MIX_STATS)

    @staticmethod
    def key_weights(ctx, like: Tensor) -> Float[Tensor, "batch 1 pos 1"] | None:
        """1 where a position may write into the state, 0 at padding; None without a mask."""
        if ctx.key_padding_mask is None:
            return None
        return ctx.key_padding_mask[:, None, :, None].to(like.dtype)


class NormLinearAttention(_MatrixStateMixer):
    """TransNormer's NormAttention (Qin et al. 2022): O = RMSNorm(phi(Q) (phi(K)^T V)),
    phi = 1 + elu, causal, with no softmax and no scaling denominator."""

    def __init__(self, cfg, layer: int, mode: str) -> None:
        super().__init__(cfg, layer, mode)
        self.norm_w = nn.Parameter(torch.ones(cfg.d_head))

    def mix(self, q, k, v, ctx, x) -> Tensor:
        q, k = 1 + F.elu(q), 1 + F.elu(k)
        real = self.key_weights(ctx, k)
        if real is not None:  # padded keys and values add nothing to S
            k, v = k * real, v * real
        # M is the mixing before the output RMSNorm: out_pre_norm == M v
        record_mixing_stats(ctx, self.layer, lambda: torch.tril(q @ k.transpose(-1, -2)))
        if self.mode == "recurrent":
            out = linear_attention_recurrent(q, k, v)
        elif self.mode == "chunked":
            out = linear_attention_chunked(q, k, v)
        else:  # the quadratic parallel form
            out = torch.tril(q @ k.transpose(-1, -2)) @ v
        return F.rms_norm(out, out.shape[-1:], self.norm_w, 1e-5)


class DeltaNetMixer(_MatrixStateMixer):
    """DeltaNet (Yang et al. 2024): the delta rule with L2-normalized q, k and a learned
    per-head step beta = sigmoid(x W_beta). Hook `hook_beta`: `[batch, pos, head]`."""

    def __init__(self, cfg, layer: int, mode: str, chunk: int) -> None:
        super().__init__(cfg, layer, mode)
        self.chunk = chunk
        self.W_beta = nn.Parameter(torch.empty(cfg.d_model, cfg.n_heads))
        self.b_beta = nn.Parameter(torch.zeros(cfg.n_heads))
        self.hook_beta = HookPoint()

    def mix(self, q, k, v, ctx, x) -> Tensor:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        beta = self.hook_beta(torch.sigmoid(x @ self.W_beta + self.b_beta)).transpose(1, 2)
        real = self.key_weights(ctx, k)
        if real is not None:
            # beta = 0 leaves S untouched at padding (the step is skipped); masked after the
            # hook so a patched beta cannot make padding write into the state either.
            k, v, beta = k * real, v * real, beta * real[..., 0]
        record_mixing_stats(ctx, self.layer, lambda: delta_rule_matrix(q, k, beta, self.chunk))
        if self.mode == "recurrent":
            return delta_rule_recurrent(q, k, v, beta)
        return delta_rule_chunked(q, k, v, beta, self.chunk)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class LinearAttention(VariantSpec):
    name: ClassVar[str] = "linear"
    paper: ClassVar[str] = "Qin et al. 2022, The Devil in Linear Transformer (TransNormer)"
    mode: Literal["parallel", "chunked", "recurrent"] = (
        "chunked"  # linear time; "parallel" is the quadratic form, "recurrent" a loop
    )

    def build(self, cfg, layer=None) -> nn.Module:
        return NormLinearAttention(cfg, layer or 0, self.mode)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class DeltaNet(VariantSpec):
    name: ClassVar[str] = "deltanet"
    paper: ClassVar[str] = "Yang et al. 2024, Parallelizing Linear Transformers with the Delta Rule"
    mode: Literal["parallel", "chunked", "recurrent"] = (
        "parallel"  # the chunked (WY) form; "recurrent" is the step-by-step loop
    )
    chunk: PosInt = 32

    def build(self, cfg, layer=None) -> nn.Module:
        return DeltaNetMixer(cfg, layer or 0, self.mode, self.chunk)
