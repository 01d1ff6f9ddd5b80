"""Drawing rules of norms and MLPs: LayerNorm/RMSNorm/CRMSNorm (a reduction over d_model),
activation MLPs, GLU MLPs (the split into gate and linear branches, then their product) and
the top-k mixture of experts (router, per-expert MLPs on the routed tokens, weighted sum).
"""

from __future__ import annotations

from torch import nn

from workbench.analysis.diagram_nodes import ELEMENT_COST, Axis, Node, group, leaf
from workbench.analysis.diagram_parts import (
    PartContext,
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
    size_of,
)
from workbench.kernels.mlp.reference import ACTIVATIONS
from workbench.variants.mlp import ActivationMLP, GatedMLP, TopKReLU
from workbench.variants.mlp_poly import PolyActivation
from workbench.variants.moe import Expert, TopKMoEModule
from workbench.variants.norm import CRMSNormModule, LayerNormModule, RMSNormModule

_NORMS = {LayerNormModule: "LayerNorm", RMSNormModule: "RMSNorm", CRMSNormModule: "CRMSNorm"}


@diagram_rule(*_NORMS)
def norm_diagram(module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    label = next(name for cls, name in _NORMS.items() if isinstance(module, cls))
    hook = f"{prefix}.hook_normalized"
    out = ctx.wires(hook)
    # CRMSNorm's stream lacks one (implied) dimension, so it normalizes over what is there
    return elementwise(
        prefix,
        label,
        x,
        hook,
        ctx,
        cost=ELEMENT_COST[label.lower()],
        kind="norm",
        reduced=(out[-1].name,),
        params=param_bytes(module),
    )


def activation_label(act) -> tuple[str, str, tuple[str, ...]]:
    """(label, cost key, reduced axes) of an MLP activation (a function or a module)."""
    if isinstance(act, TopKReLU):
        return f"top-{act.k} ReLU", "topk", ("d_mlp",)
    if isinstance(act, PolyActivation):
        if act.normalize:
            return f"PolyNorm (order {act.order})", "poly", ("d_mlp",)
        return f"PolyReLU (order {act.order})", "poly", ()
    # the kernels' table holds the functions the variants use (ReLU^2 is a lambda there)
    name = next((key for key, fn in ACTIVATIONS.items() if fn is act), getattr(act, "__name__", ""))
    known = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "relu2": "ReLU^2"}
    if name in known:
        return known[name], name, ()
    return (name or type(act).__name__), "gelu", ()


@diagram_rule(ActivationMLP)
def mlp_diagram(module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    pre, post = f"{prefix}.hook_pre", f"{prefix}.hook_post"
    label, cost, reduced = activation_label(module.act)
    if label == "<lambda>":  # GELU with an approximation is a lambda around F.gelu
        exact = module.kernel_act == module.act_name  # the kernel runs the exact form only
        label = module.act_name.upper() + ("" if exact else " (tanh approximation)")
        cost = module.act_name
    w_in = linear(
        f"{prefix}.in",
        "W_in",
        x,
        pre,
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_in", "b_in"),
    )
    act = elementwise(
        f"{prefix}.act",
        label,
        ctx.wires(pre),
        post,
        ctx,
        cost=ELEMENT_COST.get(cost, 1),
        kind="reduce" if reduced else "elementwise",
        reduced=reduced,
        params=param_bytes(module.act) if isinstance(module.act, nn.Module) else 0,
    )
    w_out = out_projection(
        prefix, "W_out", ctx.wires(post), x, param_bytes(module, "W_out", "b_out")
    )
    return group(prefix, f"MLP ({label})", [w_in, act, w_out], kind="mlp")


def out_projection(prefix: str, label: str, hidden: tuple[Axis, ...], x, params: int) -> Node:
    """The MLP's output map: `hidden`'s last axis (d_mlp, or a nested width) joins into
    d_model, plus its bias (one add per output element)."""
    return leaf(
        f"{prefix}.out",
        label,
        "linear",
        out=x,
        inputs=(hidden,),
        joined=(hidden[-1].name,),
        contraction=hidden[-1].size,
        per_element=1.0,
        param_bytes=params,
    )


@diagram_rule(GatedMLP)
def glu_diagram(module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    gate_hook, lin_hook, post = (f"{prefix}.hook_{n}" for n in ("pre", "pre_linear", "post"))
    label, cost, _ = activation_label(module.act)
    split = group(
        f"{prefix}.split",
        "GLU split",
        [
            linear(
                f"{prefix}.gate",
                "W_gate",
                x,
                gate_hook,
                ctx,
                joined=("d_model",),
                params=param_bytes(module, "W_gate", "b_gate"),
            ),
            linear(
                f"{prefix}.in",
                "W_in",
                x,
                lin_hook,
                ctx,
                joined=("d_model",),
                params=param_bytes(module, "W_in", "b_in"),
            ),
        ],
        layout="tuple",
    )
    act = elementwise(
        f"{prefix}.act",
        f"{label}(gate) * lin",
        ctx.wires(gate_hook),
        post,
        ctx,
        cost=ELEMENT_COST.get(cost, 1) + 1,
        kind="multiply",
    )
    w_out = out_projection(
        prefix, "W_out", ctx.wires(post), x, param_bytes(module, "W_out", "b_out")
    )
    return group(prefix, f"GLU MLP ({label})", [split, act, w_out], kind="mlp")


def _expert(expert: Expert, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    pre, post = f"{prefix}.hook_pre", f"{prefix}.hook_post"
    tokens = ctx.wires(pre)[:1]  # routed_tokens: how many tokens this expert received
    x_routed = (*tokens, x[-1])
    label, cost, _ = activation_label(expert.act)
    w_in = linear(
        f"{prefix}.in",
        "W_in",
        x_routed,
        pre,
        ctx,
        joined=("d_model",),
        params=param_bytes(expert, "W_in", "b_in"),
    )
    act = elementwise(
        f"{prefix}.act", label, ctx.wires(pre), post, ctx, cost=ELEMENT_COST.get(cost, 1)
    )
    hidden = ctx.wires(post)
    w_out = leaf(
        f"{prefix}.out",
        "W_out",
        "linear",
        out=x_routed,
        inputs=(hidden,),
        joined=("d_mlp",),
        contraction=size_of(hidden, "d_mlp", prefix),
        param_bytes=param_bytes(expert, "W_out"),
    )
    return group(prefix, f"expert {prefix.rsplit('.', 1)[-1]}", [w_in, act, w_out])


@diagram_rule(TopKMoEModule)
def moe_diagram(module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    logits_hook, weights_hook = f"{prefix}.hook_router_logits", f"{prefix}.hook_router_weights"
    router = linear(
        f"{prefix}.router",
        "router x W_router",
        x,
        logits_hook,
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_router"),
        bias=False,
    )
    choose = elementwise(
        f"{prefix}.choose",
        f"softmax, top-{module.k}",
        ctx.wires(logits_hook),
        weights_hook,
        ctx,
        cost=ELEMENT_COST["softmax"] + ELEMENT_COST["topk"],
        kind="reduce",
        reduced=("experts",),
    )
    experts = group(
        f"{prefix}.experts",
        f"experts x{len(module.experts)}",
        [_expert(e, f"{prefix}.experts.{i}", x, ctx) for i, e in enumerate(module.experts)],
        layout="tuple",
        output=x,
    )
    combine = elementwise(
        f"{prefix}.combine",
        "sum of weighted expert outputs",
        x,
        None,
        ctx,
        cost=2 * module.k,
        kind="add",
        params=param_bytes(module, "b_out"),
    )
    return group(
        prefix,
        f"MoE (top-{module.k} of {len(module.experts)})",
        [router, choose, experts, combine],
        kind="mlp",
    )
