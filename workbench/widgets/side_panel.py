"""Side panels in JupyterLab (`sidecar`) and `render`, which turns results into widgets.

Example:
    >>> panel(result, title="Entropy")      # opens a panel to the right of the notebook
    >>> panel(other_result, title="Entropy")  # replaces the content of that same panel
"""

from __future__ import annotations

import warnings
from typing import Any

from workbench.core.registry import suggest

ANCHORS = (
    "split-right",
    "split-left",
    "split-top",
    "split-bottom",
    "tab-before",
    "tab-after",
    "right",
)

_PANELS: dict[str, Any] = {}


def render(obj: Any) -> Any:
    """The interactive widget of a `Result` (anything with `widget()`), or `obj` itself."""
    widget_method = getattr(obj, "widget", None)
    return widget_method() if callable(widget_method) else obj


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def panel(obj: Any, title: str = "workbench", anchor: str = "split-right") -> None:
    """Show `obj` (a Result or widget) in a JupyterLab side panel named `title`.

    Calling again with the same title replaces that panel's content instead of opening a new
    panel. Outside a Jupyter kernel there is no panel to open: a warning says so and nothing
    else happens, so scripts keep working. Returns None (so that the last line of a cell does
    not also display the widget inline).
    """
    if anchor not in ANCHORS:
        raise ValueError(
            f"Unknown panel anchor {anchor!r}; valid: {list(ANCHORS)}. {suggest(anchor, ANCHORS)}"
        )
    widget = render(obj)
    if not _in_kernel():
        warnings.warn(
            "workbench.widgets.panel() needs a running Jupyter kernel in JupyterLab to open a "
            "side panel; nothing is shown (display the widget yourself).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    from IPython.display import clear_output, display
    from sidecar import Sidecar

    sidecar = _PANELS.get(title)
    if sidecar is None:
        sidecar = _PANELS[title] = Sidecar(title=title, anchor=anchor)
    with sidecar:
        clear_output(wait=True)
        display(widget)
    return None


def close_panel(title: str) -> None:
    """Close the panel named `title` (no error if there is none)."""
    sidecar = _PANELS.pop(title, None)
    if sidecar is not None:
        sidecar.close()
