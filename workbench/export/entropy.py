"""Paper figures of the attention entropy results (registered per result type), plus the
with/without sigmaReparam comparison of `workbench entropy-collapse` runs.

Example:
    >>> entropy_figure(result).write_html("entropy.html")
    >>> collapse_comparison_figure(load_records("runs/collapse")).write_html("collapse.html")
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.entropy import EntropyResult
from workbench.analysis.entropy_bound import EntropyBoundResult
from workbench.analysis.entropy_length import EntropyLengthResult
from workbench.analysis.entropy_training import EntropyTrainingResult, find_collapse
from workbench.export.registry import figure


def _heatmap(values, name: str) -> go.Heatmap:
    n_layers, n_heads = values.shape
    return go.Heatmap(z=values.double().numpy(), x=[str(h) for h in range(n_heads)],
                      y=[str(layer) for layer in range(n_layers)], colorscale="Viridis",
                      showscale=False, texttemplate="%{z:.2f}", name=name)  # fmt: skip


@figure.register(EntropyResult)
def entropy_figure(result: EntropyResult) -> go.Figure:
    """Mean entropy (nats) and mean normalized entropy per layer (rows) and head (columns)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["entropy (nats)", "normalized entropy"],
                        horizontal_spacing=0.08)  # fmt: skip
    for col, name in enumerate(("entropy", "normalized_entropy"), start=1):
        fig.add_trace(_heatmap(getattr(result, name), name), row=1, col=col)
        fig.update_xaxes(title_text="head", type="category", row=1, col=col)
        fig.update_yaxes(type="category", autorange="reversed", row=1, col=col)
    fig.update_yaxes(title_text="layer", row=1, col=1)
    fig.update_layout(showlegend=False, meta={"model_name": result.metadata.model_name})
    return fig


def _collapse_marker(fig: go.Figure, record: EntropyTrainingResult, row=None, col=None) -> None:
    collapse = find_collapse(record)
    if collapse is not None:
        fig.add_vline(x=collapse.step, line_dash="dot", line_color="firebrick", row=row, col=col,
                      annotation_text=f"L{collapse.layer}H{collapse.head} < 0.1")  # fmt: skip


@figure.register(EntropyTrainingResult)
def training_figure(result: EntropyTrainingResult) -> go.Figure:
    """Layer-mean probe entropy over steps (left axis), training loss (right axis, dashed),
    the first collapse (a head below 0.1 nats) as a dotted line."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = result.steps.numpy()
    for layer, values in enumerate(result.entropy.mean(-1).T):
        fig.add_trace(go.Scatter(x=steps, y=values.numpy(), name=f"layer {layer}"),
                      secondary_y=False)  # fmt: skip
    fig.add_trace(go.Scatter(x=steps, y=result.loss.numpy(), name="loss", line_dash="dash",
                             line_color="gray"), secondary_y=True)  # fmt: skip
    _collapse_marker(fig, result)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="entropy (nats)", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="loss (nats/token)", secondary_y=True)
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


@figure.register(EntropyBoundResult)
def bound_figure(result: EntropyBoundResult) -> go.Figure:
    """Per head: measured mean entropy against the mean Theorem 3.1 bound, y = x dashed."""
    fig = go.Figure()
    n_layers = result.measured_mean.shape[0]
    if result.applies:
        for layer in range(n_layers):
            fig.add_trace(go.Scatter(x=result.bound_mean[layer].numpy(),
                                     y=result.measured_mean[layer].numpy(), mode="markers",
                                     name=f"layer {layer}"))  # fmt: skip
        top = float(result.measured_mean.max()) * 1.05
        fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line_dash="dash",
                                 line_color="gray", name="bound = measured"))  # fmt: skip
    else:
        fig.add_annotation(text=result.reason, showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")  # fmt: skip
    fig.update_xaxes(title_text="Theorem 3.1 bound (nats)", rangemode="tozero")
    fig.update_yaxes(title_text="measured entropy (nats)", rangemode="tozero")
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


@figure.register(EntropyLengthResult)
def length_figure(result: EntropyLengthResult) -> go.Figure:
    """Mean entropy per layer (solid) and of late queries (dotted) against context length."""
    fig = go.Figure()
    lengths = result.lengths.numpy()
    for layer in range(result.entropy.shape[1]):
        fig.add_trace(go.Scatter(x=lengths, y=result.entropy[:, layer].mean(-1).numpy(),
                                 mode="lines+markers", name=f"layer {layer}"))  # fmt: skip
        fig.add_trace(go.Scatter(x=lengths, y=result.entropy_late[:, layer].mean(-1).numpy(),
                                 mode="lines", line_dash="dot",
                                 name=f"layer {layer}, 2nd half"))  # fmt: skip
    fig.update_xaxes(title_text="context length (tokens)", type="log")
    fig.update_yaxes(title_text="mean entropy (nats)")
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


def collapse_comparison_figure(records: dict[str, EntropyTrainingResult]) -> go.Figure:
    """Two panels (without / with sigmaReparam): the lowest head entropy per run over
    training on a log axis; run folders are named `<reparam>-seed<k>`."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True,
                        subplot_titles=["no reparam", "sigmaReparam"])  # fmt: skip
    for name, record in records.items():
        col = 2 if name.startswith("sigma_reparam") else 1
        lowest = record.entropy.flatten(1).min(1).values.clamp_min(1e-9)
        fig.add_trace(go.Scatter(x=record.steps.numpy(), y=lowest.numpy(), mode="lines",
                                 name=name), row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_yaxes(type="log")  # both panels: collapse spans decades
    fig.update_yaxes(title_text="lowest head entropy (nats)", row=1, col=1)
    return fig
