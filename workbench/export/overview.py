"""The figure of `StatsOverviewResult`: four `[layer, head]` panels and the MLP bars.

Each heatmap cell is labelled with its value, so the panels read without colour bars.

Example:
    >>> overview_figure(result).write_html("overview.html")
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.overview import StatsOverviewResult
from workbench.export.registry import figure
from workbench.export.style import plotly_text

PANELS = {
    "entropy": "Attention entropy (nats)",
    "max_weight": "Max weight",
    "sink": "Weight on key 0",
    "n_eff": "Effective keys",
}


@figure.register(StatsOverviewResult)
def overview_figure(result: StatsOverviewResult) -> go.Figure:
    """One row: entropy, max weight, sink, n_eff heatmaps (layer rows, head columns) and the
    MLP nonzero fraction per layer."""
    titles = [*PANELS.values(), "MLP nonzero fraction"]
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
    fig.update_layout(
        showlegend=False, title=f"Statistics overview: {plotly_text(result.metadata.model_name)}"
    )
    return fig
