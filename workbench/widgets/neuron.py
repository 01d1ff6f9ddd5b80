"""Widgets of the activation sparsity views: `DistributionBars` (a per-layer mean with its
distribution over tokens) and `NeuronCard` (one neuron's firing frequency and top contexts).

Example:
    >>> DistributionBars(result.nonzero_frac, result.quantiles, value_label="nonzero fraction")
    >>> card = NeuronCard(); card.show(sparsity_result, layer=1, neuron=42, contexts=top)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import traitlets
from jaxtyping import Float
from torch import Tensor

from workbench.widgets._arrays import encode_array
from workbench.widgets._base import WorkbenchWidget, bundle_esm
from workbench.widgets.charts import BarChart

QUANTILE_COLUMNS = 5  # 5, 25, 50, 75, 95 %


class DistributionBars(BarChart):
    """Bars of `values` with quantile boxes; `selected` = `{axis: i}` of the clicked bar."""

    _esm = bundle_esm("distribution_bars.js")
    quantiles = traitlets.Bytes().tag(sync=True)

    def __init__(
        self,
        values: Float[Tensor, "item"],
        quantiles: Float[Tensor, "item 5"],
        labels: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        q_data, q_shape = encode_array(quantiles, ndim=2, name="DistributionBars quantiles")
        super().__init__(values, labels, quantiles=q_data, **kwargs)
        n = len(self.labels)
        if q_shape != [n, QUANTILE_COLUMNS]:
            raise ValueError(f"quantiles must be [{n}, {QUANTILE_COLUMNS}] (5/25/50/75/95 %), "
                             f"got {q_shape}")  # fmt: skip


class NeuronCard(WorkbenchWidget):
    """One neuron: facts (firing frequency, dead/always-on) and its top contexts, each
    `{"tokens": [...], "at": i, "value": v, "where": "..."}`, rendered as text."""

    _esm = bundle_esm("neuron_card.js")
    facts = traitlets.List(traitlets.Unicode()).tag(sync=True)
    contexts = traitlets.List(traitlets.Dict()).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)

    def show(self, sparsity: Any = None, *, layer: int, neuron: int, contexts: Any = None) -> None:
        """Fill the card from a `SparsityResult` and/or a `TopContextsResult`."""
        facts, rows, note = [], [], ""
        if sparsity is not None:
            facts = neuron_facts(sparsity, layer, neuron)
        if contexts is not None:
            rows = context_rows(contexts, layer, neuron)
            if not rows:
                note = "no real token reached this neuron"
        else:
            note = "top contexts: pass contexts=collect_top_contexts(model, data).result(model)"
        with self.hold_sync():
            self.title = f"layer {layer}, neuron {neuron}"
            self.facts, self.contexts, self.note = facts, rows, note


def neuron_facts(result: Any, layer: int, neuron: int) -> list[str]:
    count = int(result.fire_count[layer, neuron])
    share = count / max(result.n_tokens, 1)
    facts = [f"fires on {count} of {result.n_tokens} tokens ({100 * share:.2f}%); "
             f"{result.metric_label}"]  # fmt: skip
    if count == 0:
        facts.append("dead: never fires on these tokens")
    elif count == result.n_tokens:
        facts.append("always on: fires on every token")
    return facts


def context_rows(contexts: Any, layer: int, neuron: int) -> list[dict]:
    rows = []
    for rank in range(contexts.values.shape[-1]):
        value = float(contexts.values[layer, neuron, rank])
        if value == -math.inf:  # an empty slot: fewer real tokens than k
            break
        tokens, at = contexts.context(layer, neuron, rank)
        where = (f"sequence {int(contexts.sequence[layer, neuron, rank])}, position "
                 f"{int(contexts.position[layer, neuron, rank])}")  # fmt: skip
        rows.append({"tokens": tokens, "at": at, "value": value, "where": where})
    return rows
