"""MLPs from three papers: MatFormer's nested widths, TokenFormer's parameter-token FFN
(Pattention) and CRATE's ISTA block.

All three have `hook_pre` and `hook_post` and give MLP statistics from the materialized
post-activation (`record_mlp_stats`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import MLP, VariantSpec
from workbench.core.stats import record_mlp_stats
from workbench.core.validate import PosFloat, PosInt


class MatFormerMLP(nn.Module):
    """A ReLU MLP whose first `width` neurons form the submodel (Devvrit et al. 2023): every
    width is a prefix of the next, so one set of weights holds all the nested models.
    `set_width(m)` switches the width in place (e.g. one sampled per training step, or the
    width to extract for deployment); hooks then have `m` neurons."""

    exact_zeros = True

    def __init__(self, cfg, widths: tuple[int, ...], width: int | None) -> None:
        super().__init__()
        self.widths = tuple(sorted(widths)) if widths else (cfg.d_mlp,)
        if self.widths[-1] > cfg.d_mlp:
            raise ValueError(f"matformer widths {self.widths} exceed d_mlp={cfg.d_mlp}")
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp), requires_grad=cfg.mlp_bias)
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model), requires_grad=cfg.mlp_bias)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()
        self.width = cfg.d_mlp
        self.set_width(width or cfg.d_mlp)

    def set_width(self, width: int) -> None:
        if not 1 <= width <= self.W_in.shape[1]:
            raise ValueError(f"matformer width must be in [1, {self.W_in.shape[1]}], got {width}")
        self.width = width

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        m = self.width
        post = self.hook_post(F.relu(self.hook_pre(x @ self.W_in[:, :m] + self.b_in[:m])))
        record_mlp_stats(post, ctx, True, f"blocks.{ctx.layer}.mlp (matformer)")
        return post @ self.W_out[:m] + self.b_out


class PattentionMLP(nn.Module):
    """TokenFormer's Pattention as the FFN (Wang et al. 2024): the input attends to `n`
    learnable key/value parameter tokens, O = Theta(x K_P^T) V_P, with TokenFormer's
    normalization Theta(s)_j = GeLU(s_j * tau / ||s||_2). `tau` is sqrt(tau_tokens) (default:
    the tokens at construction) and stays fixed, so `grow(extra)` (zero-initialized key and
    value tokens) leaves every output unchanged: a zero key scores 0, adds nothing to ||s||, and
    GeLU(0) = 0. (The authors' code rescales by sqrt of the current count instead, which
    would change outputs after growth.) Hooks: `hook_pre` (scores), `hook_post` (Theta)."""

    exact_zeros = False  # GeLU

    def __init__(self, cfg, n_tokens: int, tau_tokens: int | None = None) -> None:
        super().__init__()
        self.K_P = nn.Parameter(torch.empty(n_tokens, cfg.d_model))
        self.V_P = nn.Parameter(torch.empty(n_tokens, cfg.d_model))
        self.tau = math.sqrt(tau_tokens or n_tokens)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    @torch.no_grad()
    def grow(self, extra: int) -> None:
        """Append `extra` zero key and value tokens (TokenFormer's incremental scaling). The
        grown layer is `Pattention(n_tokens=n + extra, tau_tokens=n)` in a config (so that a
        saved, grown model rebuilds with the same tau)."""
        for name in ("K_P", "V_P"):
            old = getattr(self, name)
            setattr(self, name, nn.Parameter(torch.cat([old, old.new_zeros(extra, old.shape[1])])))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        scores = self.hook_pre(x @ self.K_P.T)
        norm = scores.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        post = self.hook_post(F.gelu(scores * self.tau / norm))
        record_mlp_stats(post, ctx, False, f"blocks.{ctx.layer}.mlp (pattention)")
        return post @ self.V_P


def ista_step(
    z: Float[Tensor, "... d"], dictionary: Float[Tensor, "d d"], step: float, lam: float
) -> Float[Tensor, "... d"]:
    """One proximal-gradient step of min_{a >= 0} lam ||a||_1 + 1/2 ||z - D a||^2 from a = z:
    ReLU(z + step D^T (z - D z) - step lam) (CRATE's ISTA block; rows of `z` are tokens)."""
    residual = z - z @ dictionary.T
    return F.relu(z + step * residual @ dictionary - step * lam)


class ISTABlock(nn.Module):
    """CRATE's sparsifying block (Yu et al. 2023) with a learned square dictionary D. CRATE
    makes its output the next stream; here, as every MLP, it is added to the residual.
    Hooks: `hook_pre` (the gradient step before the ReLU), `hook_post` (the sparse code)."""

    exact_zeros = True

    def __init__(self, cfg, step: float, lam: float) -> None:
        super().__init__()
        self.D = nn.Parameter(torch.empty(cfg.d_model, cfg.d_model))
        self.step, self.lam = step, lam
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        residual = x - x @ self.D.T
        pre = self.hook_pre(x + self.step * residual @ self.D - self.step * self.lam)
        post = self.hook_post(F.relu(pre))
        record_mlp_stats(post, ctx, True, f"blocks.{ctx.layer}.mlp (ista)")
        return post


@MLP.register
@dataclasses.dataclass(frozen=True)
class MatFormer(VariantSpec):
    """`widths`: the nested granularities (default d_mlp / 8, / 4, / 2, d_mlp); `width`: the
    active one at build (None: d_mlp). Width m == the full MLP with neurons m.. zeroed."""

    name: ClassVar[str] = "matformer"
    paper: ClassVar[str] = "Devvrit et al. 2023, MatFormer: Nested Transformer (arXiv 2310.07707)"
    widths: tuple[PosInt, ...] | None = None
    width: PosInt | None = None

    def build(self, cfg, layer=None) -> nn.Module:
        widths = self.widths or tuple(max(1, cfg.d_mlp // f) for f in (8, 4, 2, 1))
        return MatFormerMLP(cfg, widths, self.width)


@MLP.register
@dataclasses.dataclass(frozen=True)
class Pattention(VariantSpec):
    """`n_tokens` key/value parameter tokens (None: d_mlp); `tau_tokens` sets the scale
    tau = sqrt(tau_tokens) (None: n_tokens; a grown layer keeps its original count)."""

    name: ClassVar[str] = "pattention"
    paper: ClassVar[str] = (
        "Wang et al. 2024, TokenFormer: Rethinking Transformer Scaling with Tokenized Model "
        "Parameters (arXiv 2410.23168)"
    )
    n_tokens: PosInt | None = None
    tau_tokens: PosInt | None = None

    def build(self, cfg, layer=None) -> nn.Module:
        return PattentionMLP(cfg, self.n_tokens or cfg.d_mlp, self.tau_tokens)


@MLP.register
@dataclasses.dataclass(frozen=True)
class ISTA(VariantSpec):
    """`step` (eta) and `lam` (lambda) of the proximal-gradient step (CRATE: 0.1, 0.1)."""

    name: ClassVar[str] = "ista"
    paper: ClassVar[str] = (
        "Yu et al. 2023, White-Box Transformers via Sparse Rate Reduction (CRATE, arXiv 2306.01129)"
    )
    step: PosFloat = 0.1
    lam: PosFloat = 0.1

    def build(self, cfg, layer=None) -> nn.Module:
        return ISTABlock(cfg, self.step, self.lam)
