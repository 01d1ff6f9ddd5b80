"""Panels beside the notebook (the Workbench JupyterLab extension) and `render`.

`panel` sends the widget to the extension's panel when the frontend answered the extension's
handshake (`workbench.frontend`). Otherwise it displays two outputs: a panel request that the
extension (if present but not yet connected, e.g. under "Run All") turns into the panel, with
a one-line text note for other frontends; and the widget itself, inline, which frontends
without the extension (VS Code, Colab, nbconvert) show and the extension hides.

Example:
    >>> panel(result, title="Entropy")                # a panel in the right area
    >>> panel(other_result, title="Entropy")          # replaces the content of that panel
    >>> panel(dash, title="Attention", area="main")   # beside the notebook, in the main area
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path
from typing import Any

from workbench import frontend
from workbench.core.registry import suggest

AREAS = frontend.AREAS
PANEL_MIME = "application/vnd.workbench.panel+json"
FALLBACK_MIME = "application/vnd.workbench.fallback+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def render(obj: Any) -> Any:
    """The interactive widget of a `Result` (anything with `widget()`), or `obj` itself."""
    widget_method = getattr(obj, "widget", None)
    return widget_method() if callable(widget_method) else obj


def _check_widget(obj: Any, widget: Any) -> None:
    import ipywidgets

    if not isinstance(widget, ipywidgets.Widget):
        raise TypeError(
            f"panel() shows widgets and Results with a registered view; got "
            f"{type(obj).__name__} (display it inline instead)"
        )


def _kernel_id() -> str:
    """This kernel's id as jupyter_server names it (`kernel-<id>.json`), or "" if unknown.

    The extension opens a requested panel at once only in the notebook whose kernel made the
    request: the widget model lives there (a saved notebook reopened later shows a link)."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).stem
    except Exception:  # not an ipykernel app, or no connection file: the extension guesses
        return ""
    return name.removeprefix("kernel-") if name.startswith("kernel-") else ""


def _display_fallback(widget: Any, title: str, area: str) -> None:
    """No handshake yet: a panel request (+ text note) and the widget inline (see module doc)."""
    from IPython.display import display

    request = {
        "key": title,
        "title": title,
        "area": area,
        "model_id": widget.model_id,
        "kernel_id": _kernel_id(),
        "request_id": uuid.uuid4().hex,  # the extension opens each request once
    }
    note = (
        f"workbench: panel {title!r} needs the Workbench JupyterLab extension, which did not "
        "answer here; the view is shown inline below."
    )
    display({PANEL_MIME: request, "text/plain": note}, raw=True)
    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 1}
    display({FALLBACK_MIME: {}, WIDGET_VIEW_MIME: view, "text/plain": repr(widget)}, raw=True)


def panel(obj: Any, title: str = "workbench", area: str = "right") -> None:
    """Show `obj` (a Result or widget) in a panel named `title` in the `area` of JupyterLab.

    Calling again with the same title replaces that panel's content. Without the Workbench
    extension (VS Code, Colab, nbconvert) the view is shown inline, with a one-line note.
    Outside a Jupyter kernel a warning says there is nothing to show. Returns None (so the
    last line of a cell does not also display the widget inline).
    """
    if area not in AREAS:
        raise ValueError(
            f"Unknown panel area {area!r}; valid: {list(AREAS)}. {suggest(area, AREAS)}"
        )
    widget = render(obj)
    _check_widget(obj, widget)
    if not frontend.register():
        warnings.warn(
            "workbench.widgets.panel() needs a running Jupyter kernel to show a panel; nothing "
            "is shown (display the widget yourself).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if frontend.frontend_ready():
        frontend.CHANNEL.show(title, title, area, obj, widget)
    else:
        frontend.CHANNEL.panels[title] = frontend.ShownPanel(obj, widget, title, area)
        _display_fallback(widget, title, area)
    return None


def close_panel(title: str) -> None:
    """Close the panel named `title` (no error if there is none)."""
    frontend.CHANNEL.close(title)
