"""Collapsed attention: each head holds its bilinear forms W_QK = W_Q W_K^T ([d_model,
d_model]) and, optionally, W_OV = W_V W_O, instead of the low-rank factors (the QK and OV
circuits of Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits", made
the parameters). `symmetric` uses (W_QK + W_QK^T) / 2, so every head's scores are symmetric
in query and key (the form studied in work on symmetric attention).

Scores are (x_i W_QK + b_QK) . x_j / sqrt(d_head); b_QK = W_K b_Q carries the key-side bias
term of the factored form. The factored form's other bias terms are the same for every key
of a query, so softmax cancels them: `collapse_model` converts a softmax model into this
form with identical logits (tested). Rotary positions rotate q and k inside the product and
are refused; ALiBi adds to the scores and works.

Hooks: `hook_q` `[batch, pos, head, d_model]` (x W_QK + b_QK), `hook_k` (x, per head),
`hook_v`, `hook_attn_scores`, `hook_pattern`, `hook_z` (`[..., d_model]` when OV is collapsed).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.registry import ATTENTION, VariantSpec
from workbench.variants.attention import SoftmaxAttentionModule


class CollapsedAttention(SoftmaxAttentionModule):
    """Softmax attention with per-head W_QK (and optionally W_OV); same paths and kernels."""

    def __init__(self, cfg, layer: int, ov: bool, symmetric: bool) -> None:
        super().__init__(cfg, layer)
        if cfg.position.build(cfg).rotates:
            raise ValueError(
                "collapsed attention has no separate queries and keys to rotate (one W_QK), "
                f"so position={cfg.position.name!r} would be silently ignored; use 'learned', "
                "'alibi' or 'none'"
            )
        h, d = cfg.n_heads, cfg.d_model
        self.ov, self.symmetric = ov, symmetric
        del self.W_Q, self.W_K, self.b_Q, self.b_K
        self.W_QK = nn.Parameter(torch.empty(h, d, d))
        self.b_QK = nn.Parameter(torch.zeros(h, d), requires_grad=cfg.attn_bias)
        if ov:
            del self.W_V, self.W_O, self.b_V
            self.W_OV = nn.Parameter(torch.empty(h, d, d))

    def qk_matrix(self) -> Float[Tensor, "head d_model d_model"]:
        return (self.W_QK + self.W_QK.transpose(-1, -2)) / 2 if self.symmetric else self.W_QK

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        q = self.hook_q(torch.einsum("bpd,hde->bphe", x, self.qk_matrix()) + self.b_QK)
        k = self.hook_k(x[:, :, None].expand(-1, -1, self.n_heads, -1))
        if self.ov:
            v = self.hook_v(x[:, :, None].expand(-1, -1, self.n_heads, -1))
        else:
            v = self.hook_v(torch.einsum("bpd,hde->bphe", x, self.W_V) + self.b_V)
            v = v.repeat_interleave(self.n_heads // self.n_kv_heads, dim=2)
        z = self.mix(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), ctx, x)
        z = self.hook_z(z.transpose(1, 2))
        w_out = self.W_OV if self.ov else self.W_O
        return torch.einsum("bphe,hed->bpd", z, w_out) + self.b_O


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Collapsed(VariantSpec):
    """`ov`: also collapse W_V W_O into W_OV; `symmetric`: W_QK used as (W + W^T) / 2."""

    name: ClassVar[str] = "collapsed"
    paper: ClassVar[str] = (
        "Elhage et al. 2021, A Mathematical Framework for Transformer Circuits (QK/OV circuits)"
    )
    ov: bool = True
    symmetric: bool = False

    def build(self, cfg, layer=None) -> nn.Module:
        return CollapsedAttention(cfg, layer or 0, self.ov, self.symmetric)


@torch.no_grad()
def collapse_model(model: nn.Module, ov: bool = True) -> nn.Module:
    """A copy of a softmax-attention `Model` with collapsed heads and identical logits.

    W_QK = W_Q W_K^T, b_QK = W_K b_Q per head (grouped K heads repeated); with `ov`,
    W_OV = W_V W_O and b_O += sum_h b_V W_O (exact: every softmax row sums to 1).

    Example:
        >>> collapsed = collapse_model(model)
        >>> torch.testing.assert_close(collapsed(tokens), model(tokens))
    """
    from workbench.core.model import Model

    cfg = model.cfg
    if cfg.attention.name != "softmax":
        raise ValueError(f"collapse_model converts softmax attention, got {cfg.attention.name!r}")
    new = Model(cfg.replace(attention=Collapsed(ov=ov)), tokenizer=model.tokenizer)
    like = next(model.parameters())
    new = new.to(device=like.device, dtype=like.dtype)
    own = {k: v for k, v in model.state_dict().items() if ".attn." not in k}
    new.load_state_dict({**new.state_dict(), **own})
    for old_block, new_block in zip(model.blocks, new.blocks, strict=True):
        old, attn = old_block.attn, new_block.attn
        group = old.n_heads // old.n_kv_heads
        w_k = old.W_K.repeat_interleave(group, 0)  # b_K's terms are constant per query
        attn.W_QK.copy_(old.W_Q @ w_k.transpose(-1, -2))
        attn.b_QK.copy_(torch.einsum("hde,he->hd", w_k, old.b_Q))
        if ov:
            w_v, b_v = old.W_V.repeat_interleave(group, 0), old.b_V.repeat_interleave(group, 0)
            attn.W_OV.copy_(w_v @ old.W_O)
            attn.b_O.copy_(old.b_O + torch.einsum("he,hed->d", b_v, old.W_O))
        else:
            for name in ("W_V", "b_V", "W_O", "b_O"):
                getattr(attn, name).copy_(getattr(old, name))
    return new.train(model.training)


class MSSA(SoftmaxAttentionModule):
    """CRATE's multi-head subspace self-attention (Yu et al. 2023): one basis U_h
    `[d_model, d_head]` per head gives query, key and value (z = x U_h), and the output is
    projected back with the same basis, sum_h softmax(z z^T / sqrt(d_head)) z U_h^T.
    Hooks as softmax attention (`hook_q`, `hook_k`, `hook_v` are the same z)."""

    def __init__(self, cfg, layer: int) -> None:
        super().__init__(cfg, layer)
        if cfg.n_kv_heads != cfg.n_heads:
            raise ValueError("mssa ties q, k and v, so it has no grouped K/V heads")
        del self.W_Q, self.W_K, self.W_V, self.W_O, self.b_Q, self.b_K, self.b_V
        self.W_U = nn.Parameter(torch.empty(cfg.n_heads, cfg.d_model, cfg.d_head))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        z = torch.einsum("bpd,hde->bphe", x, self.W_U)
        q, k, v = self.hook_q(z), self.hook_k(z), self.hook_v(z)
        if ctx.positions.rotates:
            q, k = (
                hook(ctx.positions.rotate(t, ctx.pos_ids))
                for hook, t in ((self.hook_rot_q, q), (self.hook_rot_k, k))
            )
        out = self.mix(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), ctx, x)
        z_out = self.hook_z(out.transpose(1, 2))
        return torch.einsum("bphe,hde->bpd", z_out, self.W_U) + self.b_O


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class MSSASpec(VariantSpec):
    name: ClassVar[str] = "mssa"
    paper: ClassVar[str] = (
        "Yu et al. 2023, White-Box Transformers via Sparse Rate Reduction (CRATE, arXiv 2306.01129)"
    )

    def build(self, cfg, layer=None) -> nn.Module:
        return MSSA(cfg, layer or 0)
