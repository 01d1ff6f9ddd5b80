"""Static export: paper-style figures (PDF/SVG/PNG via kaleido + Chromium) and HTML reports.

`figure(result)` is the registry of paper figures per `Result` type (see registry.py).
"""

# Figure modules register themselves with `figure` on import.
from workbench.export import (  # noqa: F401  (register their figures)
    bigram,
    diagrams,
    entropy,
    logit,
    overview,
    patching,
    sparsity,
)
from workbench.export.figures import (
    ChromiumNotFoundError,
    chromium_path,
    export_figure,
    export_figures,
    figure_png_bytes,
    render_figure,
    render_figures,
)
from workbench.export.plots import attention_figure, bar_figure, heatmap_figure, line_figure
from workbench.export.registry import figure
from workbench.export.report import Report, markdown_to_html
from workbench.export.style import (
    COLUMN_WIDTH_INCHES,
    OKABE_ITO,
    STYLES,
    apply_style,
    plotly_text,
)

__all__ = [
    "COLUMN_WIDTH_INCHES",
    "OKABE_ITO",
    "STYLES",
    "ChromiumNotFoundError",
    "Report",
    "apply_style",
    "attention_figure",
    "bar_figure",
    "chromium_path",
    "export_figure",
    "export_figures",
    "figure",
    "figure_png_bytes",
    "heatmap_figure",
    "line_figure",
    "markdown_to_html",
    "plotly_text",
    "render_figure",
    "render_figures",
]
