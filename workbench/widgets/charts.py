"""Small SVG charts: `BarChart` (one value per layer, click to select) and `LineChart`
(series over training steps, hover to read values).

Example:
    >>> bars = BarChart(torch.tensor([0.31, 0.12, 0.05]), value_label="nonzero fraction")
    >>> lines = LineChart(steps, {"layer 0": h0, "layer 1": h1}, y_label="entropy (nats)")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import traitlets
from jaxtyping import Float
from torch import Tensor

from workbench.widgets._arrays import as_numpy, decode_array, encode_array
from workbench.widgets._base import WorkbenchWidget, bundle_esm
from workbench.widgets._labels import axis_labels, check_index


class BarChart(WorkbenchWidget):
    """Bars of `values` along one axis (default "layer"); `selected` = `{axis: i}`."""

    _esm = bundle_esm("bar_chart.js")
    values = traitlets.Bytes().tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    axis = traitlets.Unicode("layer").tag(sync=True)
    value_label = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        values: Float[Tensor, "item"],
        labels: Sequence[Any] | None = None,
        *,
        axis: str = "layer",
        title: str = "",
        value_label: str = "",
        **kwargs: Any,
    ) -> None:
        data, shape = encode_array(values, ndim=1, name=f"{type(self).__name__} values")
        super().__init__(
            values=data,
            labels=axis_labels(labels, shape[0], "labels"),
            axis=axis,
            title=title,
            value_label=value_label,
            **kwargs,
        )

    @property
    def selection_axes(self) -> tuple[str, ...]:
        return (self.axis,)

    @property
    def array(self) -> np.ndarray:
        return decode_array(self.values, [len(self.labels)])

    def select(self, **axes: int) -> None:
        if self.axis in axes:
            axes[self.axis] = check_index(axes[self.axis], len(self.labels), self.axis)
        super().select(**axes)


def _series_matrix(
    series: Mapping[str, Any] | Any, names: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Series given as {name: values} or as a [series, step] array -> (matrix, names)."""
    if isinstance(series, Mapping):
        names = [str(name) for name in series]
        rows = [as_numpy(v, f"series {n!r}").reshape(-1) for n, v in series.items()]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ValueError(f"all series must have the same length, got {sorted(lengths)}")
        return np.stack(rows), names
    matrix = as_numpy(series, "series")
    matrix = matrix[None] if matrix.ndim == 1 else matrix
    if matrix.ndim != 2:
        raise ValueError(f"series must be [step] or [series, step], got shape {matrix.shape}")
    return matrix, axis_labels(names, matrix.shape[0], "names")


class LineChart(WorkbenchWidget):
    """Lines over steps; `selected` = `{"step": index}` of the clicked step."""

    _esm = bundle_esm("line_chart.js")
    x = traitlets.Bytes().tag(sync=True)
    y = traitlets.Bytes().tag(sync=True)
    shape = traitlets.List(traitlets.Int()).tag(sync=True)  # [series, step]
    series_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    x_label = traitlets.Unicode("step").tag(sync=True)
    y_label = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        steps: Float[Tensor, "step"],
        series: Mapping[str, Float[Tensor, "step"]] | Float[Tensor, "series step"],
        names: Sequence[str] | None = None,
        *,
        title: str = "",
        x_label: str = "step",
        y_label: str = "",
        **kwargs: Any,
    ) -> None:
        matrix, names = _series_matrix(series, names)
        x_data, (n_steps,) = encode_array(steps, ndim=1, name="steps")
        if matrix.shape[1] != n_steps:
            raise ValueError(f"{n_steps} steps but the series have {matrix.shape[1]} values")
        y_data, shape = encode_array(matrix, ndim=2, name="series")
        super().__init__(
            x=x_data,
            y=y_data,
            shape=shape,
            series_names=names,
            title=title,
            x_label=x_label,
            y_label=y_label,
            **kwargs,
        )

    @property
    def selection_axes(self) -> tuple[str, ...]:
        return ("step",)

    @property
    def array(self) -> np.ndarray:
        """The `[series, step]` values."""
        return decode_array(self.y, self.shape)

    def select(self, **axes: int) -> None:
        if "step" in axes:
            axes["step"] = check_index(axes["step"], self.shape[1], "step")
        super().select(**axes)
