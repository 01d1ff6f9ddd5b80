"""Shared base of the workbench anywidgets.

Every view has a `selected` dict trait synced with the browser (two-way). Its keys are axis
names such as `layer`, `head` or `pos`; `selection_axes` says which keys a view reads, and
`link_selection` copies matching keys between views.

The browser code lives in `.js` files next to this module. Each widget's ES module is the
shared helpers (`_common.js`) followed by the view's own file: anywidget loads a module from
a string with no base URL, so the helpers cannot be imported relatively, and concatenating
keeps the files small. `_scale.js` (axis domains, ticks, colour maps) comes first: a standalone
ES module bundled from d3 by esbuild (source `labextension/views/scale.js`, rebuilt by
`npm run build:views`; committed, so inline views need no node) that the node test imports.
Nothing is fetched from a CDN, so the widgets work offline.
"""

from __future__ import annotations

import pathlib

import anywidget
import traitlets

_HERE = pathlib.Path(__file__).parent


def bundle_esm(view_file: str) -> str:
    """ES module text of one view: shared helpers followed by the view's `render`."""
    parts = ("_scale.js", "_common.js", view_file)
    return "\n".join((_HERE / part).read_text() for part in parts)


class WorkbenchWidget(anywidget.AnyWidget):
    """Base class: a title, a two-way `selected` dict and the shared stylesheet."""

    _css = _HERE / "widgets.css"
    title = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)

    @property
    def selection_axes(self) -> tuple[str, ...]:
        """Keys of `selected` that this view understands (used by `link_selection`)."""
        return ()

    def select(self, **axes: int) -> None:
        """Set some selection axes, keeping the others (a new dict, so traitlets notices)."""
        self.selected = {**self.selected, **axes}
