"""`figure(result) -> plotly Figure`: the paper figure of each `Result` type, registered here.

`Result.figure()`, `Result.export()`, static notebook display and the HTML report call
`figure(result)`. Dispatch follows the class hierarchy (`functools.singledispatch`).

Example (in `workbench/export/entropy.py`, imported by `workbench/export/__init__.py`):
    >>> @figure.register(EntropyResult)
    ... def entropy_figure(result: EntropyResult) -> go.Figure:
    ...     return heatmap_figure(result.entropy, value_label="entropy (nats)")
"""

from __future__ import annotations

import functools
from typing import Any


@functools.singledispatch
def figure(result: Any) -> Any:
    """The plotly figure of `result` (raises for types without a registered figure)."""
    name = type(result).__name__
    raise NotImplementedError(
        f"No figure is registered for {type(result).__module__}.{name}. Register one in "
        f"workbench/export/<analysis>.py with `@figure.register({name})` "
        "(from workbench.export.registry import figure) and import that module in "
        "workbench/export/__init__.py."
    )
