"""Paper figures of a `BigramResult` (`workbench.analysis.bigram`).

The registered figure has two panels: kept fraction per block matrix (log axis: fractions
span decades) and the residual-stream alignment across depth. The other figures are for
`docs/bigram.md`: mask density heatmaps, a surprisal strip and the ablation bars.

Example:
    >>> bigram_figure(result).write_html("bigram.html")
    >>> density_figure(result).write_html("density.html")
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.analysis.bigram import BigramResult
from workbench.export.registry import figure

ALIGNMENT_NAMES = ("full: current", "full: next", "subnetwork: current", "subnetwork: next")


def short_name(name: str) -> str:
    parts = name.split(".")
    return f"L{parts[1]} {parts[-1]}" if parts[0] == "blocks" else name


def _kept_bars(result: BigramResult) -> go.Bar:
    names = [short_name(n) for n in result.matrix_names]
    # A log axis cannot show 0: matrices with nothing kept get no bar and a "0" label.
    percent = [100 * v if v > 0 else None for v in result.kept_per_matrix.double().tolist()]
    text = ["" if v else "0" for v in percent]
    return go.Bar(x=names, y=percent, name="kept %", marker_color="#0072B2", text=text,
                  textposition="outside")  # fmt: skip


def _alignment_lines(result: BigramResult, fig: go.Figure, row: int, col: int) -> None:
    depth = list(range(result.alignment.shape[-1]))
    for i, name in enumerate(ALIGNMENT_NAMES):
        model, target = divmod(i, 2)
        fig.add_trace(go.Scatter(
            x=depth, y=result.alignment[model, target].numpy(), name=name, mode="lines+markers",
            line_dash="solid" if model == 0 else "dash",
            line_color="#D55E00" if target == 1 else "#009E73",
        ), row=row, col=col)  # fmt: skip


@figure.register(BigramResult)
def bigram_figure(result: BigramResult) -> go.Figure:
    """Kept % per matrix (log axis) and alignment with the current / next token by depth."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=["kept per matrix (%)", "residual alignment"])  # fmt: skip
    fig.add_trace(_kept_bars(result), row=1, col=1)
    fig.update_yaxes(type="log", title_text="kept (%)", row=1, col=1)
    fig.update_xaxes(tickmode="array", tickvals=fig.data[0].x, tickangle=-90, row=1, col=1)
    _alignment_lines(result, fig, row=1, col=2)
    fig.update_xaxes(title_text="depth (0 = embeddings)", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text="mean cosine", row=1, col=2)
    fig.update_layout(meta={"model_name": result.metadata.model_name})
    return fig


def alignment_figure(result: BigramResult) -> go.Figure:
    fig = make_subplots(rows=1, cols=1)
    _alignment_lines(result, fig, row=1, col=1)
    fig.update_xaxes(title_text="depth (0 = embeddings, l = after block l-1)", dtick=1)
    fig.update_yaxes(title_text="mean cosine with token vector")
    return fig


def density_figure(result: BigramResult) -> go.Figure:
    """Kept fraction per (downsampled) cell of every masked matrix, one panel each."""
    n = len(result.matrix_names)
    cols = min(n, 6)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.02, vertical_spacing=0.08,
                        subplot_titles=[short_name(m) for m in result.matrix_names])  # fmt: skip
    top = max(float(d.max()) for d in result.density_maps) or 1.0
    for i, grid in enumerate(result.density_maps):
        heat = go.Heatmap(z=grid.double().numpy(), zmin=0, zmax=top, colorscale="Viridis",
                          showscale=i == 0)  # fmt: skip
        fig.add_trace(heat, row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    return fig


def surprisal_figure(result: BigramResult, n_tokens: int = 48) -> go.Figure:
    """Surprisal of each next token (bits) by the subnetwork and by the bigram model."""
    n = min(n_tokens, len(result.strip_bigram))
    labels = (
        [f"{i}:{t!r}" for i, t in enumerate(result.str_tokens[:n])]
        if result.str_tokens else [str(i) for i in range(n)]
    )  # fmt: skip
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=labels, y=result.strip_bigram[:n].numpy(), name="bigram model",
                             mode="lines+markers"))  # fmt: skip
    sub = result.strip_subnetwork[:n].numpy()
    fig.add_trace(go.Scatter(x=labels, y=sub, name="subnetwork", mode="lines+markers",
                             line_dash="dash"))  # fmt: skip
    fig.update_yaxes(title_text="surprisal of the next token (bits)")
    fig.update_xaxes(title_text="current token", tickangle=-60)
    return fig


def ablation_figure(result: BigramResult) -> go.Figure:
    names = list(result.ablation)
    fig = go.Figure(go.Bar(x=names, y=[result.ablation[n] for n in names],
                           marker_color="#56B4E9"))  # fmt: skip
    fig.update_yaxes(title_text="held-out loss (nats)")
    return fig
