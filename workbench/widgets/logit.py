"""Views of `LogitLensResult` and `LogitAttributionResult`.

Example:
    >>> logit_lens_view(logit_lens.compute(model))          # Tab: probability, rank, top tokens
    >>> logit_attribution_view(logit_attribution.compute(model))
"""

from __future__ import annotations

import html

import ipywidgets
import torch

from workbench.analysis.logit_attribution import LogitAttributionResult
from workbench.analysis.logit_lens import LogitLensResult
from workbench.widgets.charts import BarChart
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import link_selection
from workbench.widgets.registry import view


def _position_labels(result: LogitLensResult) -> list[str]:
    return [f"{int(p)} {result.token_strings[int(p)]!r}" for p in result.positions]


@view.register(LogitLensResult)
def logit_lens_view(result: LogitLensResult) -> ipywidgets.Tab:
    """Tabs: target probability and log10(rank + 1) per layer x position, top-1 tokens."""
    common = dict(row_labels=result.layer_labels, col_labels=_position_labels(result),
                  row_axis="layer", col_axis="position")  # fmt: skip
    prob = Heatmap(result.target_prob, title="target probability", value_label="p", **common)
    rank = Heatmap(
        torch.log10(result.target_rank.double() + 1),
        title="target rank",
        value_label="log10(rank + 1)",
        **common,
    )
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{html.escape(repr(top[0]))}</td>" for top in result.top_strings[i])
        + "</tr>"
        for i, label in enumerate(result.layer_labels)
    )
    head = "".join(f"<th>{html.escape(p)}</th>" for p in _position_labels(result))
    table = ipywidgets.HTML(f"<table><tr><th></th>{head}</tr>{rows}</table>")
    tabs = ipywidgets.Tab(children=[prob, rank, table], titles=["probability", "rank", "top-1"])
    tabs.selection_link = link_selection(prob, rank)  # kept alive with the widget
    return tabs


@view.register(LogitAttributionResult)
def logit_attribution_view(result: LogitAttributionResult) -> ipywidgets.Widget:
    """Tabs: per component, per head, per neuron (where those exist)."""
    bars = BarChart(result.component_attr, result.component_labels, axis="component",
                    title="direct logit attribution", value_label="logit difference")  # fmt: skip
    children, titles = [bars], ["components"]
    style = dict(value_label="logit difference", color_scale="diverging")
    if result.head_attr is not None:
        children.append(Heatmap(result.head_attr, title="per head", **style))
        titles.append("heads")
    if result.neuron_attr is not None:
        children.append(Heatmap(result.neuron_attr, col_axis="neuron", title="per neuron", **style))
        titles.append("neurons")
    return ipywidgets.Tab(children=children, titles=titles)
