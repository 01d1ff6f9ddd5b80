"""Drawing rules of the decayed linear-attention mixers: RetNet's retention, gated linear
attention (GLA) and Mamba-2's SSD layer.

All three keep a matrix state per head that decays and takes one outer product per token,
so they are drawn like DeltaNet: their own inputs (the decay, Mamba-2's conv and step
size), a state box (the contraction over pos) labelled with its update rule, the read-out,
then the per-head norm and gate of each paper and the output projection.
"""

from __future__ import annotations

import dataclasses

from workbench.analysis.diagram_mixers import _out, _recurrent
from workbench.analysis.diagram_nodes import ELEMENT_COST, Node, axes, group, leaf
from workbench.analysis.diagram_parts import (
    PartContext,
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
    size_of,
)
from workbench.variants.decay_mixers import GLAMixer, RetentionMixer
from workbench.variants.mamba2 import Mamba2Mixer

_PER_HEAD = ("batch", "pos", "heads", "d_head")


def _decay(module, prefix: str, x, ctx: PartContext) -> Node:
    """Retention: a fixed gamma per head (a buffer); GLA: alpha_t from a low-rank gate."""
    hook = f"{prefix}.hook_decay"
    if isinstance(module, RetentionMixer):
        return leaf(
            f"{prefix}.decay",
            "log gamma_h, gamma_h = 1 - 2^(-5-h)",
            "elementwise",
            out=ctx.wires(hook, ("batch", "pos", "heads", "1")),
            hook=hook,
            itemsize=ctx.itemsize(hook),
            note="fixed per head (no parameters)",
        )
    out = ctx.wires(hook, _PER_HEAD)
    d_model, rank = module.W_a1.shape
    width = module.W_a2.shape[1]  # heads * d_head
    # x W_a1 (rank r) then W_a2: 2 (d_model r + r width) FLOPs per token, spread per output
    per_element = 2 * rank * (d_model + width) / width + ELEMENT_COST["sigmoid"] + 1
    return leaf(
        f"{prefix}.decay",
        f"log alpha = logsigmoid(x W_a1 W_a2 + b) / {module.tau:g}",
        "linear",
        out=out,
        inputs=(x,),
        hook=hook,
        joined=("d_model",),
        per_element=per_element,
        param_bytes=param_bytes(module, "W_a1", "W_a2", "b_a"),
        itemsize=ctx.itemsize(hook),
        note=f"low-rank gate (rank {rank}): one decay per key channel",
    )


def _norm_and_gate(module, prefix: str, x, ctx: PartContext) -> list[Node]:
    """GroupNorm per head, then the swish gate swish(x W_G) (through hook_gate, hook_z)."""
    z = ctx.wires(f"{prefix}.hook_z")
    norm = elementwise(
        f"{prefix}.norm",
        "GroupNorm per head",
        z,
        None,
        ctx,
        cost=ELEMENT_COST["layernorm"],
        kind="norm",
        reduced=("d_head",),
    )
    gate = linear(
        f"{prefix}.gate",
        "swish(x W_G)",
        x,
        f"{prefix}.hook_gate",
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_G"),
        bias=False,
        names=_PER_HEAD,
    )
    apply = elementwise(
        f"{prefix}.gated", "out * gate", z, f"{prefix}.hook_z", ctx, cost=1, kind="multiply"
    )
    return [norm, gate, apply]


@diagram_rule(RetentionMixer, GLAMixer)
def decay_mixer_diagram(module, prefix, x, ctx) -> Node:
    gla = isinstance(module, GLAMixer)
    rule = "S = diag(alpha_t) S + k^T v" if gla else "S = gamma_h S + k^T v"
    parts = _recurrent(
        module, prefix, x, ctx, [_decay(module, prefix, x, ctx)], rule, 1, z_after=True
    )
    if gla and module.S0 is not None:  # the learned initial state belongs to the state box
        state = next(i for i, p in enumerate(parts) if p is not None and p.id.endswith(".state"))
        parts[state] = _with_params(parts[state], param_bytes(module, "S0"), "learned S0")
    parts += _norm_and_gate(module, prefix, x, ctx)
    parts.append(_out(module, prefix, ctx.wires(f"{prefix}.hook_z"), x))
    label = "GLA (gated linear attention)" if gla else "retention (RetNet)"
    return group(prefix, label, parts, kind="attention")


def _with_params(node: Node, extra: int, note: str) -> Node:
    return dataclasses.replace(
        node, param_bytes=node.param_bytes + extra, note=f"{node.note}; {note}"
    )


def _mamba2_in(module: Mamba2Mixer, prefix: str, x, ctx: PartContext) -> tuple[Node, tuple]:
    """One in-projection to (z, x B C, dt): a tuple of three contractions over d_model."""
    batch, pos = x[0].size, x[1].size
    pieces = (
        ("z", "z (gate)", axes(("batch", batch), ("pos", pos), ("d_inner", module.d_inner))),
        ("xbc", "x, B, C", axes(("batch", batch), ("pos", pos), ("d_conv", module.conv.shape[0]))),
        ("dt", "dt", axes(("batch", batch), ("pos", pos), ("heads", module.n_heads))),
    )
    boxes = [
        leaf(
            f"{prefix}.in_{key}",
            f"W_in ({label})",
            "linear",
            out=out,
            inputs=(x,),
            joined=("d_model",),
            contraction=size_of(x, "d_model", prefix),
            param_bytes=param_bytes(module, "W_in") if key == "z" else 0,
        )
        for key, label, out in pieces
    ]
    xbc = pieces[1][2]  # what the conv reads next
    return group(f"{prefix}.in", "W_in: z, xBC, dt", boxes, layout="tuple", output=xbc), xbc


def _mamba2_split(prefix: str, xbc, ctx: PartContext) -> Node:
    names = {"x": _PER_HEAD, "B": ("batch", "pos", "heads", "d_state")}
    names["C"] = names["B"]
    boxes = [
        leaf(
            f"{prefix}.split_{n}",
            n,
            "elementwise",
            out=ctx.wires(f"{prefix}.hook_{n}", names[n]),
            inputs=(xbc,),
            hook=f"{prefix}.hook_{n}",
            itemsize=ctx.itemsize(f"{prefix}.hook_{n}"),
        )
        for n in ("x", "B", "C")
    ]
    return group(f"{prefix}.split", "split per head: x, B, C", boxes, layout="tuple")


@diagram_rule(Mamba2Mixer)
def mamba2_diagram(module, prefix, x, ctx) -> Node:
    in_proj, xbc = _mamba2_in(module, prefix, x, ctx)
    width = module.conv.shape[1]
    conv = leaf(
        f"{prefix}.conv",
        f"causal conv (width {width}) + SiLU",
        "conv",
        out=xbc,
        inputs=(xbc,),
        joined=("pos",),
        contraction=width,
        per_element=ELEMENT_COST["silu"],
        param_bytes=param_bytes(module, "conv"),
    )
    delta = elementwise(
        f"{prefix}.delta",
        "delta = softplus(dt + b)",
        in_proj.children[2].output,
        f"{prefix}.hook_delta",
        ctx,
        cost=ELEMENT_COST["silu"],
        out=ctx.wires(f"{prefix}.hook_delta", ("batch", "pos", "heads")),
        params=param_bytes(module, "b_dt"),
    )
    xs = ctx.wires(f"{prefix}.hook_x", _PER_HEAD)
    y_hook = f"{prefix}.hook_ssm_out"
    state = leaf(
        f"{prefix}.state",
        "H = exp(delta A_h) H + (delta x) B^T; y = H C",
        "state",
        out=ctx.wires(y_hook, _PER_HEAD),
        inputs=(xs,),
        hook=y_hook,
        joined=("d_state",),
        contraction=2 * module.d_state,  # the update and the read-out, per element of y
        param_bytes=param_bytes(module, "A_log"),
        itemsize=ctx.itemsize(y_hook),
        note="scalar decay per head: linear attention with q = C, k = B, v = delta x",
    )
    inner = axes(*((a.name, a.size) for a in x[:2]), ("d_inner", module.d_inner))
    tail = [
        elementwise(
            f"{prefix}.skip", "y + D x", xs, None, ctx, cost=2, params=param_bytes(module, "D")
        ),  # fmt: skip
        elementwise(
            f"{prefix}.gated",
            "y * SiLU(z)",
            inner,
            None,
            ctx,
            cost=ELEMENT_COST["silu"] + 1,
            kind="multiply",
        ),  # fmt: skip
        elementwise(
            f"{prefix}.norm",
            "RMSNorm",
            inner,
            None,
            ctx,
            cost=ELEMENT_COST["rmsnorm"],
            kind="norm",
            reduced=("d_inner",),
            params=param_bytes(module, "norm_w"),
        ),  # fmt: skip
        leaf(
            f"{prefix}.out",
            "W_out",
            "linear",
            out=x,
            inputs=(inner,),
            joined=("d_inner",),
            contraction=module.d_inner,
            param_bytes=param_bytes(module, "W_out"),
        ),  # fmt: skip
    ]
    parts = [in_proj, conv, _mamba2_split(prefix, xbc, ctx), delta, state, *tail]
    return group(prefix, "Mamba-2 (SSD)", parts, kind="attention")
