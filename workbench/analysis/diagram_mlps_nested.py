"""Drawing rules of the MLPs in `variants.mlp_nested`: MatFormer (a ReLU MLP on the first
`width` neurons), TokenFormer's Pattention (the token attends to parameter tokens, with a
normalized GeLU over them) and CRATE's ISTA block (one proximal-gradient step, no expansion).
"""

from __future__ import annotations

from workbench.analysis.diagram_mlps import out_projection
from workbench.analysis.diagram_nodes import ELEMENT_COST, Node, group, leaf
from workbench.analysis.diagram_parts import (
    PartContext,
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
)
from workbench.variants.mlp_nested import ISTABlock, MatFormerMLP, PattentionMLP

_RESID = ("batch", "pos", "d_model")


@diagram_rule(MatFormerMLP)
def matformer_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    """Only the first `width` neurons run; the rest of W_in / W_out are held (nested)."""
    m, full = module.width, module.W_in.shape[1]
    pre, post = f"{prefix}.hook_pre", f"{prefix}.hook_post"
    w_in = linear(
        f"{prefix}.in",
        f"W_in[:, :{m}]",
        x,
        pre,
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_in", "b_in"),
    )
    act = elementwise(f"{prefix}.act", "ReLU", ctx.wires(pre), post, ctx, cost=1)
    w_out = out_projection(
        prefix, f"W_out[:{m}]", ctx.wires(post), x, param_bytes(module, "W_out", "b_out")
    )
    label = f"MatFormer MLP (width {m} of {full}; nested {list(module.widths)})"
    return group(prefix, label, [w_in, act, w_out], kind="mlp")


@diagram_rule(PattentionMLP)
def pattention_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    """scores = x K_P^T over the parameter tokens, Theta = GeLU(s tau / ||s||), Theta V_P."""
    names = ("batch", "pos", "param_tokens")
    pre, post = f"{prefix}.hook_pre", f"{prefix}.hook_post"
    scores = linear(
        f"{prefix}.scores",
        "x K_P^T",
        x,
        pre,
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "K_P"),
        bias=False,
        names=names,
    )
    theta = elementwise(
        f"{prefix}.theta",
        f"GeLU(s * {module.tau:.3g} / ||s||)",
        ctx.wires(pre, names),
        post,
        ctx,
        cost=ELEMENT_COST["gelu"] + 3,
        kind="reduce",
        reduced=("param_tokens",),
        out=ctx.wires(post, names),
    )
    hidden = ctx.wires(post, names)
    mix = out_projection(prefix, "Theta V_P", hidden, x, param_bytes(module, "V_P"))
    n = module.K_P.shape[0]
    return group(prefix, f"Pattention ({n} parameter tokens)", [scores, theta, mix], kind="mlp")


@diagram_rule(ISTABlock)
def ista_diagram(module, prefix: str, x, ctx: PartContext) -> Node:
    """ReLU(x + eta D^T (x - D x) - eta lambda): two contractions with D, then the ReLU;
    its output is the sparse code itself (no output projection)."""
    pre, post = f"{prefix}.hook_pre", f"{prefix}.hook_post"
    step = leaf(
        f"{prefix}.step",
        f"x + {module.step:g} D^T (x - D x) - {module.step:g} lambda",
        "linear",
        out=ctx.wires(pre, _RESID),
        inputs=(x,),
        hook=pre,
        joined=("d_model",),
        contraction=2 * x[-1].size,
        per_element=4,
        param_bytes=param_bytes(module, "D"),
        itemsize=ctx.itemsize(pre),
    )
    act = elementwise(
        f"{prefix}.act",
        "ReLU (sparse code)",
        ctx.wires(pre, _RESID),
        post,
        ctx,
        cost=1,
        out=ctx.wires(post, _RESID),
    )
    return group(prefix, f"ISTA step (lambda {module.lam:g})", [step, act], kind="mlp")
