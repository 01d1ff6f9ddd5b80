"""The paper figure of `DiagramResult`: the circuit diagram as a plotly figure (for the HTML
report and `export()`), drawn from the same layout as `to_svg` / `to_tikz`.

The figure shows the whole model with its first block opened down to single operations and
the other blocks collapsed, so a report of a deep model stays readable.

Example:
    >>> diagram_figure(result).write_html("diagram.html")
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from workbench.analysis.diagrams import DiagramResult
from workbench.export.diagram_layout import Scene, first_block_open, layout
from workbench.export.registry import figure


def _shape(item: dict[str, Any]) -> dict[str, Any] | None:
    line = {
        "color": item.get("color", "#333"),
        "width": item.get("width", 0.9),
        "dash": "dash" if item.get("dash") else "solid",
    }
    if item["t"] == "rect":
        fill = "rgba(0,0,0,0)" if item["fill"] == "none" else item["fill"]
        return {
            "type": "rect",
            "x0": item["x"],
            "y0": item["y"],
            "x1": item["x"] + item["w"],
            "y1": item["y"] + item["h"],
            "fillcolor": fill,
            "line": line,
            "layer": "below",
        }
    if item["t"] == "line":
        return {
            "type": "line",
            "x0": item["x1"],
            "y0": item["y1"],
            "x1": item["x2"],
            "y1": item["y2"],
            "line": line,
        }
    if item["t"] == "circle":
        r = item["r"]
        return {
            "type": "circle",
            "x0": item["cx"] - r,
            "y0": item["cy"] - r,
            "x1": item["cx"] + r,
            "y1": item["cy"] + r,
            "fillcolor": item["fill"],
            "line": line,
        }
    return None


def scene_figure(scene: Scene) -> go.Figure:
    """A plotly figure of a laid-out scene (shapes and text annotations, pixel coordinates)."""
    shapes = [s for s in map(_shape, scene.items) if s is not None]
    anchors = {"middle": "center", "start": "left", "end": "right"}
    notes = [
        {
            "x": t["x"],
            "y": t["y"],
            "text": t["s"],
            "showarrow": False,
            "xanchor": anchors[t["anchor"]],
            "yanchor": "bottom",
            "font": {"size": t["size"], "color": t["fill"]},
        }
        for t in scene.items
        if t["t"] == "text"
    ]
    fig = go.Figure()
    fig.update_layout(
        shapes=shapes,
        annotations=notes,
        width=int(scene.width) + 40,
        height=int(scene.height) + 40,
        plot_bgcolor="white",
        paper_bgcolor="white",
        margin={"l": 20, "r": 20, "t": 20, "b": 20},
        showlegend=False,
        xaxis={"visible": False, "range": [0, scene.width]},
        yaxis={"visible": False, "range": [scene.height, 0], "scaleanchor": "x"},
    )
    return fig


@figure.register(DiagramResult)
def diagram_figure(result: DiagramResult) -> go.Figure:
    """The model, its first block open down to single operations."""
    root = result.root
    scene = layout(root, expanded=first_block_open(root), title=result.title(None))
    fig = scene_figure(scene)
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig
