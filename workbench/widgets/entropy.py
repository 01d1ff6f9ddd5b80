"""Views of the attention entropy results (`workbench.analysis.entropy*`).

- `EntropyResult`: layer x head heatmap of mean entropy; for a single text, clicking a head
  shows that head's per-token entropy in a `TokenStrip` below and, for texts of up to 512
  tokens, its attention pattern beside the heatmap (linked selection).
- `EntropyTrainingResult`: mean entropy per layer over training, the loss below it, and a
  line naming the first collapse (`find_collapse`).
- `EntropyBoundResult`: measured and Theorem 3.1 bound heatmaps, with the verdict.
- `EntropyLengthResult`: mean entropy per layer against context length.

Example:
    >>> entropy_view(compute(model, "the old dog sat"))   # click a cell: its token strip
"""

from __future__ import annotations

import html

import ipywidgets

from workbench.analysis.entropy import EntropyResult
from workbench.analysis.entropy_bound import EntropyBoundResult
from workbench.analysis.entropy_length import EntropyLengthResult
from workbench.analysis.entropy_training import EntropyTrainingResult, find_collapse
from workbench.widgets.attention import AttentionPattern
from workbench.widgets.charts import LineChart
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import link_selection
from workbench.widgets.registry import view
from workbench.widgets.tokens import TokenStrip


@view.register(EntropyResult)
def entropy_view(result: EntropyResult) -> ipywidgets.VBox:
    """The heatmap; with `per_position`, the clicked head's entropy per token below it."""
    heatmap = Heatmap(result.entropy, title="mean attention entropy", value_label="nats")
    if result.per_position is None or result.str_tokens is None:
        return ipywidgets.VBox([heatmap])
    strip = TokenStrip(result.str_tokens, result.per_position[0, 0], value_label="nats",
                       title="entropy per token: layer 0, head 0")  # fmt: skip

    def show(change: dict) -> None:
        chosen = change["new"]
        if "layer" in chosen and "head" in chosen:
            layer, head = chosen["layer"], chosen["head"]
            strip.set_values(result.per_position[layer, head])
            strip.title = f"entropy per token: layer {layer}, head {head}"

    heatmap.observe(show, names="selected")
    top: ipywidgets.Widget = heatmap
    pattern = None
    if result.patterns is not None:
        pattern = AttentionPattern(result.str_tokens, result.patterns)
        box_link = link_selection(heatmap, pattern)
        top = ipywidgets.HBox([heatmap, pattern], layout=ipywidgets.Layout(flex_flow="row wrap"))
        top.link = box_link
    box = ipywidgets.VBox([top, strip])
    box.heatmap, box.strip, box.pattern = heatmap, strip, pattern  # for tests and notebooks
    return box


@view.register(EntropyTrainingResult)
def training_view(result: EntropyTrainingResult) -> ipywidgets.VBox:
    """Layer-mean entropy over steps, the loss below, and the collapse verdict."""
    steps = result.steps.float()
    layers = result.entropy.mean(-1).T  # [layer, record]
    entropy = LineChart(steps, layers, [f"layer {i}" for i in range(len(layers))],
                        title="mean probe entropy per layer", y_label="nats")  # fmt: skip
    loss = LineChart(steps, {"loss": result.loss, "max since last record": result.window_max_loss},
                     title="training loss", y_label="nats/token")  # fmt: skip
    collapse = find_collapse(result)
    verdict = (
        "no head fell below 0.1 nats"
        if collapse is None
        else f"collapse at step {collapse.step}: layer {collapse.layer} head {collapse.head} "
        f"({collapse.entropy:.3g} nats), loss spike: {'yes' if collapse.loss_spike else 'no'}"
    )
    return ipywidgets.VBox([entropy, loss, ipywidgets.HTML(html.escape(verdict))])


@view.register(EntropyBoundResult)
def bound_view(result: EntropyBoundResult) -> ipywidgets.VBox:
    """Measured mean entropy and the mean bound per head (tabs), with the verdict."""
    measured = Heatmap(result.measured_mean, title="measured entropy", value_label="nats")
    children, titles = [measured], ["measured"]
    if result.applies:
        children.append(Heatmap(result.bound_mean, title="Theorem 3.1 bound", value_label="nats"))
        titles.append("bound")
        verdict = f"Theorem 3.1 bound: {result.violations} query rows below it"
    else:
        verdict = result.reason
    tabs = ipywidgets.Tab(children=children, titles=titles)
    return ipywidgets.VBox([tabs, ipywidgets.HTML(html.escape(verdict))])


@view.register(EntropyLengthResult)
def length_view(result: EntropyLengthResult) -> LineChart:
    """Mean entropy per layer (over heads) against the context length."""
    layers = result.entropy.mean(-1).T  # [layer, length]
    return LineChart(result.lengths.float(), layers, [f"layer {i}" for i in range(len(layers))],
                     title="mean attention entropy vs context length", x_label="tokens",
                     y_label="nats")  # fmt: skip
