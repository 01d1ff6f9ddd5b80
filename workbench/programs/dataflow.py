"""Which variables each module of a Transformer Program reads, drawn as a small SVG graph.

Columns follow the order of computation: the inputs (tokens, positions), then per layer the
attention outputs and the MLP outputs. An edge runs from every variable a module reads to the
variable it writes, labelled with the role (query, key, value, first, second, input).

Example:
    >>> svg = dataflow_svg(extract(model))   # str, '<svg ...>...</svg>'
"""

from __future__ import annotations

import html

from workbench.programs.spec import ProgramSpec

NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 150, 22, 70, 10, 10
EDGE_COLORS = {"query": "#1f77b4", "key": "#ff7f0e", "value": "#2ca02c"}


def _column(name: str) -> int:
    """0 for inputs; 2l+1 for layer l's attention outputs; 2l+2 for its MLP outputs."""
    if name in ("tokens", "positions"):
        return 0
    layer = int(name.split("_")[-3])
    return 2 * layer + (1 if "attn" in name else 2)


def layout(spec: ProgramSpec) -> dict[str, tuple[float, float]]:
    """Top-left corner of each variable's box."""
    names = ["tokens", "positions", *(m.name for m in spec.modules)]
    rows: dict[int, int] = {}
    corners = {}
    for name in names:
        col = _column(name)
        row = rows.get(col, 0)
        rows[col] = row + 1
        corners[name] = (MARGIN + col * (NODE_W + COL_GAP), MARGIN + row * (NODE_H + ROW_GAP))
    return corners


def dataflow_svg(spec: ProgramSpec) -> str:
    """The graph as a standalone SVG document (text escaped)."""
    corners = layout(spec)
    edges, boxes = [], []
    for module in spec.modules:
        tx, ty = corners[module.name]
        for role, source in module.reads.items():
            sx, sy = corners[source]
            color = EDGE_COLORS.get(role, "#7f7f7f")
            edges.append(
                f'<line x1="{sx + NODE_W}" y1="{sy + NODE_H / 2}" x2="{tx}" y2="{ty + NODE_H / 2}"'
                f' stroke="{color}" stroke-width="1.2"><title>{html.escape(role)}: '
                f"{html.escape(source)} -&gt; {html.escape(module.name)}</title></line>"
            )
    numerical = set(spec.numerical)
    for name, (x, y) in corners.items():
        fill = "#fde9c9" if name in numerical else "#e8eef7"
        boxes.append(
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4" fill="{fill}"'
            f' stroke="#555"/><text x="{x + 6}" y="{y + 15}" font-size="11"'
            f' font-family="monospace">{html.escape(name)}</text>'
        )
    width = max(x for x, _ in corners.values()) + NODE_W + MARGIN
    height = max(y for _, y in corners.values()) + NODE_H + MARGIN
    legend = ", ".join(f"{role}: {color}" for role, color in EDGE_COLORS.items())
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f"<desc>edge colours {legend}; MLP inputs grey; numerical variables orange</desc>"
        + "".join(edges)
        + "".join(boxes)
        + "</svg>"
    )
