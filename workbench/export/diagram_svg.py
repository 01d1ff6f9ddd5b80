"""SVG of a circuit diagram: the primitives of `diagram_layout` as plain SVG elements, with
standard fonts (Helvetica/Arial/Liberation Sans) and every label as escaped `<text>`.

Example:
    >>> svg = diagram_svg(result.root, depth=2, title="tiny model")
    >>> Path("model.svg").write_text(svg)
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from workbench.analysis.diagram_nodes import Node
from workbench.export.diagram_layout import Scene, layout

FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', sans-serif"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _element(item: dict[str, Any]) -> str:
    kind = item["t"]
    if kind == "rect":
        dash = ' stroke-dasharray="4 3"' if item["dash"] else ""
        node = f" data-node={quoteattr(item['id'])}" if item.get("id") else ""
        return (
            f'<rect x="{_num(item["x"])}" y="{_num(item["y"])}" width="{_num(item["w"])}" '
            f'height="{_num(item["h"])}" rx="{item["r"]}" fill="{item["fill"]}" '
            f'stroke="#333" stroke-width="0.9"{dash}{node}/>'
        )
    if kind == "line":
        dash = ' stroke-dasharray="4 3"' if item["dash"] else ""
        return (
            f'<line x1="{_num(item["x1"])}" y1="{_num(item["y1"])}" x2="{_num(item["x2"])}" '
            f'y2="{_num(item["y2"])}" stroke="{item["color"]}" '
            f'stroke-width="{item["width"]}"{dash}/>'
        )
    if kind == "circle":
        node = f" data-node={quoteattr(item['id'])}" if item.get("id") else ""
        return (
            f'<circle cx="{_num(item["cx"])}" cy="{_num(item["cy"])}" r="{_num(item["r"])}" '
            f'fill="{item["fill"]}" stroke="#333" stroke-width="0.9"{node}/>'
        )
    if kind == "text":
        weight = ' font-weight="bold"' if item["weight"] == "bold" else ""
        return (
            f'<text x="{_num(item["x"])}" y="{_num(item["y"])}" font-size="{_num(item["size"])}" '
            f'text-anchor="{item["anchor"]}" fill="{item["fill"]}"{weight}>'
            f"{escape(item['s'])}</text>"
        )
    raise ValueError(f"unknown diagram primitive {kind!r}")


def scene_svg(scene: Scene) -> str:
    """An `<svg>` element of a laid-out scene."""
    body = "\n".join(_element(item) for item in scene.items)
    w, h = _num(scene.width), _num(scene.height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">\n'
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>\n{body}\n</svg>\n'
    )


def diagram_svg(root: Node, depth: int | None = None, title: str = "") -> str:
    """SVG text of the diagram of `root`, groups open down to `depth` (None: all)."""
    return scene_svg(layout(root, depth=depth, title=title))
