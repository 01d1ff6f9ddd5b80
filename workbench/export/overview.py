"""The figure of `StatsOverviewResult` ("Attention entropy" and three more `[layer, head]`
panels, then the MLP bars).

Each heatmap cell is labelled with its value, so the panels read without colour bars.

Example:
    >>> overview_figure(result).write_html("overview.html")
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.overview import StatsOverviewResult
from workbench.export.registry import figure

PANELS = {
    "entropy": "entropy (nats)",
    "max_weight": "max weight",
    "sink": "sink (key 0)",
    "n_eff": "n_eff",
}


@figure.register(StatsOverviewResult)
def overview_figure(result: StatsOverviewResult) -> go.Figure:
    """One row: entropy, max weight, sink, n_eff heatmaps (layer rows, head columns) and the
    MLP nonzero fraction per layer."""
    titles = [*PANELS.values(), "MLP nonzero"]
    fig = make_subplots(rows=1, cols=5, subplot_titles=titles, horizontal_spacing=0.05)
    n_layers, n_heads = result.entropy.shape
    for col, name in enumerate(PANELS, start=1):
        values = getattr(result, name).double().numpy()
        fig.add_trace(
            go.Heatmap(
                z=values,
                x=[str(h) for h in range(n_heads)],
                y=[str(layer) for layer in range(n_layers)],
                colorscale="Viridis",
                showscale=False,
                texttemplate="%{z:.2f}",
                name=name,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="head", type="category", row=1, col=col)
        fig.update_yaxes(type="category", autorange="reversed", row=1, col=col)
    fig.update_yaxes(title_text="layer", row=1, col=1)
    layers = [str(layer) for layer in range(n_layers)]
    fig.add_trace(
        go.Bar(x=layers, y=result.mlp_nonzero_frac.double().numpy(), name="nonzero fraction"),
        row=1,
        col=5,
    )
    fig.update_xaxes(title_text="layer", type="category", row=1, col=5)
    # The model name goes into the layout's metadata, not a title: paper figures are
    # captioned in the text, and a title would collide with the panel titles.
    fig.update_layout(showlegend=False, meta={"model_name": result.metadata.model_name})
    return fig
