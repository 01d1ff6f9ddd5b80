"""`CircuitDiagram`: the interactive view of a `DiagramResult` (Abbott 2024 circuit diagram).

Pan (drag) and zoom (wheel, or the buttons); click a group's box or frame to open or close
it; click any box to see its hook name, wires, costs and, when `stats` is given (an
`ActivationCache`, `Stats` or `StatsSummary`), the statistics measured there. The layout
is computed in Python (`workbench.export.diagram_layout`, the same as the SVG and TikZ), the
browser only draws it; every label is placed as SVG text, never parsed as HTML.

Example:
    >>> result = diagrams.compute(model)
    >>> _, cache = model.run_with_cache(tokens)
    >>> w = CircuitDiagram(result, stats=cache)
    >>> w.select(node="blocks.0.attn.weights"); w.details["hook"]
    'blocks.0.attn.hook_pattern'
"""

from __future__ import annotations

import dataclasses
from typing import Any

import traitlets

from workbench.analysis.diagrams import DiagramResult
from workbench.export.diagram_layout import first_block_open, layout
from workbench.widgets._base import WorkbenchWidget, bundle_esm
from workbench.widgets.diagram_stats import details, measured
from workbench.widgets.registry import view


class CircuitDiagram(WorkbenchWidget):
    """`scene` (what the browser draws), `expanded` (open group ids), `details` (the
    selected box); `selected` is `{"node": id}`."""

    _esm = bundle_esm("diagram.js")
    scene = traitlets.Dict().tag(sync=True)
    expanded = traitlets.List(traitlets.Unicode()).tag(sync=True)
    details = traitlets.Dict().tag(sync=True)

    def __init__(self, result: DiagramResult, stats: Any = None, **kwargs: Any) -> None:
        measured(result.root, stats)  # refuse a wrong stats type now, not on the first click
        self._result, self._stats = result, stats
        self._ids = {node.id: node for node in result.root.walk()}
        super().__init__(title=result.title(None), **kwargs)
        self.observe(self._relayout, names="expanded")
        self.observe(self._describe, names="selected")
        self.expanded = sorted(first_block_open(result.root))

    @property
    def selection_axes(self) -> tuple[str, ...]:
        return ("node",)

    def _relayout(self, change: dict | None = None) -> None:
        unknown = [i for i in self.expanded if i not in self._ids]
        if unknown:
            raise KeyError(f"expanded names unknown diagram nodes {unknown}")
        scene = layout(self._result.root, expanded=set(self.expanded))
        self.scene = dataclasses.asdict(scene)

    def _describe(self, change: dict) -> None:
        node_id = change["new"].get("node")
        if node_id is None:
            self.details = {}
            return
        self.details = details(self._result.root.find(node_id), self._stats)

    def toggle(self, node_id: str) -> None:
        """Open a closed group or close an open one (what a click on a group does)."""
        node = self._result.root.find(node_id)
        if not node.children:
            return
        opened = set(self.expanded)
        self.expanded = sorted(opened ^ {node_id})


@view.register(DiagramResult)
def diagram_view(result: DiagramResult, stats: Any = None) -> CircuitDiagram:
    """The interactive diagram; `stats` links each box to measured statistics."""
    return CircuitDiagram(result, stats=stats)
