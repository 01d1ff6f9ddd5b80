"""One transformer block: a token mixer and an MLP, each wrapped by the norm placement.

How the two sublayers compose (one after the other, side by side, ...) is the block layout,
a variant family of its own (`cfg.block`, see `workbench.variants.block_layout`): the block
offers `branch` (a sublayer's hooked output) and `residual_step` (one sublayer applied to the
residual stream), and the layout decides how to combine them.
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint


class Block(nn.Module):
    """`blocks.{l}`: hooks `hook_resid_pre|mid|post`, `hook_attn_out`, `hook_mlp_out`.

    Norms are named as in TransformerLens (`ln1` before attention, `ln2` before the MLP; for
    post-LN they normalize the residual sum). Peri-LN adds `ln1_out`/`ln2_out` on the outputs.
    An attention-only block (`mlp="none"`) has no MLP, no `ln2`, no `hook_mlp_out` and no
    `hook_resid_mid` (it would equal `hook_resid_post`), as in TransformerLens's `attn_only`.
    """

    def __init__(self, cfg, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.placement = cfg.norm_placement
        has_in_norm = self.placement.norm_in or self.placement.norm_after_add

        def norm(wanted: bool) -> nn.Module | None:
            return cfg.norm.build(cfg, layer) if wanted else None

        # Registered in forward order, so `model.hook_names()` reads as the computation does.
        self.hook_resid_pre = HookPoint()
        self.ln1, self.ln1_out = norm(has_in_norm), norm(self.placement.norm_out)
        self.attn = cfg.attention.build(cfg, layer)
        self.hook_attn_out = HookPoint()
        mlp = cfg.mlp.build(cfg, layer)  # None for mlp="none": the block is attention-only
        if mlp is not None:
            self.hook_resid_mid = HookPoint()
            self.ln2, self.ln2_out = norm(has_in_norm), norm(self.placement.norm_out)
            self.hook_mlp_out = HookPoint()
        self.mlp = mlp
        self.hook_resid_post = HookPoint()
        # Layouts compose two sublayers; with one there is nothing to compose.
        self.layout = cfg.block.build(cfg, layer) if mlp is not None else None

    def forward(
        self, resid: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        resid, ctx = self.hook_resid_pre(resid), ctx.at_layer(self.layer)
        if self.layout is None:
            return self.hook_resid_post(self.residual_step(resid, "attn", ctx))
        return self.layout(self, resid, ctx)

    def _parts(
        self, sublayer: str
    ) -> tuple[nn.Module, nn.Module | None, nn.Module | None, HookPoint]:
        if sublayer == "attn":
            return self.attn, self.ln1, self.ln1_out, self.hook_attn_out
        if sublayer == "mlp" and self.mlp is None:
            raise ValueError(f"blocks.{self.layer} has no MLP (mlp='none'): it is attention-only")
        if sublayer == "mlp":
            return self.mlp, self.ln2, self.ln2_out, self.hook_mlp_out
        raise ValueError(f"Unknown sublayer {sublayer!r}: 'attn' or 'mlp'")

    def branch(
        self, resid: Float[Tensor, "batch pos d_model"], sublayer: str, ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        """What `sublayer` ('attn' or 'mlp') adds to the stream: input norm, the sublayer,
        output norm (peri-LN), through `hook_{attn,mlp}_out`. Not for post-LN."""
        module, norm, norm_out, hook_out = self._parts(sublayer)
        out = module(norm(resid) if norm is not None else resid, ctx)
        if norm_out is not None:
            out = norm_out(out)
        return hook_out(out)

    def residual_step(
        self, resid: Float[Tensor, "batch pos d_model"], sublayer: str, ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        """The stream after `sublayer`: `resid + branch`, or `norm(resid + out)` for post-LN."""
        if self.placement.norm_after_add:
            module, norm, _, hook_out = self._parts(sublayer)
            return norm(resid + hook_out(module(resid, ctx)))
        return resid + self.branch(resid, sublayer, ctx)
