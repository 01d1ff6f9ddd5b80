"""Interactive views (anywidget, offline JS bundled here), linking and JupyterLab side panels.

Example:
    >>> from workbench.widgets import attention_dashboard, panel
    >>> dash = attention_dashboard(tokens, patterns)     # [layer, head, dest, src]
    >>> panel(dash, title="Attention")
    >>> view(result)          # the view registered for a Result type (see registry.py)
"""

# View modules register themselves with `view` on import.
from workbench.widgets import (  # noqa: F401  (register their views)
    bigram,
    diagram,
    entropy,
    logit,
    overview,
    patching,
    sparsity,
)
from workbench.widgets._arrays import decode_array, encode_array
from workbench.widgets._base import WorkbenchWidget
from workbench.widgets.attention import (
    AttentionDashboard,
    AttentionPattern,
    attention_dashboard,
    mean_attention_entropy,
)
from workbench.widgets.charts import BarChart, LineChart
from workbench.widgets.code import CodeView, code_to_html, highlight_python
from workbench.widgets.diagram import CircuitDiagram
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import SelectionLink, link_selection
from workbench.widgets.registry import view
from workbench.widgets.side_panel import close_panel, panel, render
from workbench.widgets.tokens import TokenStrip

__all__ = [
    "AttentionDashboard",
    "AttentionPattern",
    "BarChart",
    "CircuitDiagram",
    "CodeView",
    "Heatmap",
    "LineChart",
    "SelectionLink",
    "TokenStrip",
    "WorkbenchWidget",
    "attention_dashboard",
    "close_panel",
    "code_to_html",
    "decode_array",
    "encode_array",
    "highlight_python",
    "link_selection",
    "mean_attention_entropy",
    "panel",
    "render",
    "view",
]
