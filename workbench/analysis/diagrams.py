"""Neural circuit diagrams generated from the model itself (Abbott 2024, TMLR, "Neural
Circuit Diagrams: Robust Diagrams for the Communication, Implementation, and Analysis of
Deep Learning Architectures").

`compute(model)` runs one forward pass on a sample input, records the shape of every hook
point's tensor, and builds a tree of boxes (`Node`): model -> block -> attention / MLP ->
heads. Wires are labelled axes with their traced sizes; contractions name the axes they
join, reductions the axis they run along (softmax over key_pos); residual streams split
around a branch and join at `+`. Each box carries FLOPs and memory for the traced sequence
length, summed per level (conventions in `diagram_nodes`).

Example:
    >>> result = compute(model, seq_len=64)
    >>> result.root.find("blocks.0.attn.weights").reduced
    ('key_pos',)
    >>> result.to_svg(root="blocks.0")          # one block, as SVG text
    >>> result.to_tikz()                        # a standalone LaTeX document
    >>> result.costs(depth=1)                   # [(id, label, flops, bytes), ...]
"""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from workbench.analysis.diagram_model import model_diagram
from workbench.analysis.diagram_nodes import Axis, Node
from workbench.analysis.diagram_trace import trace_shapes
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import prepare_tokens

__all__ = ["Axis", "DiagramResult", "Node", "compute"]


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class DiagramResult(Result):
    """The diagram tree (`root`) of a model, traced at `seq_len` tokens per row."""

    root: Node
    seq_len: int
    batch: int

    @property
    def total_flops(self) -> int:
        return self.root.flops

    def costs(self, depth: int = 1) -> list[tuple[str, str, int, int]]:
        """`(id, label, flops, bytes)` of every node down to `depth` levels below the root
        (bytes: output activations plus parameters)."""
        rows = []

        def visit(node: Node, level: int) -> None:
            rows.append((node.id, node.label, node.flops, node.act_bytes + node.param_bytes))
            if level < depth:
                for child in node.children:
                    visit(child, level + 1)

        visit(self.root, 0)
        return rows

    def to_svg(self, root: str | None = None, depth: int | None = None) -> str:
        """SVG text of the diagram (or of the subtree `root`, e.g. "blocks.0.attn"), groups
        expanded down to `depth` levels below it (None: everything)."""
        from workbench.export.diagram_svg import diagram_svg

        return diagram_svg(self._subtree(root), depth=depth, title=self.title(root))

    def to_tikz(self, root: str | None = None, depth: int | None = None) -> str:
        """A standalone LaTeX document (TikZ) of the same drawing as `to_svg`."""
        from workbench.export.diagram_tikz import diagram_tikz

        return diagram_tikz(self._subtree(root), depth=depth, title=self.title(root))

    def export(self, path: str | Path, style: str = "paper", width: str = "single") -> Path:
        """`.svg`: the diagram's own SVG, `.tex`: its TikZ document (every group open), each
        with `<path>.json` metadata; other formats (PDF, PNG) go through the plotly figure."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".svg", ".tex"):
            return super().export(path, style=style, width=width)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_svg() if suffix == ".svg" else self.to_tikz())
        record = {"format": suffix[1:], **self.metadata.to_dict()}
        path.with_name(path.name + ".json").write_text(json.dumps(record, indent=1, default=str))
        return path

    def _subtree(self, root: str | None) -> Node:
        return self.root if root is None else self.root.find(root)

    def title(self, root: str | None = None) -> str:
        """Model name, the drawn subtree and the traced shape, for figure titles."""
        where = "" if root is None else f" / {root}"
        return f"{self.metadata.model_name}{where} (batch {self.batch}, pos {self.seq_len})"


def _sample_tokens(model, seq_len: int | None, batch: int) -> Int[Tensor, "batch pos"]:
    n_ctx = model.cfg.n_ctx
    length = min(64, n_ctx) if seq_len is None else seq_len
    if not 1 <= length <= n_ctx:
        raise ValueError(f"seq_len must be in [1, {n_ctx}] (the model's n_ctx), got {seq_len}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    # only shapes matter (MoE routing aside); a fixed pattern keeps the diagram reproducible
    ids = torch.arange(batch * length).remainder(model.cfg.d_vocab).view(batch, length)
    return ids.to(next(model.parameters()).device)


def compute(
    model: Any,
    data: Int[Tensor, "batch pos"] | str | list[str] | None = None,
    *,
    seq_len: int | None = None,
    batch: int = 1,
) -> DiagramResult:
    """The diagram of `model`, traced on `data` (or on `batch` rows of `seq_len` sample
    tokens; default 64 or n_ctx if smaller). Costs are for that input's shape."""
    if data is None:
        tokens = _sample_tokens(model, seq_len, batch)
        description = f"sample tokens, batch {batch}, pos {tokens.shape[1]}"
    else:
        if seq_len is not None:
            raise ValueError("give either data or seq_len, not both (data sets the length)")
        tokens, _ = prepare_tokens(model, data)
        description = "given data"
    trace = trace_shapes(model, tokens)
    root = model_diagram(model, trace)
    options = {"seq_len": int(tokens.shape[1]), "batch": int(tokens.shape[0])}
    meta = ResultMetadata.from_model(
        model, tokens=tokens.cpu(), options=options, data_description=description
    )
    return DiagramResult(
        root=root, seq_len=int(tokens.shape[1]), batch=int(tokens.shape[0]), metadata=meta
    )


def _format_flops(flops: int) -> str:
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops} FLOP"


def report_section(report: Any, result: DiagramResult) -> None:
    """The model (blocks closed), its first block in full, and the costs per level."""
    report.add_markdown(
        "## Neural circuit diagram (Abbott 2024)\n"
        f"Generated from the model itself: one forward pass at pos {result.seq_len} recorded "
        "the shape of every hook point. Wires are axes with their sizes; boxes are "
        "operations; `join:` names the axes a contraction sums over, `over:` the axis a "
        f"reduction runs along. Total: {_format_flops(result.total_flops)} per forward pass."
    )
    report.add_result(result, caption="The model, one box per block (FLOPs, memory).")
    first_block = next((n.id for n in result.root.walk() if n.kind == "block"), None)
    if first_block is not None:  # our own SVG: labels are escaped text, so it is trusted
        svg = result.to_svg(root=first_block)
        caption = f"<figcaption>{html.escape(first_block)}, every operation.</figcaption>"
        report.add_html(f'<figure style="overflow-x: auto">{svg}{caption}</figure>')
    rows = [(node_id, label, _format_flops(flops), f"{size / 1024:.1f} KiB")
            for node_id, label, flops, size in result.costs(depth=1)]  # fmt: skip
    report.add_table(rows, header=["node", "box", "FLOPs", "memory (activations + params)"])


register_analysis("circuit_diagram", compute, report_section)
