"""Paper figures of the activation sparsity results (registered per result type). Every axis
that shows a firing fraction names the metric: "nonzero fraction (|a| > 0)" for ReLU-family
MLPs, "thresholded fraction (|a| > t)" otherwise.

Example:
    >>> sparsity_figure(compute(model)).write_html("sparsity.html")
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from workbench.analysis.sparsity import SparsityResult
from workbench.analysis.sparsity_sweep import SparsitySweepResult
from workbench.analysis.sparsity_training import SparsityTrainingResult
from workbench.analysis.top_contexts import TopContextsResult
from workbench.export.registry import figure


@figure.register(SparsityResult)
def sparsity_figure(result: SparsityResult) -> go.Figure:
    """Left: per layer the firing fraction over tokens (box 25-75%, whiskers 5-95%, median,
    dashed mean), in percent of d_mlp. Right: each layer's neurons sorted by firing frequency
    (log scale), with the dead and always-on counts in the legend."""
    # Panels are named on their x axes: subplot titles would collide with the figure title.
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    layers = [str(layer) for layer in range(len(result.nonzero_frac))]
    q = 100 * result.quantiles.double()
    fig.add_trace(go.Box(x=layers, q1=q[:, 1], median=q[:, 2], q3=q[:, 3], lowerfence=q[:, 0],
                         upperfence=q[:, 4], mean=100 * result.nonzero_frac.double(),
                         boxmean=True, name="tokens", showlegend=False), row=1, col=1)  # fmt: skip
    frequency = 100 * result.firing_frequency
    for layer in range(len(layers)):
        ordered = frequency[layer].sort(descending=True).values.clamp_min(1e-3)
        name = (f"layer {layer}: {int(result.n_dead[layer])} dead, "
                f"{int(result.n_always_on[layer])} always on")  # fmt: skip
        fig.add_trace(go.Scatter(x=list(range(result.d_mlp)), y=ordered.numpy(), mode="lines",
                                 name=name), row=1, col=2)  # fmt: skip
    label = result.metric_label
    fig.update_xaxes(title_text="layer (distribution over tokens)", type="category", row=1, col=1)
    fig.update_yaxes(title_text=f"{label}, % of {result.d_mlp}", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="neuron rank (sorted by firing frequency)", row=1, col=2)
    fig.update_yaxes(title_text="firing frequency, % of tokens", type="log", row=1, col=2)
    fig.update_layout(title_text=f"MLP activation sparsity: {label}",
                      meta={"model_name": result.metadata.model_name,
                            "threshold": result.threshold})  # fmt: skip
    return fig


@figure.register(TopContextsResult)
def top_contexts_figure(result: TopContextsResult) -> go.Figure:
    """Per layer, every neuron's highest activation over the corpus, sorted."""
    fig = go.Figure()
    top = result.values[..., 0].double()
    for layer in range(top.shape[0]):
        real = top[layer][torch.isfinite(top[layer])]
        fig.add_trace(go.Scatter(y=real.sort(descending=True).values.numpy(), mode="lines",
                                 name=f"layer {layer}"))  # fmt: skip
    fig.update_xaxes(title_text="neuron rank")
    fig.update_yaxes(title_text="highest activation over the corpus")
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


@figure.register(SparsityTrainingResult)
def emergence_figure(result: SparsityTrainingResult) -> go.Figure:
    """Probe firing fraction per layer (%, left axis) and the training loss (right, dashed)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = result.steps.numpy()
    for layer, values in enumerate(100 * result.nonzero_frac.T.double()):
        fig.add_trace(go.Scatter(x=steps, y=values.numpy(), name=f"layer {layer}"),
                      secondary_y=False)  # fmt: skip
    fig.add_trace(go.Scatter(x=steps, y=result.loss.numpy(), name="loss", line_dash="dash",
                             line_color="gray"), secondary_y=True)  # fmt: skip
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=f"{result.metric_label}, %", rangemode="tozero",
                     secondary_y=False)  # fmt: skip
    fig.update_yaxes(title_text="loss (nats/token)", secondary_y=True)
    fig.update_layout(title_text=f"Emergence of sparsity: probe {result.metric_label}",
                      legend_x=1.1,  # clear of the right axis title
                      meta={"model_name": result.metadata.model_name})  # fmt: skip
    return fig


@figure.register(SparsitySweepResult)
def sweep_figure(result: SparsitySweepResult) -> go.Figure:
    """Left: validation nonzero % vs parameters, one line per depth (plain ReLU), top-k runs
    as stars. Right: probe nonzero % over training (log y) of the widest runs and top-k."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)  # panels named on the x axes
    label = result.metric_label
    relu = result.k == 0
    for depth in sorted(set(result.depth[relu].tolist())):
        runs = (relu & (result.depth == depth)).nonzero().flatten()
        runs = runs[result.params[runs].argsort()]
        fig.add_trace(go.Scatter(x=result.params[runs].numpy(),
                                 y=100 * result.nonzero_frac[runs].double().numpy(),
                                 mode="lines+markers", name=f"ReLU, depth {depth}"),
                      row=1, col=1)  # fmt: skip
    for i in (~relu).nonzero().flatten().tolist():
        star = go.Scatter(x=[int(result.params[i])], y=[100 * float(result.nonzero_frac[i])],
                          mode="markers", marker_symbol="star", marker_size=12,
                          name=result.names[i])  # fmt: skip
        fig.add_trace(star, row=1, col=1)
    curves = 100 * result.curves.double()
    shown = (result.width == result.width.max()) | ~relu  # the widest runs and top-k: readable
    for i in shown.nonzero().flatten().tolist():
        line = go.Scatter(x=result.steps.numpy(), y=curves[i].numpy(), mode="lines",
                          name=f"{result.names[i]} (probe)")  # fmt: skip
        fig.add_trace(line, row=1, col=2)
    fig.update_xaxes(title_text="parameters (validation windows)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="training step (probe batch)", row=1, col=2)
    fig.update_yaxes(title_text=f"{label}, %", row=1, col=1)
    fig.update_yaxes(title_text=f"{label}, %", type="log", row=1, col=2)
    fig.update_layout(title_text=f"Sparsity vs size and step: {label}",
                      meta={"model_name": result.metadata.model_name})  # fmt: skip
    return fig
