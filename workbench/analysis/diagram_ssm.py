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


@diagram_rule(SelectiveSSM)
def mamba_diagram(module, prefix, x, ctx) -> Node:
    conv_hook, gate_hook = f"{prefix}.hook_conv", f"{prefix}.hook_gate"
    inner = ctx.wires(conv_hook)
    d_state = module.W_B.shape[1]
    w_in = group(
        f"{prefix}.in",
        "W_in: branch, gate",
        [
            linear(
                f"{prefix}.in_branch",
                "W_in (branch)",
                x,
                conv_hook,
                ctx,
                joined=("d_model",),
                params=param_bytes(module, "W_in"),
                bias=False,
                shape_only=True,  # hook_conv is after the convolution
            ),
            linear(
                f"{prefix}.in_gate",
                "W_in (gate)",
                x,
                gate_hook,
                ctx,
                joined=("d_model",),
                params=0,
                bias=False,
                names=("batch", "pos", "d_inner"),
                shape_only=True,  # hook_gate is after the SiLU
            ),
        ],
        layout="tuple",
    )
    k = module.conv.shape[1]
    conv = leaf(
        f"{prefix}.conv",
        f"causal conv (width {k}) + SiLU",
        "conv",
        out=inner,
        inputs=(inner,),
        hook=conv_hook,
        joined=("pos",),
        contraction=k,
        per_element=ELEMENT_COST["silu"],
        param_bytes=param_bytes(module, "conv"),
    )
    delta = linear(
        f"{prefix}.delta",
        "delta = softplus(u W_dt + b)",
        inner,
        f"{prefix}.hook_delta",
        ctx,
        joined=("d_inner",),
        params=param_bytes(module, "W_dt", "b_dt"),
    )
    bc_out = (*inner[:2], Axis("d_state", d_state))
    bc = leaf(
        f"{prefix}.bc",
        "B, C = u W_B, u W_C",
        "linear",
        out=bc_out,
        inputs=(inner,),
        joined=("d_inner",),
        contraction=2 * size_of(inner, "d_inner", prefix),
        param_bytes=param_bytes(module, "W_B", "W_C"),
    )
    scan = leaf(
        f"{prefix}.scan",
        "scan h = exp(delta A) h + delta B u; y = C h + D u",
        "state",
        out=ctx.wires(f"{prefix}.hook_ssm_out"),
        inputs=(inner, bc_out),
        hook=f"{prefix}.hook_ssm_out",
        joined=("d_state",),
        contraction=2 * d_state,
        param_bytes=param_bytes(module, "A_log", "D"),
        note="sequential over pos; state d_inner x d_state",
    )
    gated = elementwise(
        f"{prefix}.gated", "y * SiLU(gate)", inner, None, ctx, cost=1, kind="multiply"
    )
    out = leaf(
        f"{prefix}.out",
        "W_out",
        "linear",
        out=x,
        inputs=(inner,),
        joined=("d_inner",),
        contraction=size_of(inner, "d_inner", prefix),
        param_bytes=param_bytes(module, "W_out"),
    )
    return group(
        prefix, "Mamba selective SSM", [w_in, conv, delta, bc, scan, gated, out], kind="attention"
    )


@diagram_rule(GLUMixer)
def glu_mixer_diagram(module, prefix, x, ctx) -> Node:
    post = f"{prefix}.hook_post"
    hidden = ctx.wires(post)
    pair = group(
        f"{prefix}.in",
        "W_gate, W_in",
        [
            linear(
                f"{prefix}.gate",
                "W_gate",
                x,
                post,
                ctx,
                joined=("d_model",),
                params=param_bytes(module, "W_gate"),
                bias=False,
                shape_only=True,  # hook_post is after the product
            ),
            linear(
                f"{prefix}.lin",
                "W_in",
                x,
                post,
                ctx,
                joined=("d_model",),
                params=param_bytes(module, "W_in"),
                bias=False,
                shape_only=True,
            ),
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
    out = leaf(
        f"{prefix}.out",
        "W_out",
        "linear",
        out=x,
        inputs=(hidden,),
        joined=("d_mlp",),
        contraction=size_of(hidden, "d_mlp", prefix),
        param_bytes=param_bytes(module, "W_out"),
    )
    return group(
        prefix, "GLU mixer (per token, no mixing over pos)", [pair, act, out], kind="attention"
    )
