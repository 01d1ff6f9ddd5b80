"""The paper figure of `PatchingResult`: a heatmap per method (activation patching, AtP,
normalized effect on one diverging scale) and, when both ran, AtP against patching per patch
with the Pearson r.

Example:
    >>> patching_figure(result).write_html("patching.html")
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.patching import PatchingResult, as_matrix, shown_values
from workbench.export.registry import figure
from workbench.export.style import plotly_text

SHORT = {"patching": "activation patching", "attribution": "AtP estimate"}


@figure.register(PatchingResult)
def patching_figure(result: PatchingResult) -> go.Figure:
    methods = result.methods
    panels = [SHORT[m] for m in methods]
    if len(methods) == 2:
        panels.append(f"AtP vs patching, r = {result.pearson_r:.3f}")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.14)
    shown = {m: shown_values(result, m) for m in methods}
    bound = max(float(np.nanmax(np.abs(v.double().numpy()))) for v, _ in shown.values()) or 1.0
    for col, method in enumerate(methods, start=1):
        values, label = shown[method]
        grid = as_matrix(result, values)
        z = grid["values"].double().numpy()
        labels = grid["col_labels"] or [str(i) for i in range(z.shape[1])]
        rows = grid["row_labels"] or [str(i) for i in range(z.shape[0])]
        fig.add_trace(go.Heatmap(z=z, x=[plotly_text(t) for t in labels], y=rows,
                                 colorscale="RdBu_r", zmid=0, zmin=-bound, zmax=bound,
                                 showscale=col == 1, colorbar={"title": {"text": label}}),
                      row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text=grid["col_axis"], type="category", row=1, col=col)
        fig.update_yaxes(title_text=grid["row_axis"] if col == 1 else None, type="category",
                         autorange="reversed", row=1, col=col)  # fmt: skip
    if len(methods) == 2:
        _agreement(fig, result, col=3)
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


def _agreement(fig: go.Figure, result: PatchingResult, col: int) -> None:
    x = result.patched.double().flatten().numpy()
    y = result.attribution.double().flatten().numpy()
    low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="patches", showlegend=False),
                  row=1, col=col)  # fmt: skip
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line_dash="dash",
                             line_color="gray", showlegend=False), row=1, col=col)  # fmt: skip
    fig.update_xaxes(title_text="patched metric", row=1, col=col)
    fig.update_yaxes(title_text="AtP estimate", row=1, col=col)
