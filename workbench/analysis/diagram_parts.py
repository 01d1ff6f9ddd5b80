"""Shared pieces of diagram extraction: the traced-shape context, parameter sizes, and the
registry that picks the drawing rule of a module by its class.

A rule is `rule(module, prefix, x, ctx) -> Node`: `prefix` is the module's hook prefix
(`blocks.0.attn`), `x` the axes of its input wire. Rules read sizes from the trace (`ctx`),
never from the config; the module's class (and its own attributes) choose the boxes.

Example:
    >>> @diagram_rule(RMSNormModule)
    ... def rms(module, prefix, x, ctx): ...
    >>> build_part(model.blocks[0].ln1, "blocks.0.ln1", x, ctx)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn
from torch.nn.utils import parametrize

from workbench.analysis.diagram_nodes import Axis, Node, leaf, numel
from workbench.analysis.diagram_trace import Trace

Rule = Callable[[nn.Module, str, tuple[Axis, ...], "PartContext"], Node]
_RULES: dict[type, Rule] = {}


@dataclasses.dataclass(frozen=True)
class PartContext:
    """The trace, plus helpers that name a hook's wires and their element size."""

    trace: Trace
    positions: nn.Module | None = None  # the model's position module (rotation, ALiBi)
    causal: bool = True  # decoder (keys after the query are masked) or encoder

    def wires(self, hook: str, names: tuple[str, ...] | None = None) -> tuple[Axis, ...]:
        return self.trace.wires(hook, names)

    def itemsize(self, hook: str) -> int:
        return self.trace.itemsize(hook)

    def has(self, hook: str) -> bool:
        return self.trace.has(hook)


def diagram_rule(*classes: type) -> Callable[[Rule], Rule]:
    """Register `rule` as the drawing of modules of `classes` (and their subclasses)."""

    def register(rule: Rule) -> Rule:
        for cls in classes:
            _RULES[cls] = rule
        return rule

    return register


def rule_for(module: nn.Module) -> Rule | None:
    for cls in type(module).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


def build_part(module: nn.Module, prefix: str, x: tuple[Axis, ...], ctx: PartContext) -> Node:
    """The diagram of `module`; a class without a rule becomes one box of kind "unknown"
    (drawn and counted as such, so a missing rule is visible, never hidden)."""
    rule = rule_for(module)
    if rule is not None:
        return rule(module, prefix, x, ctx)
    return leaf(
        prefix,
        type(module).__name__,
        "unknown",
        out=x,
        inputs=(x,),
        param_bytes=param_bytes(module),
        note="no diagram rule for this class",
    )


def param_bytes(module: nn.Module, *names: str) -> int:
    """Bytes of the named parameters of `module` (all of its own and its children's when no
    name is given). Parametrized weights (sigmaReparam) are read through the module."""
    if not names:
        return sum(p.numel() * p.element_size() for p in module.parameters())
    total = 0
    for name in names:
        if parametrize.is_parametrized(module, name):  # the original and its own parameters
            total += param_bytes(module.parametrizations[name])
            continue
        tensor = getattr(module, name, None)
        if tensor is not None:
            total += tensor.numel() * tensor.element_size()
    return total


def size_of(wires: tuple[Axis, ...], name: str, where: str) -> int:
    """The size of axis `name` among `wires` (raises naming `where` if it is missing)."""
    for axis in wires:
        if axis.name == name:
            return axis.size
    raise KeyError(f"{where}: no axis {name!r} among {[a.name for a in wires]}")


def linear(
    node_id: str,
    label: str,
    x: tuple[Axis, ...],
    hook: str,
    ctx: PartContext,
    *,
    joined: tuple[str, ...],
    params: int,
    out: tuple[Axis, ...] | None = None,
    bias: bool = True,
    names: tuple[str, ...] | None = None,
    shape_only: bool = False,
) -> Node:
    """A contraction of `x` with a weight: the `joined` axes of `x` are summed over. The
    output wires are those of `hook`; `shape_only`: the box's own output has no hook point,
    `hook` only lends its (equal) shape, so the box is not linked to it."""
    out = ctx.wires(hook, names) if out is None else out
    contraction = numel(tuple(a for a in x if a.name in joined))
    return leaf(
        node_id,
        label,
        "linear",
        out=out,
        inputs=(x,),
        hook=None if shape_only else hook,
        joined=joined,
        contraction=contraction,
        per_element=1.0 if bias else 0.0,
        param_bytes=params,
        itemsize=ctx.itemsize(hook),
    )


def elementwise(
    node_id: str,
    label: str,
    x: tuple[Axis, ...],
    hook: str | None,
    ctx: PartContext,
    *,
    cost: float,
    kind: str = "elementwise",
    reduced: tuple[str, ...] = (),
    out: tuple[Axis, ...] | None = None,
    params: int = 0,
    note: str = "",
) -> Node:
    """A box applied per element (or along `reduced` axes, e.g. softmax over key_pos)."""
    if out is None:
        out = ctx.wires(hook) if hook is not None else x
    size = ctx.itemsize(hook) if hook is not None else 4
    return leaf(
        node_id,
        label,
        kind,
        out=out,
        inputs=(x,),
        hook=hook,
        reduced=reduced,
        per_element=cost,
        param_bytes=params,
        itemsize=size,
        note=note,
    )
