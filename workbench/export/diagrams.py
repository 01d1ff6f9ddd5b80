"""The paper figure of `DiagramResult`, for the HTML report and `export()` to PDF/PNG.

The figure is the model with its blocks closed (one box each: embedding, blocks, final norm,
unembedding, with their costs). It is the diagram's own SVG placed as a vector image in a
plotly figure, so text scales with the drawing at any size (plotly's own text would keep its
pixel size and overlap when the figure is shrunk to a column). `result.export("x.svg")` and
`result.to_svg(root=...)` give any level in full.

Example:
    >>> diagram_figure(result).write_html("diagram.html")
"""

from __future__ import annotations

import base64

import plotly.graph_objects as go

from workbench.analysis.diagrams import DiagramResult
from workbench.export.diagram_layout import Scene, layout
from workbench.export.diagram_svg import scene_svg
from workbench.export.registry import figure

MAX_WIDTH_PX = 960  # the report's text column; wider diagrams are scaled down (zoom in)


def scene_figure(scene: Scene) -> go.Figure:
    """A plotly figure showing the scene's SVG as one image in pixel coordinates."""
    svg = base64.b64encode(scene_svg(scene).encode()).decode("ascii")
    width = min(scene.width, MAX_WIDTH_PX)
    height = scene.height * width / scene.width
    fig = go.Figure()
    fig.add_layout_image(
        source=f"data:image/svg+xml;base64,{svg}", xref="x", yref="y", x=0, y=0,
        sizex=scene.width, sizey=scene.height, sizing="stretch", layer="below",
    )  # fmt: skip
    fig.update_layout(
        width=int(width) + 20, height=int(height) + 20, plot_bgcolor="white",
        paper_bgcolor="white", margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False,
        xaxis={"visible": False, "range": [0, scene.width]},
        yaxis={"visible": False, "range": [scene.height, 0], "scaleanchor": "x"},
    )  # fmt: skip
    return fig


@figure.register(DiagramResult)
def diagram_figure(result: DiagramResult) -> go.Figure:
    """The model with its blocks closed."""
    fig = scene_figure(layout(result.root, depth=1, title=result.title()))
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig
