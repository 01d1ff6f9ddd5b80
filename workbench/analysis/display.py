"""Live or static notebook display of results.

In a live kernel a result shows its interactive widget (plus a one-line text summary) and no
picture is rendered. Frontends that cannot run widgets (nbconvert to HTML/PDF, GitHub's
notebook viewer, static archives) need a picture in the output instead: switch to static
display with `workbench.display_static(True)` in the notebook, or set the environment
variable `WORKBENCH_STATIC=1` before the kernel starts (e.g. `WORKBENCH_STATIC=1 jupyter
nbconvert --execute ...`). The call wins over the variable.

Example:
    >>> import workbench
    >>> workbench.display_static(True)    # results now display as PNG + text
    >>> workbench.display_static(None)    # back to the WORKBENCH_STATIC default
"""

from __future__ import annotations

import os

ENV_VAR = "WORKBENCH_STATIC"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_choice: bool | None = None


def display_static(enabled: bool | None = True) -> None:
    """Display results as static images (`True`), as widgets (`False`), or follow the
    `WORKBENCH_STATIC` environment variable (`None`)."""
    global _choice
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"display_static takes True, False or None, got {enabled!r}")
    _choice = enabled


def static_display_enabled() -> bool:
    """Whether results should display as a static picture instead of a widget."""
    if _choice is not None:
        return _choice
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{ENV_VAR}={value!r}: use 1 (static images) or 0 (widgets)")
