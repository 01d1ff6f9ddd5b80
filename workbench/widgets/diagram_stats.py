"""What the diagram widget shows about one box: its hook, wires, costs and, given measured
statistics, the values measured there. This is the link from a diagram to every other
analysis: an `ActivationCache` (the tensor at the box's hook), a `Stats` from
`run_with_stats` or a `StatsSummary` from `collect_stats` (the statistics of the box's
layer and sublayer: `attn.*` inside `blocks.{l}.attn`, `mlp.*` inside `blocks.{l}.mlp`).

Example:
    >>> stats = model.run_with_stats(tokens, ["attn.entropy"])
    >>> details(result.root.find("blocks.0.attn.weights"), stats)
    {'id': 'blocks.0.attn.weights', 'hook': 'blocks.0.attn.hook_pattern', ..., 'stats': [...]}
"""

from __future__ import annotations

import re
from typing import Any

import torch

from workbench.analysis.diagram_nodes import Node
from workbench.core.cache import ActivationCache
from workbench.core.stats import Stats
from workbench.core.summary import StatsSummary

_SUBLAYER = re.compile(r"^blocks\.(\d+)\.(attn|mlp)(\.|$)")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _per_unit(values: torch.Tensor) -> str:
    """A scalar, or per-head values (up to 16 shown)."""
    flat = values.double().flatten()
    if flat.numel() == 1:
        return _fmt(float(flat[0]))
    shown = ", ".join(_fmt(float(v)) for v in flat[:16])
    return f"[{shown}{', ...' if flat.numel() > 16 else ''}] (per head)"


def _cache_stats(node: Node, cache: ActivationCache) -> list[list[str]]:
    if node.hook is None or node.hook not in cache:
        return []
    tensor = cache[node.hook].double()
    finite = tensor[torch.isfinite(tensor)]
    rows = [["cached shape", str(list(tensor.shape))]]
    traced = [a.size for a in node.output]
    if list(tensor.shape) != traced:
        rows.append(["note", f"the diagram was traced at shape {traced}"])
    if finite.numel():
        moments = {"mean": finite.mean(), "std": finite.std(correction=0), "min": finite.min(),
                   "max": finite.max()}  # fmt: skip
        rows += [[name, _fmt(float(value))] for name, value in moments.items()]
    if finite.numel() < tensor.numel():
        rows.append(["non-finite", str(tensor.numel() - finite.numel())])
    return rows


def _layer_family(node: Node) -> tuple[int, str] | None:
    match = _SUBLAYER.match(node.id)
    return (int(match.group(1)), match.group(2)) if match else None


def _stats_rows(node: Node, stats: Stats) -> list[list[str]]:
    where = _layer_family(node)
    if where is None:
        return []
    layer, family = where
    rows = []
    for name in stats.names:
        if not name.startswith(f"{family}.") or (name, layer) not in stats.values:
            continue
        values = stats[name][layer].float()
        if name == "mlp.fire_count":
            rows.append([name, f"{int((values > 0).sum())} of {values.numel()} neurons fired"])
            continue
        keep = stats.real(name)[layer] & torch.isfinite(values)
        if values.dim() == 3:  # [batch, head, pos]: mean per head over real tokens
            total = torch.where(keep, values, 0.0).sum((0, 2))
            rows.append([f"{name} (mean)", _per_unit(total / keep.sum((0, 2)).clamp(min=1))])
        else:
            rows.append([f"{name} (mean)", _fmt(float(values[keep].mean()))])
    return rows


def _summary_rows(node: Node, summary: StatsSummary) -> list[list[str]]:
    where = _layer_family(node)
    if where is None:
        return []
    layer, family = where
    rows = []
    for name in summary.names:
        if name.startswith(f"{family}."):
            mean = summary.mean(name)[layer]
            if name == "mlp.fire_count":
                rows.append([name, f"mean firing frequency {_fmt(float(mean.mean()))}"])
            else:
                rows.append([f"{name} (mean over {summary.tokens} tokens)", _per_unit(mean)])
    return rows


def measured(node: Node, stats: Any) -> list[list[str]]:
    """`[label, value]` rows of what `stats` measured at `node` (empty when nothing)."""
    if stats is None:
        return []
    if isinstance(stats, ActivationCache):
        return _cache_stats(node, stats)
    if isinstance(stats, Stats):
        return _stats_rows(node, stats)
    if isinstance(stats, StatsSummary):
        return _summary_rows(node, stats)
    raise TypeError(
        f"stats must be an ActivationCache, Stats or StatsSummary, got {type(stats).__name__}"
    )


def details(node: Node, stats: Any = None) -> dict[str, Any]:
    """Everything the widget's side panel shows about `node` (JSON values only)."""
    return {
        "id": node.id, "label": node.label, "kind": node.kind, "hook": node.hook or "",
        "shape": [[a.name, a.size] for a in node.output], "joined": list(node.joined),
        "reduced": list(node.reduced), "flops": node.flops,
        "bytes": node.act_bytes + node.param_bytes, "note": node.note,
        "stats": measured(node, stats),
    }  # fmt: skip
