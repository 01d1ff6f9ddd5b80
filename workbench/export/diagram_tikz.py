"""TikZ of a circuit diagram: the same primitives as the SVG, as a standalone LaTeX
document (`pdflatex diagram.tex` gives a cropped PDF). Labels are escaped for LaTeX. Only
`standalone` and TikZ are needed: text is Computer Modern Sans in LaTeX's default encoding
(no font packages to be missing), with `|`, `<`, `>` as the text symbols it lacks.

Example:
    >>> Path("block.tex").write_text(diagram_tikz(result.root.find("blocks.0")))
"""

from __future__ import annotations

from typing import Any

from workbench.analysis.diagram_nodes import Node
from workbench.export.diagram_layout import Scene, layout

PX_PER_CM = 50.0  # 1 cm in the PDF per 50 SVG px (a 700 px block is 14 cm wide)
_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",  # the default (OT1) text font has no |, < or >
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _pt(x: float, y: float) -> str:
    return f"({x / PX_PER_CM:.3f},{-y / PX_PER_CM:.3f})"


def _hex6(hex_color: str) -> str:
    """`#abc` or `#aabbcc` as the six hex digits xcolor's HTML model requires."""
    digits = hex_color.lstrip("#").upper()
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    if len(digits) != 6:
        raise ValueError(f"not a hex colour: {hex_color!r}")
    return digits


def _color(hex_color: str, names: dict[str, str]) -> str:
    if hex_color == "none":
        return "none"
    if hex_color not in names:
        names[hex_color] = f"c{len(names)}"
    return names[hex_color]


def _command(item: dict[str, Any], names: dict[str, str]) -> str:
    kind = item["t"]
    if kind == "rect":
        style = "dashed" if item["dash"] else "solid"
        fill = _color(item["fill"], names)
        corner = _pt(item["x"] + item["w"], item["y"] + item["h"])
        return (
            f"\\draw[{style}, fill={fill}, rounded corners=1pt, line width=0.4pt] "
            f"{_pt(item['x'], item['y'])} rectangle {corner};"
        )
    if kind == "line":
        style = "dashed" if item["dash"] else "solid"
        color = _color(item["color"], names)
        return (
            f"\\draw[{style}, draw={color}, line width={item['width'] * 0.4:.2f}pt] "
            f"{_pt(item['x1'], item['y1'])} -- {_pt(item['x2'], item['y2'])};"
        )
    if kind == "circle":
        fill = _color(item["fill"], names)
        radius = item["r"] / PX_PER_CM
        return f"\\draw[fill={fill}] {_pt(item['cx'], item['cy'])} circle ({radius:.3f});"
    if kind == "text":
        anchor = {"middle": "base", "start": "base west", "end": "base east"}[item["anchor"]]
        size = r"\scriptsize" if item["size"] >= 11 else r"\tiny"
        bold = r"\bfseries" if item["weight"] == "bold" else ""
        color = _color(item["fill"], names)
        return (
            f"\\node[anchor={anchor}, inner sep=0pt, text={color}, "
            f"font=\\sffamily{size}{bold}] at {_pt(item['x'], item['y'])} "
            f"{{{latex_escape(item['s'])}}};"
        )
    raise ValueError(f"unknown diagram primitive {kind!r}")


def scene_tikz(scene: Scene) -> str:
    names: dict[str, str] = {}
    commands = [_command(item, names) for item in scene.items]
    colors = [f"\\definecolor{{{n}}}{{HTML}}{{{_hex6(h)}}}" for h, n in names.items()]
    return "\n".join(
        [
            r"\documentclass[tikz, border=4pt]{standalone}",
            r"\begin{document}",
            *colors,
            r"\begin{tikzpicture}",
            *commands,
            r"\end{tikzpicture}",
            r"\end{document}",
            "",
        ]
    )


def diagram_tikz(root: Node, depth: int | None = None, title: str = "") -> str:
    """A standalone LaTeX document drawing the diagram of `root`."""
    return scene_tikz(layout(root, depth=depth, title=title))
