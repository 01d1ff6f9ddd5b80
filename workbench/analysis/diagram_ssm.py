"""Drawing rules of the attention-free mixers: the Mamba selective SSM (in-projection to a
branch and a gate, causal conv over pos, the input-dependent scan as a state box, the gate)
and the Activator GLU mixer (a per-token GLU: no wire crosses pos).
"""

from __future__ import annotations

from workbench.analysis.diagram_nodes import ELEMENT_COST, Axis, Node, group, leaf
from workbench.analysis.diagram_parts import (
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
    size_of,
)
from workbench.variants.selective_ssm import GLUMixer, SelectiveSSM


def _projection(prefix: str, label: str, x, hook: str, ctx: PartContext, params: int, names=None):
    """An in-projection without bias whose output has no hook point of its own: `hook`
    (later in the computation, same shape) only lends its shape."""
    return linear(
        f"{prefix}",
        label,
        x,
        hook,
        ctx,
        joined=("d_model",),
        params=params,
        bias=False,
        names=names,
        shape_only=True,
    )


def _out_projection(module, prefix: str, hidden, x, axis: str) -> Node:
    return leaf(
        f"{prefix}.out",
        "W_out",
        "linear",
        out=x,
        inputs=(hidden,),
        joined=(axis,),
        contraction=size_of(hidden, axis, prefix),
        param_bytes=param_bytes(module, "W_out"),
    )


def _mamba_in(module, prefix: str, x, ctx: PartContext) -> Node:
    # bidirectional: hook_conv holds both directions, the gate (d_inner) has the branch's shape
    shape_hook = f"{prefix}.hook_gate" if module.bidirectional else f"{prefix}.hook_conv"
    branch = _projection(
        f"{prefix}.in_branch",
        "W_in (branch)",
        x,
        shape_hook,
        ctx,
        param_bytes(module, "W_in"),
        names=("batch", "pos", "d_inner"),
    )
    gate = _projection(
        f"{prefix}.in_gate",
        "W_in (gate)",
        x,
        f"{prefix}.hook_gate",
        ctx,
        0,
        names=("batch", "pos", "d_inner"),
    )
    return group(f"{prefix}.in", "W_in: branch, gate", [branch, gate], layout="tuple")


def _mamba_scan(module, prefix: str, inner, ctx: PartContext) -> list[Node]:
    """Delta, B and C from the conv output, then the selective scan (a state box)."""
    d_state = module.W_B.shape[1]
    # each direction's channels meet the shared W_dt: a contraction over one d_inner
    delta = leaf(
        f"{prefix}.delta",
        "delta = softplus(u W_dt + b)",
        "linear",
        out=inner,
        inputs=(inner,),
        hook=f"{prefix}.hook_delta",
        joined=(inner[-1].name,),
        contraction=module.W_dt.shape[0],
        per_element=1.0,
        param_bytes=param_bytes(module, "W_dt", "b_dt"),
        itemsize=ctx.itemsize(f"{prefix}.hook_delta"),
    )
    bc_out = (*inner[:2], Axis("d_state", d_state))
    bc = leaf(
        f"{prefix}.bc",
        "B, C = u W_B, u W_C",
        "linear",
        out=bc_out,
        inputs=(inner,),
        joined=(inner[-1].name,),
        contraction=2 * module.W_B.shape[0],
        param_bytes=param_bytes(module, "W_B", "W_C"),
    )
    out_hook = f"{prefix}.hook_ssm_out"
    both = " (forward + reversed, shared weights)" if module.bidirectional else ""
    scan = leaf(
        f"{prefix}.scan",
        f"scan h = exp(delta A) h + delta B u; y = C h + D u{both}",
        "state",
        out=ctx.wires(out_hook),
        inputs=(inner, bc_out),
        hook=out_hook,
        joined=("d_state",),
        contraction=2 * d_state,
        param_bytes=param_bytes(module, "A_log", "D"),
        note="sequential over pos; state d_inner x d_state",
    )
    return [delta, bc, scan]


@diagram_rule(SelectiveSSM)
def mamba_diagram(module, prefix, x, ctx) -> Node:
    conv_hook = f"{prefix}.hook_conv"
    # bidirectional: hook_conv and hook_delta hold both directions side by side
    names = ("batch", "pos", "d_inner x 2 directions") if module.bidirectional else None
    inner, k = ctx.wires(conv_hook, names), module.conv.shape[1]
    both = ", both directions" if module.bidirectional else ""
    conv = leaf(
        f"{prefix}.conv",
        f"causal conv (width {k}) + SiLU{both}",
        "conv",
        out=inner,
        inputs=(inner,),
        hook=conv_hook,
        joined=("pos",),
        contraction=k,
        per_element=ELEMENT_COST["silu"],
        param_bytes=param_bytes(module, "conv"),
    )
    y = ctx.wires(f"{prefix}.hook_ssm_out")
    gated = elementwise(f"{prefix}.gated", "y * SiLU(gate)", y, None, ctx, cost=1, kind="multiply")
    parts = [
        _mamba_in(module, prefix, x, ctx),
        conv,
        *_mamba_scan(module, prefix, inner, ctx),
        gated,
        _out_projection(module, prefix, y, x, "d_inner"),
    ]
    label = "bidirectional Mamba" if module.bidirectional else "Mamba selective SSM"
    return group(prefix, label, parts, kind="attention")


@diagram_rule(GLUMixer)
def glu_mixer_diagram(module, prefix, x, ctx) -> Node:
    post = f"{prefix}.hook_post"  # after the product: the projections only borrow its shape
    hidden = ctx.wires(post)
    pair = group(
        f"{prefix}.in",
        "W_gate, W_in",
        [
            _projection(f"{prefix}.gate", "W_gate", x, post, ctx, param_bytes(module, "W_gate")),
            _projection(f"{prefix}.lin", "W_in", x, post, ctx, param_bytes(module, "W_in")),
        ],
        layout="tuple",
    )
    act = elementwise(
        f"{prefix}.act",
        "SiLU(gate) * lin",
        hidden,
        post,
        ctx,
        cost=ELEMENT_COST["silu"] + 1,
        kind="multiply",
    )
    return group(
        prefix,
        "GLU mixer (per token, no mixing over pos)",
        [pair, act, _out_projection(module, prefix, hidden, x, "d_mlp")],
        kind="attention",
    )
