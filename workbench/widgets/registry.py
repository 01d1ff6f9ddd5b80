"""`view(result) -> widget`: the interactive view of each `Result` type, registered here.

A view module registers its function with one decorator; `Result.widget()` and notebook
display call `view(result)`. Dispatch follows the class hierarchy (`functools.singledispatch`),
so a subclass without its own view uses its parent's.

Example (in `workbench/widgets/entropy.py`, imported by `workbench/widgets/__init__.py`):
    >>> @view.register(EntropyResult)
    ... def entropy_view(result: EntropyResult) -> Heatmap:
    ...     return Heatmap(result.entropy, title="attention entropy", value_label="nats")
"""

from __future__ import annotations

import functools
from typing import Any


@functools.singledispatch
def view(result: Any) -> Any:
    """The interactive widget of `result` (raises for types without a registered view)."""
    name = type(result).__name__
    raise NotImplementedError(
        f"No interactive view is registered for {type(result).__module__}.{name}. Register "
        f"one in workbench/widgets/<analysis>.py with `@view.register({name})` "
        "(from workbench.widgets.registry import view) and import that module in "
        "workbench/widgets/__init__.py."
    )
