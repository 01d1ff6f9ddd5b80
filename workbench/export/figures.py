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
    >>> export_figures([(fig, "out/a.svg"), (fig2, "out/b.pdf")])   # one Chromium for both
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import plotly.graph_objects as go
from tqdm.auto import tqdm

from workbench.export._embed import embed_pdf_info, embed_svg_metadata
from workbench.export.style import PX_PER_INCH, apply_style, resolve_choice

DEFAULT_CHROMIUM = "/usr/bin/chromium"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png"}
PNG_DPI = 300

T = TypeVar("T")

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


def _run_in_thread(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a fresh thread: works inside Jupyter's event loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make_coroutine())
        except BaseException as err:  # handed to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=target, name="workbench-kaleido")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def render_figures(
    jobs: Sequence[tuple[go.Figure, str, float]], *, browser_path: str | Path | None = None
) -> list[bytes]:
    """Render already styled `(figure, format, scale)` jobs with ONE Chromium session.

    Starting Chromium costs seconds; a batch pays it once (see docs/benchmarks.md).
    """
    import kaleido

    browser = chromium_path(browser_path)

    async def render_all() -> list[bytes]:
        async with kaleido.Kaleido(path=browser, mathjax=False) as session:
            rendered = []
            for fig, fmt, scale in tqdm(jobs, desc="figures", unit="fig", disable=len(jobs) < 3):
                opts = {
                    "format": fmt,
                    "width": fig.layout.width or 700,
                    "height": fig.layout.height or 500,
                    "scale": scale,
                }
                rendered.append(await session.calc_fig(fig, opts=opts))
            return rendered

    return _run_in_thread(render_all)


def render_figure(
    fig: go.Figure, fmt: str, *, scale: float = 1.0, browser_path: str | Path | None = None
) -> bytes:
    """Render an already styled figure (its layout width/height are used) to bytes."""
    return render_figures([(fig, fmt, scale)], browser_path=browser_path)[0]


def figure_png_bytes(
    fig: go.Figure, style: str = "screen", width: str = "single", dpi: int = 96
) -> bytes:
    """PNG bytes of a styled copy of `fig` (used for static notebook display)."""
    return render_figure(apply_style(fig, style, width), "png", scale=dpi / PX_PER_INCH)


FigureJob = tuple[go.Figure, str | Path] | tuple[go.Figure, str | Path, dict[str, Any] | None]


def export_figures(
    figures: Sequence[FigureJob],
    style: str = "paper",
    width: str = "single",
    *,
    height_in: float | None = None,
    dpi: int = PNG_DPI,
    browser_path: str | Path | None = None,
) -> list[Path]:
    """Write several figures (`(fig, path)` or `(fig, path, metadata)`) with one Chromium.

    Each file is written as `export_figure` would write it (format by suffix, metadata in
    `<path>.json` and embedded in SVG/PDF); starting Chromium once makes a batch of ten
    several times faster than ten `export_figure` calls.
    """
    planned = []
    for job in figures:
        fig, path, metadata = (*job, None) if len(job) == 2 else job
        path = Path(path)
        fmt = resolve_choice("figure format (file suffix)", path.suffix.lower(), FORMATS)
        styled = apply_style(fig, style=style, width=width, height_in=height_in)
        record = {"style": style, "width": width, "format": fmt, **(metadata or {})}
        planned.append((styled, path, fmt, record))
    jobs = [
        (styled, fmt, dpi / PX_PER_INCH if fmt == "png" else 1.0) for styled, _, fmt, _ in planned
    ]
    rendered = render_figures(jobs, browser_path=browser_path)
    for (styled, path, fmt, record), data in zip(planned, rendered, strict=True):
        if fmt == "svg":
            data = embed_svg_metadata(data, record)
        elif fmt == "pdf":
            data = embed_pdf_info(data, _pdf_info(styled, path, record))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.with_name(path.name + ".json").write_text(json.dumps(record, indent=1, default=str))
    return [path for _, path, _, _ in planned]


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
    For several figures use `export_figures` (one Chromium for all).
    """
    (written,) = export_figures(
        [(fig, path, metadata)],
        style,
        width,
        height_in=height_in,
        dpi=dpi,
        browser_path=browser_path,
    )
    return written


def _pdf_info(fig: go.Figure, path: Path, record: dict[str, Any]) -> dict[str, str]:
    from workbench.analysis.metadata import workbench_version

    return {
        "Title": fig.layout.title.text or path.stem,
        "Subject": "workbench figure",
        "Keywords": json.dumps(record, sort_keys=True, default=str),
        "Creator": f"workbench {workbench_version()}",
    }
