"""Drawing rules of the token mixers: QKV attention kinds, linear attention, DeltaNet,
(one rule per module class; the Mamba SSM and the GLU mixer are in `diagram_ssm`).

Attention is drawn as the paper draws it: Q, K, V as a tuple of contractions over d_model,
(rotation), then per head the scores (join over d_head), the weighting (softmax marked on
key_pos; sigmoid has no reduction), the mix with V (join over key_pos), and W_O (join over
heads and d_head). Recurrent mixers are drawn in their recurrent form: a state box (the
contraction over pos) and a read-out.
"""

from __future__ import annotations

from torch import nn

from workbench.analysis.diagram_nodes import ELEMENT_COST, Axis, Node, axes, group, leaf
from workbench.analysis.diagram_parts import (
    PartContext,
    diagram_rule,
    elementwise,
    linear,
    param_bytes,
    size_of,
)
from workbench.variants.attention import QKVAttention, SoftmaxAttentionModule
from workbench.variants.attention_kinds import (
    ClippedSoftmaxModule,
    GatedAttentionModule,
    SigmoidAttentionModule,
)
from workbench.variants.attention_power import PowerSoftmaxModule
from workbench.variants.attention_sparse import ProbSparseModule, TopKSoftmaxModule
from workbench.variants.position import ALiBiPositions
from workbench.variants.position_comrope import ComRoPEPositions
from workbench.variants.recurrent_mixers import DeltaNetMixer, NormLinearAttention

# Attention weighting per class: (label, cost keys, whether it normalizes over key_pos).
# Labels are formatted with the module as `m` (top-k's k, ProbSparse's u).
_WEIGHTING = {
    SoftmaxAttentionModule: ("softmax", ("softmax",), True),
    SigmoidAttentionModule: ("sigmoid(s + b)", ("sigmoid",), False),
    ClippedSoftmaxModule: ("clipped softmax", ("softmax",), True),
    PowerSoftmaxModule: ("power softmax |s|^p", ("softmax",), True),
    # top-k: each query keeps its k largest scores, the others get exactly 0
    TopKSoftmaxModule: ("top-{m.k} softmax", ("topk", "softmax"), True),
    # ProbSparse: the u queries with the largest max - mean score get softmax rows, the
    # other ("lazy") queries a uniform row (the mean of the visible values)
    ProbSparseModule: (
        "ProbSparse: softmax for top-{u} queries, mean for the rest",
        ("topk", "softmax"),
        True,
    ),  # fmt: skip
}


def _weighting(module: nn.Module) -> tuple[str, float, bool]:
    """(label, FLOPs per score, normalizes over key_pos) of the module's weighting."""
    for cls in type(module).__mro__:
        if cls in _WEIGHTING:
            label, costs, normalizes = _WEIGHTING[cls]
            u = getattr(module, "u", None)
            u = u if u is not None else f"ceil({getattr(module, 'factor', 0):g} ln pos)"
            cost = sum(ELEMENT_COST[c] for c in costs)
            return label.format(m=module, u=u), cost, normalizes
    raise KeyError(f"no attention weighting is known for {type(module).__name__}")


def _window(module: nn.Module) -> str:
    """The local window of the module's key_pos reduction ("" when every key is seen)."""
    local = getattr(module, "local", None)
    if local is None:
        return ""
    parts = [f"window {local.window}"] if local.window is not None else []
    parts += [f"shift {local.shift}"] if local.shift is not None else []
    parts += [f"dilation {local.dilation}"] if local.dilation != 1 else []
    parts += [f"{local.global_tokens} global"] if local.global_tokens else []
    return ", ".join(parts)


def _qkv(module: nn.Module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    boxes = [
        linear(
            f"{prefix}.{n}",
            f"W_{n.upper()}",
            x,
            f"{prefix}.hook_{n}",
            ctx,
            joined=("d_model",),
            params=param_bytes(module, f"W_{n.upper()}", f"b_{n.upper()}"),
        )
        for n in "qkv"
    ]
    return group(f"{prefix}.qkv", "Q, K, V", boxes, layout="tuple")


def _rotation(prefix: str, ctx: PartContext) -> Node | None:
    if not ctx.has(f"{prefix}.hook_rot_q"):
        return None
    positions = ctx.positions
    label = "ComRoPE" if isinstance(positions, ComRoPEPositions) else "RoPE"
    params = param_bytes(positions) if isinstance(positions, ComRoPEPositions) else 0
    boxes = [
        elementwise(
            f"{prefix}.rot_{n}",
            f"{label} {n}",
            ctx.wires(f"{prefix}.hook_{n}"),
            f"{prefix}.hook_rot_{n}",
            ctx,
            cost=ELEMENT_COST["rotate"],
            kind="rotate",
            params=params if n == "q" else 0,
            note="rotates d_head by an angle set by pos",
        )
        for n in "qk"
    ]
    return group(f"{prefix}.rotate", label, boxes, layout="tuple")


def _heads(
    module: nn.Module,
    prefix: str,
    ctx: PartContext,
    gated: bool,
    scores_label: str = "q k^T / sqrt(d_head)",
    q_names: tuple[str, ...] | None = None,
) -> Node:
    """Scores, weighting, mix with V. A gated module applies its gate before `hook_z`, so
    then the mix box is not the hooked tensor (the gate box is). `q_names`: axis names of
    the queries when they are not `[batch, pos, heads, d_head]` (the scores join the last)."""
    q_hook = f"{prefix}.hook_rot_q" if ctx.has(f"{prefix}.hook_rot_q") else f"{prefix}.hook_q"
    q = ctx.wires(q_hook, q_names)
    scores_hook, pattern_hook = f"{prefix}.hook_attn_scores", f"{prefix}.hook_pattern"
    scores_wires = ctx.wires(scores_hook)
    alibi = " + ALiBi" if isinstance(ctx.positions, ALiBiPositions) else ""
    scores = leaf(
        f"{prefix}.scores",
        f"{scores_label}{alibi}",
        "contract",
        out=scores_wires,
        inputs=(q, q),
        hook=scores_hook,
        joined=(q[-1].name,),
        contraction=q[-1].size,
        itemsize=ctx.itemsize(scores_hook),
        note="causal mask: keys after the query are -inf" if ctx.causal else "no causal mask",
    )
    label, cost, normalizes = _weighting(module)
    window = _window(module)
    if window and not normalizes:  # no reduction to mark: the label carries the window
        label = f"{label}, {window}"
    pattern = elementwise(
        f"{prefix}.weights",
        label,
        scores_wires,
        pattern_hook,
        ctx,
        cost=cost,
        kind="reduce" if normalizes else "elementwise",
        # a local window limits the reduction to the keys it shows: marked on key_pos
        reduced=(f"key_pos ({window})" if window else "key_pos",) if normalizes else (),
        note=f"local attention: {window}; hidden keys get weight 0" if window else "",
    )
    z_hook = f"{prefix}.hook_z"
    mix = leaf(
        f"{prefix}.mix",
        "pattern v",
        "contract",
        out=ctx.wires(z_hook),
        inputs=(scores_wires, ctx.wires(f"{prefix}.hook_v")),
        hook=None if gated else z_hook,
        joined=("key_pos",),
        contraction=size_of(scores_wires, "key_pos", z_hook),
        itemsize=ctx.itemsize(z_hook),
    )
    n_heads = size_of(q, "heads", prefix)
    return group(f"{prefix}.heads", f"heads x{n_heads}", [scores, pattern, mix])


def _out(module: nn.Module, prefix: str, z: tuple[Axis, ...], x: tuple[Axis, ...]) -> Node:
    contraction = size_of(z, "heads", prefix) * size_of(z, "d_head", prefix)
    return leaf(
        f"{prefix}.out",
        "W_O",
        "linear",
        out=x,
        inputs=(z,),
        joined=("heads", "d_head"),
        contraction=contraction,
        per_element=1.0,
        param_bytes=param_bytes(module, "W_O", "b_O"),
    )


def _gate(module: nn.Module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> list[Node]:
    gate_hook, z = f"{prefix}.hook_gate", ctx.wires(f"{prefix}.hook_z")
    w_g = linear(
        f"{prefix}.gate",
        "sigmoid(x W_G)",
        x,
        gate_hook,
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_G", "b_G"),
    )
    apply = elementwise(
        f"{prefix}.gated",
        "z * gate",
        z,
        f"{prefix}.hook_z",
        ctx,
        cost=1,
        kind="multiply",
        note="one gate per head, broadcast over d_head",
    )
    return [w_g, apply]


@diagram_rule(QKVAttention)
def attention_diagram(module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    gated = isinstance(module, GatedAttentionModule)
    parts = [
        _qkv(module, prefix, x, ctx),
        _rotation(prefix, ctx),
        _heads(module, prefix, ctx, gated),
    ]
    if gated:
        parts += _gate(module, prefix, x, ctx)
    parts.append(_out(module, prefix, ctx.wires(f"{prefix}.hook_z"), x))
    label, _, _ = _weighting(module)
    suffix = ", gated" if gated else ""
    return group(prefix, f"attention ({label}{suffix})", parts, kind="attention")


def _state_wires(q: tuple[Axis, ...], prefix: str) -> tuple[Axis, ...]:
    e = size_of(q, "d_head", prefix)
    return axes(
        ("batch", q[0].size), ("heads", size_of(q, "heads", prefix)), ("d_head", e), ("d_head_v", e)
    )


def _recurrent(module, prefix, x, ctx, first, state_label: str, per_token: int, z_after=False):
    """Q, K, V, the mixer's own steps, a state box (a contraction over pos) and the read-out
    (`z_after`: `hook_z` comes after a later step, so the read-out is not hooked)."""
    q = ctx.wires(f"{prefix}.hook_q")
    n_pos = size_of(q, "pos", prefix)
    state = leaf(
        f"{prefix}.state",
        state_label,
        "state",
        out=_state_wires(q, prefix),
        inputs=(q, q),
        joined=("pos",),
        contraction=per_token * n_pos,
        note="recurrent form: one d_head x d_head state per head, causal over pos",
    )
    z_hook = f"{prefix}.hook_z"
    read = leaf(
        f"{prefix}.read",
        "q S",
        "contract",
        out=ctx.wires(z_hook),
        inputs=(q,),
        hook=None if z_after else z_hook,
        joined=("d_head",),
        contraction=size_of(q, "d_head", prefix),
    )
    parts = [_qkv(module, prefix, x, ctx), _rotation(prefix, ctx), *first, state, read]
    return parts


@diagram_rule(NormLinearAttention)
def linear_attention_diagram(module, prefix, x, ctx) -> Node:
    q = ctx.wires(f"{prefix}.hook_q")
    phi = elementwise(f"{prefix}.phi", "phi = 1 + elu (q, k)", q, None, ctx, cost=3)
    parts = _recurrent(module, prefix, x, ctx, [phi], "S += phi(k)^T v", 1, z_after=True)
    parts.append(
        elementwise(
            f"{prefix}.norm",
            "RMSNorm",
            ctx.wires(f"{prefix}.hook_z"),
            f"{prefix}.hook_z",
            ctx,
            cost=ELEMENT_COST["rmsnorm"],
            kind="reduce",
            reduced=("d_head",),
            params=param_bytes(module, "norm_w"),
        )
    )
    parts.append(_out(module, prefix, ctx.wires(f"{prefix}.hook_z"), x))
    return group(prefix, "linear attention (TransNormer)", parts, kind="attention")


@diagram_rule(DeltaNetMixer)
def deltanet_diagram(module, prefix, x, ctx) -> Node:
    q = ctx.wires(f"{prefix}.hook_q")
    l2 = elementwise(
        f"{prefix}.l2",
        "L2 normalize (q, k)",
        q,
        None,
        ctx,
        cost=3,
        kind="reduce",
        reduced=("d_head",),
    )
    beta = linear(
        f"{prefix}.beta",
        "beta = sigmoid(x W_beta)",
        x,
        f"{prefix}.hook_beta",
        ctx,
        joined=("d_model",),
        params=param_bytes(module, "W_beta", "b_beta"),
    )
    # the delta rule costs two d_head x d_head products per token and head (S k, then v k^T)
    parts = _recurrent(module, prefix, x, ctx, [l2, beta], "S += beta (v - S k) k^T", 2)
    parts.append(_out(module, prefix, ctx.wires(f"{prefix}.hook_z"), x))
    return group(prefix, "DeltaNet (delta rule)", parts, kind="attention")
