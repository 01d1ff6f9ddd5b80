"""Blocks and the whole model as diagrams: residual splits and joins, norm placement, the
block layout (sequential or parallel), looped blocks, embedding and unembedding.

Example:
    >>> root = model_diagram(model, trace_shapes(model, tokens))
    >>> [child.label for child in root.children]
    ['embed W_E', '+ positions (learned)', 'block 0', 'block 1', 'LayerNorm', 'unembed W_U']
"""

from __future__ import annotations

import dataclasses

from torch import nn

# the rule modules register themselves on import
from workbench.analysis import (  # noqa: F401
    diagram_decay,
    diagram_forms,
    diagram_mixers,
    diagram_mlps,
    diagram_mlps_nested,
    diagram_ssm,
)
from workbench.analysis.diagram_nodes import ELEMENT_COST, Axis, Node, axes, group, leaf
from workbench.analysis.diagram_parts import PartContext, build_part, elementwise, param_bytes
from workbench.analysis.diagram_trace import Trace
from workbench.variants.block_layout import GatedResidualLayout, MacaronLayout, ParallelLayout


def _add(node_id: str, x: tuple[Axis, ...], hook: str | None, ctx: PartContext, terms=2) -> Node:
    size = ctx.itemsize(hook) if hook is not None else 4
    return leaf(
        node_id,
        "+",
        "add",
        out=x,
        inputs=(x,) * terms,
        hook=hook,
        per_element=ELEMENT_COST["add"] * (terms - 1),
        itemsize=size,
    )


def _branch(
    block, which: str, prefix: str, x: tuple[Axis, ...], ctx: PartContext, scale: float = 1.0
) -> list[Node]:
    """Input norm (unless post-LN), the sublayer, output norm (peri-LN), times `scale`."""
    n = "1" if which == "attn" else "2"
    norms = getattr(block, f"ln{n}"), getattr(block, f"ln{n}_out")
    names = f"{prefix}.ln{n}", f"{prefix}.ln{n}_out"
    module = getattr(block, which)
    return _sublayer(module, norms, names, f"{prefix}.{which}", x, ctx, block, scale)


def _sublayer(module, norms, norm_ids, module_id, x, ctx: PartContext, block, scale=1.0):
    norm_in, norm_out = norms
    parts: list[Node] = []
    if norm_in is not None and not block.placement.norm_after_add:
        parts.append(build_part(norm_in, norm_ids[0], x, ctx))
    parts.append(build_part(module, module_id, parts[-1].output if parts else x, ctx))
    if norm_out is not None:
        parts.append(build_part(norm_out, norm_ids[1], parts[-1].output, ctx))
    if scale != 1.0:  # macaron's half-step FFNs
        parts.append(
            elementwise(f"{module_id}_scale", f"x {scale:g}", x, None, ctx, cost=1, kind="multiply")
        )
    return parts


def _residual(
    block, which: str, prefix: str, x, ctx: PartContext, hook: str, scale: float = 1.0
) -> list[Node]:
    """x + branch(x): the stream is copied around the branch and added back at the join
    (post-LN normalizes the sum afterwards). A sublayer that adds nothing (the identity
    mixer) is a plain wire."""
    if getattr(getattr(block, which), "adds_nothing", False):
        wire = build_part(getattr(block, which), f"{prefix}.{which}", x, ctx)
        return [dataclasses.replace(wire, hook=hook)]
    parts = _branch(block, which, prefix, x, ctx, scale)
    post_ln = block.placement.norm_after_add
    join_hook = None if post_ln else hook
    step = group(
        f"{prefix}.{which}_residual",
        f"+ {which}",
        [*parts, _add(f"{prefix}.{which}_add", x, join_hook, ctx)],
        layout="residual",
        hook=join_hook,
    )
    if not post_ln:
        return [step]
    n = "1" if which == "attn" else "2"
    return [step, build_part(getattr(block, f"ln{n}"), f"{prefix}.ln{n}", x, ctx)]


def block_diagram(block: nn.Module, prefix: str, ctx: PartContext, label: str = "") -> Node:
    """One block, read from its layout and its norm placement."""
    x = ctx.wires(f"{prefix}.hook_resid_pre")
    label = label or f"block {block.layer}"
    if isinstance(block.layout, ParallelLayout):
        attn = group(f"{prefix}.attn_branch", "attn", _branch(block, "attn", prefix, x, ctx))
        mlp = group(f"{prefix}.mlp_branch", "mlp", _branch(block, "mlp", prefix, x, ctx))
        join = _add(f"{prefix}.add", x, f"{prefix}.hook_resid_post", ctx, terms=3)
        body = [group(f"{prefix}.parallel", "x + attn + mlp", [attn, mlp, join], layout="parallel")]
    elif isinstance(block.layout, MacaronLayout):
        body = _macaron(block, prefix, x, ctx)
    elif isinstance(block.layout, GatedResidualLayout):
        body = [_gated_step(block, w, prefix, x, ctx) for w in ("attn", "mlp")]
    elif block.mlp is None:  # attention-only (mlp="none"): one residual step, no resid_mid
        body = _residual(block, "attn", prefix, x, ctx, f"{prefix}.hook_resid_post")
    else:
        body = _residual(block, "attn", prefix, x, ctx, f"{prefix}.hook_resid_mid")
        body += _residual(block, "mlp", prefix, body[-1].output, ctx, f"{prefix}.hook_resid_post")
    return group(prefix, label, body, kind="block", hook=f"{prefix}.hook_resid_post")


def _macaron(block, prefix: str, x, ctx: PartContext) -> list[Node]:
    """x + ffn(x)/2 (the layout's own FFN), + attn, + mlp/2."""
    layout, own = block.layout, f"{prefix}.layout"
    parts = _sublayer(
        layout.mlp,
        (layout.ln, layout.ln_out),
        (f"{own}.ln", f"{own}.ln_out"),
        f"{own}.mlp",
        x,
        ctx,
        block,
        scale=0.5,
    )
    first = group(
        f"{own}.mlp_residual",
        "+ mlp / 2 (first)",
        [*parts, _add(f"{own}.mlp_add", x, f"{own}.hook_resid", ctx)],
        layout="residual",
        hook=f"{own}.hook_resid",
    )
    body = [first, *_residual(block, "attn", prefix, x, ctx, f"{prefix}.hook_resid_mid")]
    body += _residual(block, "mlp", prefix, x, ctx, f"{prefix}.hook_resid_post", scale=0.5)
    return body


def _gated_step(block, which: str, prefix: str, x, ctx: PartContext) -> Node:
    """GTrXL: the sublayer's output y (ReLU'd) meets the stream x in a GRU-type gate, which
    replaces the residual add: (1 - z) x + z h."""
    parts = _branch(block, which, prefix, x, ctx)
    if block.layout.relu:
        parts.append(elementwise(f"{prefix}.{which}_relu", "ReLU", x, None, ctx, cost=1))
    gate, gid = getattr(block.layout, f"{which}_gate"), f"{prefix}.layout.{which}_gate"
    out_hook = f"{prefix}.hook_resid_{'mid' if which == 'attn' else 'post'}"
    d = x[-1].size

    def box(key, label, names, hook=None, kind="linear", contraction=2 * d):
        return leaf(
            f"{gid}.{key}",
            label,
            kind,
            out=x,
            inputs=(x, x),
            hook=hook,
            joined=("d_model",) if contraction else (),
            contraction=contraction,
            per_element=ELEMENT_COST["sigmoid"],
            param_bytes=param_bytes(gate, *names) if names else 0,
        )

    boxes = [
        box("z", "z = sigmoid(y W_z + x U_z - b_g)", ("W_z", "U_z", "b_g"), f"{gid}.hook_z"),
        box("r", "r = sigmoid(y W_r + x U_r)", ("W_r", "U_r")),
        box("h", "h = tanh(y W_g + (r x) U_g)", ("W_g", "U_g")),
        box("mix", "(1 - z) x + z h", (), out_hook, kind="multiply", contraction=0),
    ]
    join = group(gid, "GRU gate (replaces +)", boxes, hook=out_hook)
    return group(
        f"{prefix}.{which}_residual",
        f"gate({which})",
        [*parts, join],
        layout="residual",
        hook=out_hook,
    )


def _tied_to(blocks: nn.ModuleList, i: int) -> int | None:
    """The earlier block whose parameters block `i` uses (looped models), else None."""
    if any(True for _ in blocks[i].parameters()):
        return None
    for j in range(i):
        params = dict(blocks[j].named_parameters())
        if params and all(_get(blocks[i], name) is p for name, p in params.items()):
            return j
    return None


def _get(module: nn.Module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part, None)
    return module


def _blocks(model, ctx: PartContext) -> list[Node]:
    """Every block; a looped model shows its cycle of `period` blocks once, repeated, between
    its untied prefix and suffix blocks (AlgoFormer's pre- and post-transformers)."""
    blocks = model.blocks
    tied = [_tied_to(blocks, i) for i in range(len(blocks))]
    first = next((i for i, t in enumerate(tied) if t is not None), None)
    separate = [block_diagram(b, f"blocks.{i}", ctx) for i, b in enumerate(blocks)]
    if first is None:
        return separate
    start = tied[first]  # the loop's first block; blocks before it are the prefix
    period = first - start
    end = max(i for i, t in enumerate(tied) if t is not None) + 1  # blocks after: the suffix
    if any(tied[i] != start + (i - start) % period for i in range(first, end)):
        return separate
    repeat, rest = divmod(end - start, period)
    note = (f"iteration i uses the weights of block {start} + (i - {start}) % {period}; "
            "its hooks are blocks.i.*")  # fmt: skip
    loop = group("blocks.loop", f"looped x{repeat}", separate[start:first], layout="loop",
                 repeat=repeat, kind="loop", note=note)  # fmt: skip
    tail = [
        block_diagram(
            blocks[i], f"blocks.{i}", ctx, f"block {i} (= {start + (i - start) % period})"
        )
        for i in range(end - rest, end)
    ]
    return [*separate[:start], loop, *tail, *separate[end:]]


def _embedding(model, ctx: PartContext) -> list[Node]:
    embedded = ctx.wires("hook_embed")
    tokens = embedded[:2]
    parts = [
        leaf(
            "embed",
            "embed W_E",
            "embed",
            out=embedded,
            inputs=(tokens,),
            hook="hook_embed",
            param_bytes=param_bytes(model.embed),
            itemsize=ctx.itemsize("hook_embed"),
        )
    ]
    if ctx.has("hook_pos_embed"):
        kind = type(model.pos_embed).__name__.removesuffix("Positions").lower()
        parts.append(
            leaf(
                "pos_embed",
                f"+ positions ({kind})",
                "add",
                out=embedded,
                inputs=(embedded, ctx.wires("hook_pos_embed")),
                hook="hook_pos_embed",
                per_element=1.0,
                param_bytes=param_bytes(model.pos_embed),
            )
        )
    if model.ln_embed is not None:
        parts.append(build_part(model.ln_embed, "ln_embed", embedded, ctx))
    return parts


def _unembedding(model, trace: Trace, x: tuple[Axis, ...]) -> Node:
    batch, pos, vocab = trace.output_shape
    out = axes(("batch", batch), ("pos", pos), ("d_vocab", vocab))
    tied = " (tied to W_E)" if model.unembed.tied_to is not None else ""
    return leaf(
        "unembed",
        f"unembed W_U{tied}",
        "linear",
        out=out,
        inputs=(x,),
        joined=("d_model",),
        contraction=x[-1].size,
        per_element=1.0,
        param_bytes=param_bytes(model.unembed),
    )


def model_diagram(model, trace: Trace) -> Node:
    """The whole model: embedding, blocks (or a loop), final norm, unembedding."""
    ctx = PartContext(trace, positions=model.pos_embed, causal=bool(model.cfg.causal))
    parts = _embedding(model, ctx) + _blocks(model, ctx)
    x = parts[-1].output
    if model.ln_final is not None:
        parts.append(build_part(model.ln_final, "ln_final", x, ctx))
    if model.unembed is not None:
        parts.append(_unembedding(model, trace, x))
    return group("model", model.cfg.name, parts, kind="model")
