"""The data of a neural circuit diagram (Abbott 2024): axes, boxes and their nesting.

A diagram is a tree of `Node`s. A leaf is one operation (a box); a group holds children
composed left to right (`layout="seq"`), a residual branch whose input is copied around it
and added back (`"residual"`), branches fed the same input whose outputs form a tuple
(`"tuple"`), branches summed with the input (`"parallel"`, the GPT-J block) or a block run
again and again (`"loop"`). Wires are the `output` axes of a box: one labelled wire per axis,
with the size measured in the traced forward pass.

Costs follow one convention, written once here (docs/diagrams.md repeats it): a contraction
costs 2 FLOPs per multiply-add (`2 * prod(output) * prod(joined)`), an elementwise op
`per_element * prod(output)` FLOPs (table `ELEMENT_COST`), memory is the bytes of the box's
output activation and of the parameters it owns.

Example:
    >>> a = axes(("pos", 8), ("d_model", 64))
    >>> box = leaf("x.norm", "LayerNorm", "norm", out=a, reduced=("d_model",), per_element=7)
    >>> box.flops
    3584
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

# FLOPs per output element of elementwise and reduction boxes (a stated convention: the
# paper counts contractions; these keep the cheap ops visible without pretending precision).
ELEMENT_COST = {
    "add": 1,
    "multiply": 1,
    "relu": 1,
    "relu2": 2,
    "gelu": 8,
    "silu": 4,
    "sigmoid": 4,
    "softmax": 5,
    "layernorm": 7,
    "rmsnorm": 4,
    "crmsnorm": 5,
    "rotate": 3,
    "topk": 2,
    "poly": 8,
}

LAYOUTS = ("seq", "residual", "tuple", "parallel", "loop")


@dataclasses.dataclass(frozen=True)
class Axis:
    """One wire: a named axis and its size (from the traced tensor)."""

    name: str
    size: int

    @property
    def text(self) -> str:
        return f"{self.name} {self.size}"


@dataclasses.dataclass(frozen=True)
class Node:
    """A box (leaf) or a group of boxes. Costs of a group are the sums over its children."""

    id: str
    label: str
    kind: str
    output: tuple[Axis, ...] = ()
    inputs: tuple[tuple[Axis, ...], ...] = ()
    hook: str | None = None
    joined: tuple[str, ...] = ()  # axes a contraction sums over (the paper's joined wires)
    reduced: tuple[str, ...] = ()  # axes a reduction or normalisation runs along
    flops: int = 0
    act_bytes: int = 0
    param_bytes: int = 0
    note: str = ""
    layout: str = "seq"
    repeat: int = 1  # "loop" groups: how many times the body runs
    children: tuple[Node, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.children)

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first, in drawing order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, node_id: str) -> Node:
        """The node with id `node_id` below (or at) this one."""
        for node in self.walk():
            if node.id == node_id:
                return node
        from workbench.core.registry import suggest

        ids = [n.id for n in self.walk()]
        raise KeyError(f"No diagram node {node_id!r}. {suggest(node_id, ids)}")

    def signature(self) -> str:
        """Structure as text: kind, label, wires, joined/reduced axes (for snapshot tests)."""
        wires = ",".join(a.text for a in self.output)
        marks = "".join(
            f" {sym}{','.join(names)}"
            for sym, names in (("join:", self.joined), ("over:", self.reduced))
            if names
        )
        head = f"{self.kind}:{self.label}[{wires}]{marks}"
        if not self.children:
            return head
        inner = " ".join(child.signature() for child in self.children)
        return f"{head}<{self.layout}{'x' + str(self.repeat) if self.repeat > 1 else ''}: {inner}>"


def axes(*pairs: tuple[str, int]) -> tuple[Axis, ...]:
    return tuple(Axis(name, int(size)) for name, size in pairs)


def numel(wires: tuple[Axis, ...]) -> int:
    return math.prod(a.size for a in wires)


def leaf(
    node_id: str,
    label: str,
    kind: str,
    *,
    out: tuple[Axis, ...],
    inputs: tuple[tuple[Axis, ...], ...] = (),
    hook: str | None = None,
    joined: tuple[Axis, ...] | tuple[str, ...] = (),
    reduced: tuple[str, ...] = (),
    per_element: float = 0.0,
    contraction: int = 0,
    param_bytes: int = 0,
    itemsize: int = 4,
    note: str = "",
) -> Node:
    """A box. `contraction` is the product of the joined axis sizes (0: no contraction);
    FLOPs = 2 * out * contraction + per_element * out."""
    n_out = numel(out)
    flops = 2 * n_out * contraction + round(per_element * n_out)
    names = tuple(a.name if isinstance(a, Axis) else a for a in joined)
    return Node(
        id=node_id,
        label=label,
        kind=kind,
        output=out,
        inputs=inputs,
        hook=hook,
        joined=names,
        reduced=reduced,
        flops=int(flops),
        act_bytes=n_out * itemsize,
        param_bytes=param_bytes,
        note=note,
    )


def group(
    node_id: str,
    label: str,
    children: list[Node] | tuple[Node, ...],
    *,
    layout: str = "seq",
    kind: str = "group",
    hook: str | None = None,
    repeat: int = 1,
    note: str = "",
    output: tuple[Axis, ...] | None = None,
) -> Node:
    """A group; its output defaults to its last child's, costs are summed (times `repeat`
    for the FLOPs and activations of a loop; its parameters exist once)."""
    if layout not in LAYOUTS:
        raise ValueError(f"group {node_id!r}: layout {layout!r} is not one of {LAYOUTS}")
    kids = tuple(c for c in children if c is not None)
    if not kids:
        raise ValueError(f"group {node_id!r} has no children")
    return Node(
        id=node_id,
        label=label,
        kind=kind,
        layout=layout,
        hook=hook,
        repeat=repeat,
        note=note,
        output=kids[-1].output if output is None else output,
        inputs=kids[0].inputs,
        flops=repeat * sum(c.flops for c in kids),
        act_bytes=repeat * sum(c.act_bytes for c in kids),
        param_bytes=sum(c.param_bytes for c in kids),
        children=kids,
    )
