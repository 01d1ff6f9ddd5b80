"""Axis ranges and non-finite values for the static figures, with the widgets' rules
(workbench/widgets/_scale.js): a constant series gets +-10% of its magnitude (plotly would
draw 1e-30 on a -1..1 axis, where it reads as 0); NaN and +-inf are never drawn, and a note
on the figure says how many were left out.

Example:
    >>> axis_range(np.array([1e-30, 1e-30]))
    (9e-31, 1.1000000000000001e-30)
    >>> non_finite_note(np.array([1.0, np.nan, np.inf]))
    'not plotted: 1 NaN, 1 +inf'
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def axis_range(values: np.ndarray) -> tuple[float, float] | None:
    """An explicit range for degenerate data (constant, or a span lost in rounding), else
    None (plotly's autorange is then right). None too when no value is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    magnitude = max(abs(lo), abs(hi))
    if hi - lo > magnitude * 1e-9:
        return None
    mid = lo / 2 + hi / 2
    pad = 0.5 if mid == 0 else abs(mid) * 0.1
    return mid - pad, mid + pad


def non_finite_note(values: np.ndarray) -> str:
    """'not plotted: 2 NaN, 1 -inf', or '' when every value is finite."""
    counts = [
        (int(np.isnan(values).sum()), "NaN"),
        (int(np.isposinf(values).sum()), "+inf"),
        (int(np.isneginf(values).sum()), "-inf"),
    ]
    parts = [f"{n} {kind}" for n, kind in counts if n]
    return f"not plotted: {', '.join(parts)}" if parts else ""


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    """NaN where a value is +-inf: plotly leaves a gap for NaN, but an inf would stretch
    autoranges and colour scales."""
    return np.where(np.isfinite(values), values, np.nan)


def add_note(fig: go.Figure, text: str) -> go.Figure:
    """A visible note under the plot area (nothing when `text` is empty)."""
    if text:
        fig.add_annotation(
            text=text, xref="paper", yref="paper", x=0, y=-0.22, showarrow=False,
            xanchor="left", font={"color": "#b45309"}, name="non-finite note",
        )  # fmt: skip
    return fig


def format_value(value: float) -> str:
    """'NaN', '+inf', '-inf' or the number, for labels written in place of a missing bar."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.3g}"
