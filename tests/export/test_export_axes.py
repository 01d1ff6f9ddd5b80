"""Static figures with awkward data: constant series at any magnitude get a readable axis
around the value, NaN/inf are never drawn and a note counts them, empty data renders."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from workbench.export import attention_figure, bar_figure, heatmap_figure, line_figure
from workbench.export.axes import axis_range, non_finite_note
from workbench.export.figures import ChromiumNotFoundError, render_figure

NAN, INF = float("nan"), float("inf")


def notes(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == "non-finite note"]


@pytest.mark.parametrize("value", [1e-30, 1.0, 1e16, 1e20, 3e38, -3e38])
def test_constant_line_gets_an_axis_around_its_value(value: float) -> None:
    fig = line_figure(torch.arange(5.0), {"a": torch.full((5,), value, dtype=torch.float64)})
    lo, hi = fig.layout.yaxis.range
    assert lo < value < hi
    assert hi - lo == pytest.approx(0.2 * abs(value), rel=1e-9)
    assert np.isfinite([lo, hi]).all() and notes(fig) == []


def test_varying_data_keeps_plotly_autorange() -> None:
    fig = line_figure(torch.arange(3.0), {"a": torch.tensor([1.0, 5.0, 2.0])})
    assert fig.layout.yaxis.range is None
    assert axis_range(np.array([0.0, 0.0])) == (-0.5, 0.5)
    assert axis_range(np.array([NAN, INF])) is None


def test_line_with_nan_and_inf_leaves_gaps_and_a_note() -> None:
    y = torch.tensor([1.0, NAN, 2.0, INF, -INF, 3.0])
    fig = line_figure(torch.arange(6.0), {"a": y})
    drawn = np.asarray(fig.data[0].y, dtype=float)
    assert np.isnan(drawn[[1, 3, 4]]).all()  # gaps; an inf would stretch the autorange
    np.testing.assert_array_equal(drawn[[0, 2, 5]], [1.0, 2.0, 3.0])
    assert notes(fig) == ["not plotted: 1 NaN, 1 +inf, 1 -inf"]


def test_bar_writes_non_finite_values_where_the_bar_would_be() -> None:
    fig = bar_figure(torch.tensor([2.0, NAN, INF]), labels=["a", "b", "c"])
    in_place = {a.x: a.text for a in fig.layout.annotations if a.name != "non-finite note"}
    assert in_place == {"b": "NaN", "c": "+inf"}
    assert notes(fig) == ["not plotted: 1 NaN, 1 +inf"]


def test_constant_bars_start_at_zero_and_tiny_bars_are_visible() -> None:
    assert bar_figure(torch.full((3,), 1e20, dtype=torch.float64)).layout.yaxis.range is None
    lo, hi = bar_figure(torch.zeros(3)).layout.yaxis.range
    assert (lo, hi) == (-0.5, 0.5)


def test_heatmap_with_inf_keeps_a_finite_colour_scale() -> None:
    fig = heatmap_figure(torch.tensor([[1.0, INF], [NAN, 2.0]]))
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(z[0, 1]) and np.isnan(z[1, 0])
    assert notes(fig) == ["not plotted: 1 NaN, 1 +inf (blank cells)"]
    constant = heatmap_figure(torch.full((2, 2), 1e-30, dtype=torch.float64))
    assert constant.data[0].zmin < 1e-30 < constant.data[0].zmax


def test_attention_figure_notes_non_finite_weights() -> None:
    fig = attention_figure(["a", "b"], torch.tensor([[1.0, 0.0], [NAN, 0.5]]))
    assert notes(fig) == ["not plotted: 1 NaN (blank cells)"]


def test_note_helper_counts_each_kind() -> None:
    assert non_finite_note(np.array([NAN, NAN, -INF, 1.0])) == "not plotted: 2 NaN, 1 -inf"
    assert non_finite_note(np.zeros(0)) == ""


def test_empty_figures_build() -> None:
    assert line_figure(torch.zeros(0), {"a": torch.zeros(0)}).layout.yaxis.range is None
    assert notes(bar_figure(torch.zeros(0))) == []


@pytest.mark.slow
def test_rendered_tiny_constant_line_is_labelled_at_its_scale() -> None:
    """Through plotly.js (kaleido): 1e-30 is not drawn on a -1..1 axis where it reads as 0."""
    fig = line_figure(torch.arange(4.0), {"a": torch.full((4,), 1e-30, dtype=torch.float64)})
    try:
        svg = render_figure(fig, "svg").decode()
    except ChromiumNotFoundError as err:
        pytest.skip(str(err))
    ticks = re.findall(r'class="ytick".*?<text[^>]*>([^<]*)<', svg)
    assert ticks and all(t not in ("0", "1", "\u22121") for t in ticks), ticks
