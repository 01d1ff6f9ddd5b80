"""The view of `PatchingResult`: one heatmap per method (activation patching, AtP) in tabs,
linked selection, and a line with the clean/corrupted metrics and the AtP agreement.

Cells show the normalized effect `(patched - corrupted) / (clean - corrupted)` (1 = the
patch restores the clean metric), or the raw metric when clean and corrupted are equal.

Example:
    >>> patching_view(workbench.analysis.patching.compute(model))
"""

from __future__ import annotations

import html

import ipywidgets

from workbench.analysis.patching import TITLES, PatchingResult, as_matrix, shown_values
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import link_selection
from workbench.widgets.registry import view


@view.register(PatchingResult)
def patching_view(result: PatchingResult) -> ipywidgets.VBox:
    """Tabs of heatmaps (one per method), selections linked, and the summary line."""
    heatmaps = []
    for method in result.methods:
        values, label = shown_values(result, method)
        grid = as_matrix(result, values)
        heatmaps.append(Heatmap(grid.pop("values"), title=TITLES[method], value_label=label,
                                color_scale="diverging", **grid))  # fmt: skip
    tabs = ipywidgets.Tab(children=heatmaps, titles=[TITLES[m] for m in result.methods])
    agreement = "" if result.pearson_r is None else f"; AtP vs patching r = {result.pearson_r:.3f}"
    timing = ", ".join(f"{m} {s:.2f} s" for m, s in result.seconds.items())
    line = (f"{result.metric_name}: clean {result.clean_metric:.3f}, corrupted "
            f"{result.corrupted_metric:.3f}{agreement} ({timing})")  # fmt: skip
    box = ipywidgets.VBox([tabs, ipywidgets.HTML(html.escape(line))])
    box.heatmaps = heatmaps  # for tests and notebooks
    box.link = link_selection(*heatmaps) if len(heatmaps) > 1 else None
    return box
