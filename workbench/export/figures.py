"""Static figure export (PDF, SVG, PNG) through kaleido 1.x and Debian's Chromium.

kaleido 1.x renders with a headless Chrome found by `choreographer`, which looks at the
`BROWSER_PATH` environment variable and then at `PATH`. We resolve the browser ourselves
(`WORKBENCH_CHROMIUM`, then `BROWSER_PATH`, then `/usr/bin/chromium` and the usual names) and
hand kaleido the path explicitly, so a missing browser fails with an install hint instead of
kaleido's advice to download Chrome (which offline machines cannot). MathJax is disabled:
kaleido would otherwise load it from a CDN.

Example:
    >>> fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[3.1, 2.4, 2.2]))
    >>> fig.update_layout(xaxis_title="step", yaxis_title="loss")
    >>> export_figure(fig, "out/loss.pdf", style="paper", width="single",
    ...               metadata={"model_name": "tiny", "seed": 0})
    PosixPath('out/loss.pdf')          # and out/loss.pdf.json
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from workbench.export._embed import embed_pdf_info, embed_svg_metadata
from workbench.export.style import PX_PER_INCH, apply_style, resolve_choice

DEFAULT_CHROMIUM = "/usr/bin/chromium"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png"}
PNG_DPI = 300

INSTALL_HINT = (
    "Static figure export needs Chromium. Install it with\n"
    "    sudo apt-get update && sudo apt-get install -y chromium\n"
    "(Debian/Ubuntu; `make` does this on fresh machines), or point WORKBENCH_CHROMIUM at an "
    "existing Chrome/Chromium executable. Interactive widgets and HTML reports work without it."
)


class ChromiumNotFoundError(RuntimeError):
    """No Chromium/Chrome executable could be found for kaleido."""


def chromium_path(explicit: str | Path | None = None, *, required: bool = True) -> str | None:
    """Path of the Chromium executable kaleido should drive.

    An explicitly given path (argument, `WORKBENCH_CHROMIUM`, or `BROWSER_PATH`) must exist;
    it is never silently replaced by another browser.
    """
    chosen = explicit or os.environ.get("WORKBENCH_CHROMIUM") or os.environ.get("BROWSER_PATH")
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return str(chosen)
        if required:
            raise ChromiumNotFoundError(f"No executable browser at {str(chosen)!r}. {INSTALL_HINT}")
        return None
    if Path(DEFAULT_CHROMIUM).is_file() and os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    if required:
        raise ChromiumNotFoundError(f"Chromium not found. {INSTALL_HINT}")
    return None


def render_figure(
    fig: go.Figure, fmt: str, *, scale: float = 1.0, browser_path: str | Path | None = None
) -> bytes:
    """Render an already styled figure (its layout width/height are used) to bytes."""
    import kaleido

    browser = chromium_path(browser_path)
    opts = {
        "format": fmt,
        "width": fig.layout.width or 700,
        "height": fig.layout.height or 500,
        "scale": scale,
    }
    return kaleido.calc_fig_sync(fig, opts=opts, kopts={"path": browser, "mathjax": False})


def figure_png_bytes(
    fig: go.Figure, style: str = "screen", width: str = "single", dpi: int = 96
) -> bytes:
    """PNG bytes of a styled copy of `fig` (used for static notebook fallbacks)."""
    return render_figure(apply_style(fig, style, width), "png", scale=dpi / PX_PER_INCH)


def export_figure(
    fig: go.Figure,
    path: str | Path,
    style: str = "paper",
    width: str = "single",
    metadata: dict[str, Any] | None = None,
    *,
    height_in: float | None = None,
    dpi: int = PNG_DPI,
    browser_path: str | Path | None = None,
) -> Path:
    """Write `fig` as PDF, SVG or PNG (chosen by the suffix of `path`) in a publication style.

    `width` is a journal column ("single" = 3.35 in, "double" = 7.0 in); `height_in`
    overrides the default aspect ratio. `metadata` is written to `<path>.json` and embedded in
    the file (SVG `<metadata>` element, PDF document info). PNGs are rendered at `dpi`.
    """
    path = Path(path)
    fmt = resolve_choice("figure format (file suffix)", path.suffix.lower(), FORMATS)
    styled = apply_style(fig, style=style, width=width, height_in=height_in)
    scale = dpi / PX_PER_INCH if fmt == "png" else 1.0
    data = render_figure(styled, fmt, scale=scale, browser_path=browser_path)
    record = {"style": style, "width": width, "format": fmt, **(metadata or {})}
    if fmt == "svg":
        data = embed_svg_metadata(data, record)
    elif fmt == "pdf":
        data = embed_pdf_info(data, _pdf_info(styled, path, record))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(path.name + ".json").write_text(json.dumps(record, indent=1, default=str))
    return path


def _pdf_info(fig: go.Figure, path: Path, record: dict[str, Any]) -> dict[str, str]:
    from workbench.analysis.metadata import workbench_version

    return {
        "Title": fig.layout.title.text or path.stem,
        "Subject": "workbench figure",
        "Keywords": json.dumps(record, sort_keys=True, default=str),
        "Creator": f"workbench {workbench_version()}",
    }
