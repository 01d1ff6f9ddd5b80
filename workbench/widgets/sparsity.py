"""Views of the activation sparsity results (`workbench.analysis.sparsity`, `top_contexts`).

- `SparsityResult`: per-layer bars of the firing fraction with its distribution over tokens;
  clicking a layer shows its most frequently firing neuron in a `NeuronCard` (pick another
  with the neuron box) and, for a single text, the per-token count of firing neurons of that
  layer in a `TokenStrip`. `sparsity_dashboard(result, contexts)` adds the top contexts.
- `TopContextsResult`: a neuron card with layer and neuron boxes.
- `SparsityTrainingResult`: the emergence curve (firing fraction per layer over steps) and the
  training loss.
- `SparsitySweepResult`: sparsity vs width (one line per depth) and vs step (one per run).

Example:
    >>> sparsity_dashboard(compute(model, text), collect_top_contexts(model, texts).result(model))
"""

from __future__ import annotations

import ipywidgets
import torch

from workbench.analysis.sparsity import SparsityResult
from workbench.analysis.sparsity_sweep import SparsitySweepResult
from workbench.analysis.sparsity_training import SparsityTrainingResult
from workbench.analysis.top_contexts import TopContextsResult
from workbench.widgets.charts import LineChart
from workbench.widgets.neuron import DistributionBars, NeuronCard
from workbench.widgets.registry import view
from workbench.widgets.tokens import TokenStrip


def _strip(result: SparsityResult) -> TokenStrip | None:
    if result.per_position is None or result.str_tokens is None:
        return None
    title = f"firing neurons per token ({result.metric_label}): layer 0"
    return TokenStrip(result.str_tokens, result.per_position[0].float(), title=title,
                      value_label=f"firing neurons of {result.d_mlp}")  # fmt: skip


def sparsity_dashboard(
    result: SparsityResult, contexts: TopContextsResult | None = None
) -> ipywidgets.VBox:
    """Bars -> neuron card (+ token strip for one text); `contexts` of the same model."""
    if contexts is not None and tuple(contexts.values.shape[:2]) != tuple(result.fire_count.shape):
        raise ValueError(
            f"contexts cover [layer, d_mlp] = {list(contexts.values.shape[:2])}, the result "
            f"{list(result.fire_count.shape)}: collect both from the same model"
        )
    title = f"MLP {result.metric_label} per token (mean; box 25-75%, whiskers 5-95% of tokens)"
    bars = DistributionBars(result.nonzero_frac, result.quantiles, title=title,
                            value_label=result.metric_label)  # fmt: skip
    neuron = ipywidgets.BoundedIntText(value=0, min=0, max=result.d_mlp - 1, description="neuron")
    card, strip = NeuronCard(), _strip(result)
    state = {"layer": 0}

    def show_neuron(change=None) -> None:
        card.show(result, layer=state["layer"], neuron=int(neuron.value), contexts=contexts)

    def show_layer(change: dict) -> None:
        layer = change["new"].get("layer")
        if layer is None:
            return
        state["layer"] = layer
        if strip is not None:
            strip.set_values(result.per_position[layer].float())
            strip.title = f"firing neurons per token ({result.metric_label}): layer {layer}"
        busiest = int(result.fire_count[layer].argmax())
        if neuron.value != busiest:
            neuron.value = busiest  # triggers show_neuron
        else:
            show_neuron()

    bars.observe(show_layer, names="selected")
    neuron.observe(show_neuron, names="value")
    bars.select(layer=0)
    parts = [bars, *([strip] if strip is not None else []), neuron, card]
    box = ipywidgets.VBox(parts)
    box.bars, box.strip, box.card, box.neuron = bars, strip, card, neuron  # tests, notebooks
    return box


@view.register(SparsityResult)
def sparsity_view(result: SparsityResult) -> ipywidgets.VBox:
    return sparsity_dashboard(result)


@view.register(TopContextsResult)
def top_contexts_view(result: TopContextsResult) -> ipywidgets.VBox:
    """A neuron card with layer and neuron boxes."""
    n_layers, d_mlp = result.values.shape[:2]
    layer = ipywidgets.BoundedIntText(value=0, min=0, max=n_layers - 1, description="layer")
    neuron = ipywidgets.BoundedIntText(value=0, min=0, max=d_mlp - 1, description="neuron")
    card = NeuronCard()

    def show(change=None) -> None:
        card.show(layer=int(layer.value), neuron=int(neuron.value), contexts=result)

    layer.observe(show, names="value")
    neuron.observe(show, names="value")
    show()
    box = ipywidgets.VBox([ipywidgets.HBox([layer, neuron]), card])
    box.card, box.layer, box.neuron = card, layer, neuron
    return box


@view.register(SparsityTrainingResult)
def emergence_view(result: SparsityTrainingResult) -> ipywidgets.VBox:
    """Probe firing fraction per layer over training, the loss below."""
    steps = result.steps.float()
    layers = result.nonzero_frac.T  # [layer, record]
    curve = LineChart(steps, layers, [f"layer {i}" for i in range(len(layers))],
                      title=f"probe {result.metric_label} over training",
                      y_label=result.metric_label)  # fmt: skip
    loss = LineChart(steps, {"loss": result.loss}, title="training loss", y_label="nats/token")
    box = ipywidgets.VBox([curve, loss])
    box.curve, box.loss = curve, loss
    return box


@view.register(SparsitySweepResult)
def sweep_view(result: SparsitySweepResult) -> ipywidgets.VBox:
    """Validation nonzero fraction vs width per depth (plain ReLU runs), and every run's
    probe curve over training."""
    relu = result.k == 0
    widths = sorted(set(result.width[relu].tolist()))
    depths = sorted(set(result.depth[relu].tolist()))
    by_depth = {}
    for depth in depths:
        row = [float("nan")] * len(widths)
        for i in (relu & (result.depth == depth)).nonzero().flatten().tolist():
            row[widths.index(int(result.width[i]))] = float(result.nonzero_frac[i])
        by_depth[f"depth {depth}"] = torch.tensor(row)
    size = LineChart(torch.tensor(widths, dtype=torch.float32), by_depth, x_label="d_model",
                     title=f"{result.metric_label} vs width (validation)",
                     y_label=result.metric_label)  # fmt: skip
    curves = LineChart(result.steps.float(), result.curves, result.names,
                       title=f"probe {result.metric_label} over training",
                       y_label=result.metric_label)  # fmt: skip
    box = ipywidgets.VBox([size, curves])
    box.size, box.curves = size, curves
    return box
