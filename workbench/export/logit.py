"""Figures of `LogitLensResult` (target probability per layer and position, each cell
labelled with that layer's top token) and `LogitAttributionResult` (components, heads).

Example:
    >>> logit_lens_figure(result).write_html("lens.html")
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.logit_attribution import LogitAttributionResult
from workbench.analysis.logit_lens import LogitLensResult
from workbench.export.registry import figure


@figure.register(LogitLensResult)
def logit_lens_figure(result: LogitLensResult) -> go.Figure:
    """Heatmap of the target's probability; text: the top-1 token of that layer."""
    columns = [f"{int(p)}:{result.token_strings[int(p)]!r}" for p in result.positions]
    top1 = [[repr(top[0])[1:-1] for top in row] for row in result.top_strings]
    fig = go.Figure(
        go.Heatmap(
            z=result.target_prob.double().numpy(),
            x=columns,
            y=result.layer_labels,
            text=top1,
            texttemplate="%{text}",
            textfont={"size": 11},
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "p(target)", "side": "right"}},
        )
    )
    fig.update_xaxes(title_text="position: input token", type="category", tickangle=-60)
    fig.update_yaxes(title_text="stream", type="category")
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


@figure.register(LogitAttributionResult)
def logit_attribution_figure(result: LogitAttributionResult) -> go.Figure:
    """Bars per component; a diverging [layer, head] heatmap when head shares exist."""
    has_heads = result.head_attr is not None
    fig = make_subplots(rows=1, cols=2 if has_heads else 1, horizontal_spacing=0.12,
                        subplot_titles=["components", "heads"] if has_heads else None)  # fmt: skip
    fig.add_trace(go.Bar(x=result.component_labels, y=result.component_attr.double().numpy()),
                  row=1, col=1)  # fmt: skip
    fig.update_xaxes(type="category", row=1, col=1)
    fig.update_yaxes(title_text="direct logit attribution", row=1, col=1)
    if has_heads:
        values = result.head_attr.double().numpy()
        bound = float(abs(values).max()) or 1.0
        fig.add_trace(
            go.Heatmap(z=values, x=[str(h) for h in range(values.shape[1])],
                       y=[str(layer) for layer in range(values.shape[0])], colorscale="RdBu_r",
                       zmid=0, zmin=-bound, zmax=bound, texttemplate="%{z:.2f}", showscale=False),
            row=1, col=2,
        )  # fmt: skip
        fig.update_xaxes(title_text="head", type="category", row=1, col=2)
        fig.update_yaxes(title_text="layer", type="category", autorange="reversed", row=1, col=2)
    fig.update_layout(showlegend=False, meta={"model_name": result.metadata.model_name})
    return fig
