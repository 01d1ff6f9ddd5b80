"""Block layouts: how a block composes its attention and MLP sublayers.

A layout is a small module called as `layout(block, resid, ctx)`; it uses the block's
`residual_step` / `branch` and must pass the stream through `hook_resid_mid` and
`hook_resid_post`. Layouts that need their own weights (gates, a second MLP) hold them, so
their hooks are `blocks.{l}.layout.*` (registered right after `hook_resid_pre`).

- `sequential`: x -> x + attn -> + mlp (today's transformer).
- `parallel`: x + attn(x) + mlp(x).
- `macaron`: x + ffn/2 -> + attn -> + mlp/2 (two half-step FFNs around attention).
- `gated_residual`: each residual add replaced by GTrXL's GRU-type gate.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.block import sublayer_branch
from workbench.core.hooks import HookPoint
from workbench.core.registry import BLOCK, VariantSpec


class SequentialLayout(nn.Module):
    """x -> x + attn(x) -> + mlp(.): the MLP reads the stream after attention."""

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        resid = block.hook_resid_mid(block.residual_step(resid, "attn", ctx))
        return block.hook_resid_post(block.residual_step(resid, "mlp", ctx))


class ParallelLayout(nn.Module):
    """x + attn(ln1(x)) + mlp(ln2(x)): both sublayers read the block's input.

    `hook_resid_mid` holds `resid_pre + attn_out` (what a sequential block would hand its
    MLP); `resid_post = resid_mid + mlp_out`. Patching `hook_resid_mid` therefore changes
    the output but not what the MLP reads (it reads `resid_pre`).
    """

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        attn_out = block.branch(resid, "attn", ctx)
        mlp_out = block.branch(resid, "mlp", ctx)
        return block.hook_resid_post(block.hook_resid_mid(resid + attn_out) + mlp_out)


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class Sequential(VariantSpec):
    name: ClassVar[str] = "sequential"
    paper: ClassVar[str] = "Vaswani et al. 2017, Attention Is All You Need"

    def build(self, cfg, layer=None) -> nn.Module:
        return SequentialLayout()


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class Parallel(VariantSpec):
    """Attention and MLP side by side (GPT-J, GPT-NeoX `use_parallel_residual`, PaLM)."""

    name: ClassVar[str] = "parallel"
    paper: ClassVar[str] = "Wang & Komatsuzaki 2021, GPT-J-6B; Chowdhery et al. 2022, PaLM"

    def build(self, cfg, layer=None) -> nn.Module:
        refuse_post_norm(self.name, cfg)
        return ParallelLayout()


def refuse_post_norm(layout: str, cfg) -> None:
    if cfg.norm_placement.norm_after_add:
        raise ValueError(
            f"block {layout!r} needs norms on the sublayer inputs; norm_placement "
            f"{cfg.norm_placement.name!r} normalizes the residual sum (use pre, peri or none)"
        )


class MacaronLayout(nn.Module):
    """x -> r = x + ffn(x)/2 -> m = r + attn(r) -> m + mlp(m)/2 (Lu et al. 2019).

    The first half-FFN is the layout's own: `blocks.{l}.layout.mlp` (same kind and size as
    the block's MLP, with its own norms `layout.ln` / `layout.ln_out` per the placement),
    its halved output through `blocks.{l}.layout.hook_mlp_out`, the stream after it through
    `blocks.{l}.layout.hook_resid` (what attention reads). `hook_mlp_out` holds the halved
    second FFN, so `resid_post == resid_mid + mlp_out` holds. `mlp.*` statistics describe
    `blocks.{l}.mlp` only (the first FFN records none: two under one layer would overwrite
    each other); hook `layout.mlp.hook_post` for the first.
    """

    def __init__(self, cfg, layer: int) -> None:
        super().__init__()
        placement = cfg.norm_placement
        self.mlp = cfg.spec("mlp", layer).build(cfg, layer)
        skip = getattr(self.mlp, "adds_nothing", False)
        norm = cfg.spec("norm", layer)
        self.ln = norm.build(cfg, layer) if placement.norm_in and not skip else None
        self.ln_out = norm.build(cfg, layer) if placement.norm_out and not skip else None
        self.hook_mlp_out, self.hook_resid = HookPoint(), HookPoint()

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        quiet = dataclasses.replace(ctx, stats=None)
        half = sublayer_branch(self.mlp, self.ln, self.ln_out, self.hook_mlp_out, resid, quiet,
                               scale=0.5)  # fmt: skip
        resid = self.hook_resid(resid + half)
        resid = block.hook_resid_mid(resid + block.branch(resid, "attn", ctx))
        return block.hook_resid_post(resid + block.branch(resid, "mlp", ctx, scale=0.5))


class GRUGate(nn.Module):
    """g(x, y) = (1 - z) x + z h with r = s(y W_r + x U_r), z = s(y W_z + x U_z - b_g),
    h = tanh(y W_g + (r * x) U_g) (Parisotto et al. 2020, eq. for the GRU-type gate).
    Hook `hook_z` `[batch, pos, d_model]`: the update gate (0 keeps the stream)."""

    def __init__(self, d_model: int, gate_bias: float) -> None:
        super().__init__()
        for name in ("W_r", "U_r", "W_z", "U_z", "W_g", "U_g"):
            setattr(self, name, nn.Parameter(torch.empty(d_model, d_model)))
        self.b_g = nn.Parameter(torch.full((d_model,), float(gate_bias)))
        self.hook_z = HookPoint()

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], y: Float[Tensor, "batch pos d_model"]
    ) -> Float[Tensor, "batch pos d_model"]:
        r = torch.sigmoid(y @ self.W_r + x @ self.U_r)
        z = self.hook_z(torch.sigmoid(y @ self.W_z + x @ self.U_z - self.b_g))
        h = torch.tanh(y @ self.W_g + (r * x) @ self.U_g)
        return (1 - z) * x + z * h


class GatedResidualLayout(nn.Module):
    """GTrXL: m = g1(x, relu(attn(x))), out = g2(m, relu(mlp(m))), gates
    `blocks.{l}.layout.attn_gate` and `layout.mlp_gate`. `hook_attn_out` / `hook_mlp_out`
    hold the sublayer outputs before ReLU and gate, so here `resid_mid` is NOT
    `resid_pre + attn_out` (the gate decides how much enters)."""

    def __init__(self, cfg, gate_bias: float, relu: bool) -> None:
        super().__init__()
        self.relu = relu
        self.attn_gate = GRUGate(cfg.d_model, gate_bias)
        self.mlp_gate = GRUGate(cfg.d_model, gate_bias)

    def forward(self, block, resid: Float[Tensor, "batch pos d_model"], ctx) -> Tensor:
        act = torch.relu if self.relu else (lambda t: t)
        resid = block.hook_resid_mid(self.attn_gate(resid, act(block.branch(resid, "attn", ctx))))
        return block.hook_resid_post(self.mlp_gate(resid, act(block.branch(resid, "mlp", ctx))))


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class Macaron(VariantSpec):
    """Half-step FFN, attention, half-step FFN (Macaron Net; the Conformer block's frame)."""

    name: ClassVar[str] = "macaron"
    paper: ClassVar[str] = "Lu et al. 2019, Understanding and Improving Transformer ... (Macaron)"

    def build(self, cfg, layer=None) -> nn.Module:
        refuse_post_norm(self.name, cfg)
        return MacaronLayout(cfg, layer or 0)


@BLOCK.register
@dataclasses.dataclass(frozen=True)
class GatedResidual(VariantSpec):
    """GRU-type gates instead of residual adds. `gate_bias` b_g > 0 starts each block near
    the identity (z small); `relu` applies the paper's ReLU to each sublayer's output."""

    name: ClassVar[str] = "gated_residual"
    paper: ClassVar[str] = "Parisotto et al. 2020, Stabilizing Transformers for RL (GTrXL)"
    gate_bias: float = 2.0
    relu: bool = True

    def build(self, cfg, layer=None) -> nn.Module:
        refuse_post_norm(self.name, cfg)
        return GatedResidualLayout(cfg, self.gate_bias, self.relu)
