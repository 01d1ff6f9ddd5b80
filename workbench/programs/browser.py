"""A notebook browser for a decompiled Transformer Program: the code, the dataflow graph
(which variables each module reads), the predicate matrix of each attention head, and a box
that runs the program on typed tokens and shows every variable and the key each head selected.

Example:
    >>> browser = program_browser(model)        # ipywidgets.VBox; display it in JupyterLab
    >>> browser.run_and_trace("<s> 3 1 2 </s>") # what the run box does, as an HTML table
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import torch

from workbench.programs.dataflow import dataflow_svg
from workbench.programs.decompile import program_source
from workbench.programs.model import ProgramModel
from workbench.programs.spec import ProgramSpec, extract
from workbench.widgets import CodeView, Heatmap


def _parse_tokens(text: str, vocab: list) -> list:
    """Whitespace-separated tokens, each matched to the vocabulary value with that `str()`."""
    by_text = {str(v): v for v in vocab}
    out = []
    for word in text.split():
        if word not in by_text:
            raise ValueError(f"token {word!r} is not in the vocabulary {list(by_text)}")
        out.append(by_text[word])
    return out


def trace_table(variables: dict[str, list]) -> str:
    """HTML table: one row per variable, one column per position (values escaped)."""
    rows = []
    for name, values in variables.items():
        if isinstance(values, list):
            cells = "".join(f"<td>{html.escape(repr(v))}</td>" for v in values)
            rows.append(f"<tr><th style='text-align:left'>{html.escape(name)}</th>{cells}</tr>")
    return "<table style='font-family:monospace'>" + "".join(rows) + "</table>"


def selected_keys(
    namespace: dict[str, Any], spec: ProgramSpec, variables: dict[str, list]
) -> dict[str, list]:
    """Per categorical head, the key position each query position copies from (0 = BOS),
    computed by the program's own `select_closest` on the traced variables."""
    select, chosen = namespace["select_closest"], {}
    for module in spec.modules:
        if module.kind == "attention":
            r = module.reads
            predicate = namespace[f"predicate_{module.name}"]
            keys = select(variables[r["key"]], variables[r["query"]], predicate)
            chosen[f"{module.name}: key position"] = keys
    return chosen


class ProgramBrowser(widgets.VBox):
    """Code view + dataflow graph + predicate heatmaps (pick a head) + run-and-trace box."""

    def __init__(self, model: ProgramModel, **kwargs: Any) -> None:
        self.spec = extract(model)
        self.source = program_source(self.spec)
        self.namespace: dict[str, Any] = {}
        exec(compile(self.source, "<transformer program>", "exec"), self.namespace)
        heads = [m for m in self.spec.modules if m.predicate_matrix]
        self.heads = {m.name: m for m in heads}
        self.picker = widgets.Dropdown(options=list(self.heads), description="head")
        self.matrix = widgets.Box()
        self.picker.observe(lambda _: self._show_head(), names="value")
        first = " ".join(str(v) for v in self.spec.vocab[:3])
        self.entry = widgets.Text(value=first, description="tokens")
        self.button = widgets.Button(description="run")
        self.output = widgets.HTML()
        self.button.on_click(lambda _: self._run())
        super().__init__(
            [
                CodeView(self.source, title=f"program for {self.spec.task!r}"),
                widgets.HTML(dataflow_svg(self.spec), layout={"overflow": "auto"}),
                widgets.HBox([self.picker]),
                self.matrix,
                widgets.HBox([self.entry, self.button]),
                self.output,
            ],
            **kwargs,
        )
        self._show_head()

    def _show_head(self) -> None:
        if not self.heads:
            return
        module = self.heads[self.picker.value]
        q, k = module.reads["query"], module.reads["key"]
        self.matrix.children = [
            Heatmap(
                torch.tensor(module.predicate_matrix),
                row_labels=[repr(v) for v in self.spec.domains[q]],
                col_labels=[repr(v) for v in self.spec.domains[k]],
                row_axis=f"query ({q})",
                col_axis=f"key ({k})",
                title=f"{module.name}: predicate (softmax of the learned logits)",
            )
        ]

    def run_and_trace(self, text: str) -> str:
        try:
            variables = self.namespace["trace"](_parse_tokens(text, self.spec.vocab))
        except ValueError as err:
            return f"<b>error:</b> {html.escape(str(err))}"
        return trace_table(variables | selected_keys(self.namespace, self.spec, variables))

    def _run(self) -> None:
        self.output.value = self.run_and_trace(self.entry.value)


def program_browser(model: ProgramModel) -> ProgramBrowser:
    return ProgramBrowser(model)
