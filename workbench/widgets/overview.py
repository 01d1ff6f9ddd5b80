"""The view of `StatsOverviewResult`: one tab per statistic, selections linked across tabs.

Example:
    >>> overview_view(workbench.analysis.overview.compute(model))   # Tab of Heatmaps + BarChart
"""

from __future__ import annotations

import ipywidgets

from workbench.analysis.overview import StatsOverviewResult
from workbench.widgets.charts import BarChart
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import link_selection
from workbench.widgets.registry import view

HEAD_STATS = {
    "entropy": "mean attention entropy (nats)",
    "max_weight": "mean max attention weight",
    "sink": "mean weight on key 0",
    "n_eff": "mean effective number of keys",
}


@view.register(StatsOverviewResult)
def overview_view(result: StatsOverviewResult) -> ipywidgets.Tab:
    """Tabs: four `[layer, head]` heatmaps and the per-layer MLP nonzero fraction."""
    heatmaps = [
        Heatmap(getattr(result, name), title=label, value_label=label)
        for name, label in HEAD_STATS.items()
    ]
    bars = BarChart(
        result.mlp_nonzero_frac,
        axis="layer",
        title="MLP activation density",
        value_label="nonzero fraction",
    )
    children = [*heatmaps, bars]
    tabs = ipywidgets.Tab(children=children, titles=[*HEAD_STATS, "mlp.nonzero_frac"])
    tabs.selection_link = link_selection(*children)  # kept alive with the widget
    return tabs
