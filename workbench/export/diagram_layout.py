"""Layout of a circuit diagram: the `Node` tree placed left to right as primitives (boxes,
wires, text, dots) that the SVG, TikZ, plotly and widget renderers all draw the same way.

Conventions (after Abbott 2024): a tensor is a bundle of parallel wires, one per axis,
labelled `name size` above the bundle; a box is an operation, with the axes a contraction
joins (`join: d_model`) or a reduction runs along (`over: key_pos`) written inside it and
its cost below the label; a residual stream splits at a dot, runs above the branch and joins
at a `+` circle; a tuple is stacked branches separated by a dashed line; a collapsed group is
one box marked `[+]`.

Example:
    >>> scene = layout(result.root, depth=2)
    >>> scene.width, scene.height, scene.items[0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from workbench.analysis.diagram_nodes import Axis, Node

FONT = 11.0
CHAR = 0.6 * FONT  # average glyph width of Helvetica/Arial at FONT px (for box widths)
SMALL = 9.0
WIRE_GAP = 3.0  # distance between the parallel wires of one bundle
GAP = 14.0  # vertical gap between stacked branches
PAD = 8.0
LABEL_STEP = SMALL + 1.0  # vertical distance between stacked wire labels
COLORS = {
    "linear": "#cfe3f5",
    "contract": "#d9ecd0",
    "reduce": "#fde2c4",
    "norm": "#fff2b3",
    "elementwise": "#f2f2f2",
    "multiply": "#f2f2f2",
    "add": "#ffffff",
    "rotate": "#ead7f0",
    "state": "#f8d0d0",
    "conv": "#f8d0d0",
    "embed": "#e6e6e6",
    "unknown": "#ff9d9d",
}
GROUP_FILL = "#ffffff"


@dataclasses.dataclass
class Unit:
    """A placed piece: size, the y of its main wire, and its primitives (origin top-left)."""

    w: float
    h: float
    mid: float
    items: list[dict[str, Any]]

    def moved(self, dx: float, dy: float) -> list[dict[str, Any]]:
        return [_shift(item, dx, dy) for item in self.items]


@dataclasses.dataclass
class Scene:
    width: float
    height: float
    items: list[dict[str, Any]]


def _shift(item: dict[str, Any], dx: float, dy: float) -> dict[str, Any]:
    out = dict(item)
    for key in ("x", "x1", "x2", "cx"):
        if key in out:
            out[key] += dx
    for key in ("y", "y1", "y2", "cy"):
        if key in out:
            out[key] += dy
    return out


def text_width(text: str, size: float = FONT) -> float:
    return len(text) * 0.6 * size


def format_cost(flops: int, nbytes: int) -> str:
    def short(value: float, units: tuple[str, ...]) -> str:
        for unit in units:
            if value < 1000:
                return f"{value:.3g}{unit}"
            value /= 1000
        return f"{value:.3g}{units[-1]}"

    return f"{short(flops, ('', 'k', 'M', 'G', 'T'))}FLOP, {short(nbytes, ('B', 'kB', 'MB', 'GB'))}"


def wire_label(wires: tuple[Axis, ...]) -> str:
    return " | ".join(a.text for a in wires)


def _text(x, y, s, size=FONT, anchor="middle", fill="#111", weight="normal") -> dict[str, Any]:
    return {
        "t": "text",
        "x": x,
        "y": y,
        "s": s,
        "size": size,
        "anchor": anchor,
        "fill": fill,
        "weight": weight,
    }


def _line(x1, y1, x2, y2, dash=False, width=1.0, color="#333") -> dict[str, Any]:
    return {
        "t": "line",
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "dash": dash,
        "width": width,
        "color": color,
    }


def wire_axes(node: Node) -> tuple[Axis, ...]:
    """The axes a node hands on: a tuple's parts may differ (grouped-query K, V have
    kv_heads), so a tuple shows the union of its parts' axes, in order."""
    if node.layout != "tuple" or not node.children:
        return node.output
    seen: dict[tuple[str, int], Axis] = {}
    for child in node.children:
        for axis in child.output:
            seen.setdefault((axis.name, axis.size), axis)
    return tuple(seen.values())


def _out_bundle(x1: float, x2: float, y: float, node: Node) -> list[dict[str, Any]]:
    wires = wire_axes(node)
    items = _bundle(x1, x2, y, wires)
    if node.layout == "tuple" and node.children:
        top = y - (len(wires) - 1) * WIRE_GAP / 2 - 3 - len(wires) * LABEL_STEP
        items.append(
            _text((x1 + x2) / 2, top, f"tuple of {len(node.children)}", SMALL, fill="#444")
        )
    return items


def out_label_height(node: Node) -> float:
    extra = LABEL_STEP if node.layout == "tuple" and node.children else 0.0
    return label_height(wire_axes(node)) + extra


def _bundle(x1: float, x2: float, y: float, wires: tuple[Axis, ...]) -> list[dict[str, Any]]:
    """Parallel wires (one per axis) centred on y, with their label above."""
    n = max(len(wires), 1)
    top = y - (n - 1) * WIRE_GAP / 2
    items = [_line(x1, top + i * WIRE_GAP, x2, top + i * WIRE_GAP, width=0.8) for i in range(n)]
    # one label per wire, stacked above the bundle (the last axis nearest to it)
    for i, axis in enumerate(reversed(wires)):
        items.append(_text((x1 + x2) / 2, top - 3 - i * LABEL_STEP, axis.text, SMALL, fill="#444"))
    return items


def wire_length(wires: tuple[Axis, ...]) -> float:
    return max([36.0, *(text_width(a.text, SMALL) + 12 for a in wires)])


def label_height(wires: tuple[Axis, ...]) -> float:
    """Room the stacked wire labels need above a bundle's centre."""
    return len(wires) * LABEL_STEP + (len(wires) - 1) * WIRE_GAP / 2 + 4


def _box(node: Node, collapsed: bool) -> Unit:
    """One operation (or a collapsed group) as a labelled box."""
    label = node.label + ("  [+]" if collapsed else "")
    marks = [f"join: {', '.join(node.joined)}"] if node.joined else []
    marks += [f"over: {', '.join(node.reduced)}"] if node.reduced else []
    cost = format_cost(node.flops, node.act_bytes + node.param_bytes)
    lines = [label, *marks, cost]
    if node.kind == "add" and node.label == "+" and not collapsed:
        r = 9.0
        items = [
            {"t": "circle", "cx": r, "cy": r, "r": r, "id": node.id, "fill": "#fff"},
            _text(r, r + 4, "+", size=13),
        ]
        return Unit(2 * r, 2 * r, r, items)
    w = max(text_width(label), *(text_width(s, SMALL) for s in lines[1:])) + 2 * PAD
    h = 8 + FONT + SMALL * 1.3 * (len(lines) - 1) + 6
    fill = GROUP_FILL if collapsed else COLORS.get(node.kind, "#f2f2f2")
    items = [
        {
            "t": "rect",
            "x": 0,
            "y": 0,
            "w": w,
            "h": h,
            "id": node.id,
            "fill": fill,
            "dash": False,
            "group": collapsed,
            "r": 6 if collapsed else 2,
        }
    ]
    items.append(_text(w / 2, 6 + FONT, label, weight="bold" if collapsed else "normal"))
    for i, line in enumerate(lines[1:]):
        fill_text = "#666" if line is cost else "#8a3b00"
        items.append(_text(w / 2, 6 + FONT + SMALL * 1.3 * (i + 1), line, SMALL, fill=fill_text))
    return Unit(w, h, h / 2, items)


class _Layout:
    def __init__(self, expanded: Callable[[Node, int], bool]) -> None:
        self.expanded = expanded

    def unit(self, node: Node, level: int) -> Unit:
        if not node.children:
            return _box(node, collapsed=False)
        if not self.expanded(node, level):
            return _box(node, collapsed=True)
        inner = getattr(self, f"_{node.layout}")(node, level)
        return self._frame(node, inner)

    def _frame(self, node: Node, inner: Unit) -> Unit:
        """A dashed frame around an expanded group, its label and total cost on top."""
        title = f"{node.label}  ({format_cost(node.flops, node.act_bytes + node.param_bytes)})"
        top = FONT + 8
        w = max(inner.w, text_width(title, SMALL) + 4) + 2 * PAD
        h = inner.h + top + PAD
        items = [
            {
                "t": "rect",
                "x": 0,
                "y": 0,
                "w": w,
                "h": h,
                "id": node.id,
                "fill": "none",
                "dash": True,
                "group": True,
                "r": 8,
            },
            _text(PAD, FONT + 2, title, SMALL, anchor="start", fill="#333", weight="bold"),
        ]
        x0 = PAD + (w - 2 * PAD - inner.w) / 2
        items += inner.moved(x0, top)
        # the main wire crosses the frame: stubs from the frame edge to the inner unit
        y = top + inner.mid
        items += [_line(0, y, x0, y, width=0.8), _line(x0 + inner.w, y, w, y, width=0.8)]
        return Unit(w, h, y, items)

    def _seq(self, node: Node, level: int, children=None) -> Unit:
        units = [self.unit(c, level + 1) for c in (children or node.children)]
        kids = children or node.children
        mid = max([*(u.mid for u in units), *(out_label_height(c) for c in kids[:-1])])
        below = max(u.h - u.mid for u in units)
        items: list[dict[str, Any]] = []
        x = 0.0
        for i, (child, u) in enumerate(zip(kids, units, strict=True)):
            items += u.moved(x, mid - u.mid)
            x += u.w
            if i + 1 < len(units):
                length = wire_length(wire_axes(child))
                items += _out_bundle(x, x + length, mid, child)
                x += length
        return Unit(x, mid + below, mid, items)

    def _loop(self, node: Node, level: int) -> Unit:
        body = self._seq(node, level)
        y = body.h + 10
        items = body.items + [
            _line(body.w, body.mid, body.w, y, dash=True),
            _line(body.w, y, 0, y, dash=True),
            _line(0, y, 0, body.mid, dash=True),
            _text(body.w / 2, y + SMALL + 2, f"repeat x{node.repeat} (shared weights)", SMALL),
        ]
        return Unit(body.w, y + SMALL + 6, body.mid, items)

    def _residual(self, node: Node, level: int) -> Unit:
        *branch, join = node.children
        lane = 16.0
        body = self._seq(node, level, children=tuple(branch))
        join_unit = self.unit(join, level + 1)
        length = wire_length(wire_axes(branch[-1]))
        lead = 14.0
        mid = lane + max(body.mid, join_unit.mid, out_label_height(branch[-1]))
        items = [
            _line(0, mid, lead, mid, width=0.8),
            {"t": "circle", "cx": lead / 2, "cy": mid, "r": 3, "fill": "#333", "id": ""},
        ]
        items += body.moved(lead, mid - body.mid)
        jx = lead + body.w + length
        items += _out_bundle(lead + body.w, jx, mid, branch[-1])
        items += join_unit.moved(jx, mid - join_unit.mid)
        cx = jx + join_unit.w / 2
        items += [
            _line(lead / 2, mid, lead / 2, lane / 2, width=0.8),
            _line(lead / 2, lane / 2, cx, lane / 2, width=0.8),
            _line(cx, lane / 2, cx, mid - join_unit.mid, width=0.8),
        ]
        height = mid + max(body.h - body.mid, join_unit.h - join_unit.mid)
        return Unit(jx + join_unit.w, height, mid, items)

    def _stack(self, children, level: int) -> tuple[list[Unit], list[float], float]:
        units = [self.unit(c, level + 1) for c in children]
        tops, y = [], 0.0
        for u in units:
            tops.append(y)
            y += u.h + GAP
        return units, tops, y - GAP

    def _tuple(self, node: Node, level: int, children=None, join: Node | None = None) -> Unit:
        """Branches fed the same input, stacked; dashed lines separate the tuple's parts."""
        kids = children or node.children
        units, tops, height = self._stack(kids, level)
        fan, width = 18.0, max(u.w for u in units)
        mid = height / 2
        items: list[dict[str, Any]] = [
            {"t": "circle", "cx": 4, "cy": mid, "r": 3, "fill": "#333", "id": ""}
        ]
        out_x = fan + width + fan
        for i, (u, top) in enumerate(zip(units, tops, strict=True)):
            y = top + u.mid
            items += [_line(4, mid, fan, y, width=0.8), *u.moved(fan, top)]
            items += [
                _line(fan + u.w, y, out_x - fan, y, width=0.8),
                _line(out_x - fan, y, out_x, mid, width=0.8),
            ]
            if i + 1 < len(units) and join is None:
                sep = top + u.h + GAP / 2
                items.append(_line(fan, sep, fan + width, sep, dash=True, color="#999"))
        return Unit(out_x, height, mid, items)

    def _parallel(self, node: Node, level: int) -> Unit:
        *branches, join = node.children
        lane = 16.0
        stack = self._tuple(node, level, children=tuple(branches), join=join)
        join_unit = self.unit(join, level + 1)
        mid = lane + stack.mid
        items = stack.moved(0, lane)
        items += join_unit.moved(stack.w + 10, mid - join_unit.mid)
        items.append(_line(stack.w, mid, stack.w + 10, mid, width=0.8))
        cx = stack.w + 10 + join_unit.w / 2
        items += [
            _line(4, mid, 4, lane / 2, width=0.8),
            _line(4, lane / 2, cx, lane / 2, width=0.8),
            _line(cx, lane / 2, cx, mid - join_unit.mid, width=0.8),
        ]
        return Unit(stack.w + 10 + join_unit.w, lane + stack.h, mid, items)


def expansion(depth: int | None = None, expanded: set[str] | None = None):
    """Which groups are drawn open: the ids in `expanded` if given, else every group down to
    `depth` levels below the root (None: all)."""

    def is_open(node: Node, level: int) -> bool:
        if expanded is not None:
            return node.id in expanded
        return depth is None or level < depth

    return is_open


def first_block_open(root: Node) -> set[str]:
    """Ids to draw open: the root, the first block's ancestors and everything inside it."""
    path: list[Node] = []

    def find(node: Node, trail: list[Node]) -> bool:
        if node.kind == "block":
            path.extend(trail + [node])
            return True
        return any(find(child, trail + [node]) for child in node.children)

    if not find(root, []):
        return {root.id}
    return {n.id for n in path[:-1]} | {n.id for n in path[-1].walk()}


def layout(
    root: Node, depth: int | None = None, expanded: set[str] | None = None, title: str = ""
) -> Scene:
    """The whole drawing: input wire, the root, output wire, and a title line."""
    body = _Layout(expansion(depth, expanded)).unit(root, 0)
    x_in = root.inputs[0] if root.inputs else root.output
    left, right = wire_length(x_in), wire_length(wire_axes(root))
    top = (FONT + 12) if title else 6.0
    items = [_text(4, FONT + 2, title, anchor="start", weight="bold")] if title else []
    shift = max(0.0, max(label_height(x_in), out_label_height(root)) - body.mid)
    mid = top + shift + body.mid
    items += _bundle(0, left, mid, x_in)
    items += body.moved(left, top + shift)
    items += _out_bundle(left + body.w, left + body.w + right, mid, root)
    return Scene(left + body.w + right + 4, top + shift + body.h + 6, items)
