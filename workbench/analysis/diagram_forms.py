"""Drawing rules of the mixers that reshape attention: collapsed attention (one W_QK
contraction per head instead of W_Q and W_K), CRATE's MSSA (one basis U_h for q, k, v and
the output), the PoolFormer pooling mixer (a window average over pos) and the identity
mixer (a plain wire: the block adds nothing).
"""

from __future__ import annotations

from workbench.analysis.diagram_mixers import _heads, _rotation
from workbench.analysis.diagram_nodes import Node, group, leaf
from workbench.analysis.diagram_parts import (
    PartContext,
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
    size_of,
)
from workbench.variants.attention_collapsed import MSSA, CollapsedAttention
from workbench.variants.identity import IdentityMixer
from workbench.variants.pool_mixer import PoolMixer

_FULL = ("batch", "pos", "heads", "d_model")  # a per-head copy of the stream


def _per_head_copy(prefix: str, n: str, x, ctx: PartContext) -> Node:
    return elementwise(
        f"{prefix}.{n}",
        f"{n} = x (per head)",
        x,
        f"{prefix}.hook_{n}",
        ctx,
        cost=0,
        out=ctx.wires(f"{prefix}.hook_{n}", _FULL),
    )


def _collapsed_inputs(module: CollapsedAttention, prefix: str, x, ctx: PartContext) -> Node:
    """q = x W_QK + b_QK (the whole QK circuit in one contraction), k = x, v = x or x W_V."""
    symmetric = " (symmetrized)" if module.symmetric else ""
    q = linear(
        f"{prefix}.q",
        f"x W_QK + b_QK{symmetric}",
        x,
        f"{prefix}.hook_q",
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_QK", "b_QK"),
        names=_FULL,
    )
    k = _per_head_copy(prefix, "k", x, ctx)
    if module.ov:
        v = _per_head_copy(prefix, "v", x, ctx)
    else:
        v = linear(
            f"{prefix}.v",
            "W_V",
            x,
            f"{prefix}.hook_v",
            ctx,
            joined=("d_model",),
            params=param_bytes(module, "W_V", "b_V"),
        )
    return group(f"{prefix}.qkv", "x W_QK, x, V", [q, k, v], layout="tuple")


@diagram_rule(CollapsedAttention)
def collapsed_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    z_names = _FULL if module.ov else None
    heads = _heads(module, prefix, ctx, False, "(x W_QK) x^T / sqrt(d_head)", q_names=_FULL)
    if module.ov:  # the mix reads per-head copies of x: its output keeps d_model
        mix = heads.children[-1]
        z = ctx.wires(f"{prefix}.hook_z", z_names)
        mix = leaf(
            mix.id,
            mix.label,
            mix.kind,
            out=z,
            inputs=mix.inputs,
            hook=mix.hook,
            joined=mix.joined,
            contraction=size_of(mix.inputs[0], "key_pos", prefix),
            itemsize=ctx.itemsize(f"{prefix}.hook_z"),
        )
        heads = group(heads.id, heads.label, [*heads.children[:-1], mix])
    z = ctx.wires(f"{prefix}.hook_z", z_names)
    w_out, inner = ("W_OV", "d_model") if module.ov else ("W_O", "d_head")
    out = leaf(
        f"{prefix}.out",
        w_out,
        "linear",
        out=x,
        inputs=(z,),
        joined=("heads", inner),
        contraction=size_of(z, "heads", prefix) * z[-1].size,
        per_element=1.0,
        param_bytes=param_bytes(module, w_out, "b_O"),
    )
    label = "collapsed attention (W_QK" + (", W_OV)" if module.ov else ")")
    parts = [_collapsed_inputs(module, prefix, x, ctx), heads, out]
    return group(prefix, label, parts, kind="attention")


@diagram_rule(MSSA)
def mssa_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    """z = x U_h is query, key and value at once; the output goes back through U_h^T."""
    basis = linear(
        f"{prefix}.q",
        "z = x U_h (q = k = v)",
        x,
        f"{prefix}.hook_q",
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_U"),
    )
    heads = _heads(module, prefix, ctx, False, "z z^T / sqrt(d_head)")
    z = ctx.wires(f"{prefix}.hook_z")
    out = leaf(
        f"{prefix}.out",
        "U_h^T (same basis)",
        "linear",
        out=x,
        inputs=(z,),
        joined=("heads", "d_head"),
        per_element=1.0,
        param_bytes=param_bytes(module, "b_O"),
        contraction=size_of(z, "heads", prefix) * size_of(z, "d_head", prefix),
    )
    parts = [basis, _rotation(prefix, ctx), heads, out]
    return group(prefix, "MSSA (CRATE subspace attention)", parts, kind="attention")


@diagram_rule(PoolMixer)
def pool_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    size = module.pool_size
    where = f"{size} tokens up to this one" if ctx.causal else f"centred window of {size}"
    pooled = leaf(
        f"{prefix}.pool",
        f"average over pos (window {size})",
        "reduce",
        out=ctx.wires(f"{prefix}.hook_pooled"),
        inputs=(x,),
        hook=f"{prefix}.hook_pooled",
        reduced=(f"pos (window {size})",),
        per_element=size,
        itemsize=ctx.itemsize(f"{prefix}.hook_pooled"),
        note=f"{where}, divided by the real tokens it holds",
    )
    minus = elementwise(
        f"{prefix}.minus",
        "pooled - x",
        x,
        None,
        ctx,
        cost=1,
        kind="add",
        note="the block adds x back: the layer outputs pooled",
    )
    return group(prefix, "pool mixer (PoolFormer)", [pooled, minus], kind="attention")


@diagram_rule(IdentityMixer)
def identity_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    """A wire: the block skips the mixer, its hook_attn_out holds zeros."""
    return leaf(
        prefix,
        "identity (no token mixing)",
        "wire",
        out=x,
        inputs=(x,),
        note="the block does not run it: hook_attn_out is 0",
    )
