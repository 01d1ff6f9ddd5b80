"""One transformer block: a token mixer and an MLP, each wrapped by the norm placement.

How the two sublayers compose (one after the other, side by side, ...) is the block layout,
a variant family of its own (`cfg.block`, see `workbench.variants.block_layout`): the block
offers `branch` (a sublayer's hooked output) and `residual_step` (one sublayer applied to the
residual stream), and the layout decides how to combine them.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.schedule import LayerSchedule


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
        self.positions = layer_positions(cfg, layer)
        cfg = cfg.layer_config(layer)  # per-layer schedules resolved: one spec per family
        self.placement = cfg.norm_placement
        has_in_norm = self.placement.norm_in or self.placement.norm_after_add
        attn, mlp = cfg.attention.build(cfg, layer), cfg.mlp.build(cfg, layer)

        def norm(wanted: bool, module: nn.Module) -> nn.Module | None:
            # A sublayer that adds nothing (the identity mixer) gets no norms either.
            skip = getattr(module, "adds_nothing", False)
            return cfg.norm.build(cfg, layer) if wanted and not skip else None

        # Registered in forward order, so `model.hook_names()` reads as the computation does
        # (a layout's own sublayers, e.g. macaron's first half-FFN, come first).
        self.hook_resid_pre = HookPoint()
        # Layouts compose two sublayers; an attention-only block (mlp="none") has one.
        self.layout = cfg.block.build(cfg, layer) if mlp is not None else None
        self.ln1, self.ln1_out = norm(has_in_norm, attn), norm(self.placement.norm_out, attn)
        self.attn = attn
        self.hook_attn_out = HookPoint()
        if mlp is not None:
            self.hook_resid_mid = HookPoint()
            self.ln2, self.ln2_out = norm(has_in_norm, mlp), norm(self.placement.norm_out, mlp)
            self.hook_mlp_out = HookPoint()
        self.mlp = mlp
        self.hook_resid_post = HookPoint()

    def forward(
        self, resid: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        resid, ctx = self.hook_resid_pre(resid), ctx.at_layer(self.layer, self.positions)
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
        self, resid: Float[Tensor, "batch pos d_model"], sublayer: str, ctx, scale: float = 1.0
    ) -> Float[Tensor, "batch pos d_model"]:
        """What `sublayer` ('attn' or 'mlp') adds to the stream: input norm, the sublayer,
        output norm (peri-LN), times `scale` (macaron's 1/2), through `hook_{attn,mlp}_out`.
        Not for post-LN."""
        return sublayer_branch(*self._parts(sublayer), resid, ctx, scale)

    def residual_step(
        self, resid: Float[Tensor, "batch pos d_model"], sublayer: str, ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        """The stream after `sublayer`: `resid + branch`, or `norm(resid + out)` for post-LN."""
        module, norm, _, hook_out = self._parts(sublayer)
        if self.placement.norm_after_add and norm is not None:
            return norm(resid + hook_out(module(resid, ctx)))
        return resid + self.branch(resid, sublayer, ctx)


def layer_positions(cfg, layer: int) -> nn.Module | None:
    """This layer's own position module under a per-layer position schedule, else None (the
    model's module serves every layer). Additive embeddings are refused: they enter the
    stream once, before any layer, so a per-layer choice of them has no meaning."""
    if not isinstance(cfg.position, LayerSchedule):
        return None
    spec = cfg.position[layer]
    module = spec.build(cfg.layer_config(layer), layer)
    if module.embed(torch.arange(1)) is not None:
        raise ValueError(
            f"ModelConfig.position[{layer}] ({spec.name}) adds embeddings to the stream before "
            "the first layer; a per-layer position list takes relative schemes only (rotary, "
            "alibi, none, ...)"
        )
    return module


def sublayer_branch(
    module: nn.Module,
    norm: nn.Module | None,
    norm_out: nn.Module | None,
    hook_out: HookPoint,
    resid: Float[Tensor, "batch pos d_model"],
    ctx,
    scale: float = 1.0,
) -> Float[Tensor, "batch pos d_model"]:
    """norm -> module -> norm_out -> x scale -> hook_out. A module that `adds_nothing` (the
    identity mixer) is not run: its hook sees zeros, so `resid_mid == resid_pre + attn_out`
    holds and patching the hook still adds to the stream."""
    if getattr(module, "adds_nothing", False):
        return hook_out(torch.zeros_like(resid))
    out = module(norm(resid) if norm is not None else resid, ctx)
    if norm_out is not None:
        out = norm_out(out)
    return hook_out(out * scale if scale != 1.0 else out)
