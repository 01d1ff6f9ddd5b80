"""Static plotly counterparts of the interactive views, for `Result.figure()` implementations.

Labels and tokens pass through `plotly_text`, so tag-like tokens show literally. Styling
(fonts, sizes, palette) is left to `apply_style`/`export_figure`. NaN and +-inf are never
drawn (a gap, or the value written in place of a bar) and a note on the figure counts them;
constant data gets an explicit +-10% axis (see `workbench.export.axes`).

Example:
    >>> fig = heatmap_figure(entropy, value_label="entropy (nats)")       # [layer, head]
    >>> fig = line_figure(steps, {"layer 0": h0, "layer 1": h1}, y_label="entropy (nats)")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor

from workbench.export.axes import (
    add_note,
    axis_range,
    finite_or_nan,
    format_value,
    non_finite_note,
)
from workbench.export.style import plotly_text


def _numpy(values: Any, ndim: int, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dims, got shape {array.shape}")
    return array


def _labels(labels: Sequence[Any] | None, n: int, name: str) -> list[str]:
    if labels is None:
        return [str(i) for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries for {n} values")
    return [plotly_text(label) for label in labels]


def heatmap_figure(
    values: Float[Tensor, "row col"],
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    *,
    row_axis: str = "layer",
    col_axis: str = "head",
    value_label: str = "",
    title: str = "",
    diverging: bool | None = None,
) -> go.Figure:
    """Rows top to bottom as in the widget; diverging colours by default when signs mix."""
    z = _numpy(values, 2, "values")
    finite = z[np.isfinite(z)]
    if diverging is None:
        diverging = finite.size > 0 and finite.min() < 0 < finite.max()
    bound = float(np.abs(finite).max()) if diverging and finite.size else None
    z_range = axis_range(z) if bound is None else None  # a constant map still gets a scale
    heat = go.Heatmap(
        z=finite_or_nan(z),
        x=_labels(col_labels, z.shape[1], "col_labels"),
        y=_labels(row_labels, z.shape[0], "row_labels"),
        colorscale="RdBu_r" if diverging else "Viridis",
        zmid=0 if diverging else None,
        zmin=-bound if bound else (z_range[0] if z_range else None),
        zmax=bound if bound else (z_range[1] if z_range else None),
        colorbar={"title": {"text": plotly_text(value_label), "side": "right"}},
    )
    fig = go.Figure(heat)
    fig.update_layout(
        title=plotly_text(title) or None,
        xaxis_title=plotly_text(col_axis),
        yaxis_title=plotly_text(row_axis),
    )
    fig.update_xaxes(type="category")
    note = non_finite_note(z)
    add_note(fig, note and f"{note} (blank cells)")
    return fig.update_yaxes(type="category", autorange="reversed")


def bar_figure(
    values: Float[Tensor, "item"],
    labels: Sequence[Any] | None = None,
    *,
    axis: str = "layer",
    value_label: str = "",
    title: str = "",
) -> go.Figure:
    y = _numpy(values, 1, "values")
    x = _labels(labels, len(y), "labels")
    fig = go.Figure(go.Bar(x=x, y=finite_or_nan(y)))
    fig.update_layout(
        title=plotly_text(title) or None,
        xaxis_title=plotly_text(axis),
        yaxis_title=plotly_text(value_label),
    )
    for label, value in zip(x, y, strict=True):
        if not np.isfinite(value):  # no bar, so say why (a missing bar reads as 0)
            fig.add_annotation(x=label, y=0, text=format_value(value), showarrow=False, yshift=8)
    add_note(fig, non_finite_note(y))
    _constant_axis(fig, np.append(y, 0.0))  # bars start at 0
    return fig.update_xaxes(type="category")


def _constant_axis(fig: go.Figure, values: np.ndarray) -> None:
    """Explicit y range for constant data (plotly puts 1e-30 on a -1..1 axis)."""
    y_range = axis_range(values)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))


def line_figure(
    steps: Float[Tensor, "step"],
    series: Mapping[str, Float[Tensor, "step"]],
    *,
    x_label: str = "step",
    y_label: str = "",
    title: str = "",
) -> go.Figure:
    x = _numpy(steps, 1, "steps")
    fig = go.Figure()
    ys = []
    for name, values in series.items():
        y = _numpy(values, 1, f"series {name!r}")
        if len(y) != len(x):
            raise ValueError(f"series {name!r} has {len(y)} values for {len(x)} steps")
        fig.add_scatter(x=x, y=finite_or_nan(y), mode="lines", name=plotly_text(name))
        ys.append(y)
    every = np.concatenate(ys) if ys else np.zeros(0)
    _constant_axis(fig, every)
    add_note(fig, non_finite_note(every))
    fig.update_layout(
        title=plotly_text(title) or None,
        xaxis_title=plotly_text(x_label),
        yaxis_title=plotly_text(y_label),
    )
    return fig


def attention_figure(
    tokens: Sequence[str], pattern: Float[Tensor, "dest src"], *, title: str = ""
) -> go.Figure:
    """One head's pattern, destinations as rows; token labels are made unique by position."""
    z = _numpy(pattern, 2, "pattern")
    if z.shape != (len(tokens), len(tokens)):
        raise ValueError(f"pattern shape {z.shape} does not match {len(tokens)} tokens")
    # Repeated tokens would merge into one category, so each label carries its position.
    labels = [f"{i}: {plotly_text(t)}" for i, t in enumerate(tokens)]
    fig = go.Figure(
        go.Heatmap(
            z=finite_or_nan(z),
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            colorbar={"title": {"text": "attention"}},
        )
    )
    fig.update_layout(
        title=plotly_text(title) or None, xaxis_title="source", yaxis_title="destination"
    )
    fig.update_xaxes(type="category", tickangle=-90)
    note = non_finite_note(z)
    add_note(fig, note and f"{note} (blank cells)")
    return fig.update_yaxes(type="category", autorange="reversed")
