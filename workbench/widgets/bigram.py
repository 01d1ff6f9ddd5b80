"""View of a `BigramResult` (`workbench.analysis.bigram`): kept fraction per layer and per
matrix (click a matrix: its mask density heatmap below), the alignment of the residual
stream with the current vs the next token across layers, a held-out token strip of
subnetwork vs bigram surprisal, and the ablation table.

Example:
    >>> box = bigram_view(result)
    >>> box.matrices.select(matrix=3)      # box.density shows matrix 3's mask density
"""

from __future__ import annotations

import html

import ipywidgets
import torch

from workbench.analysis.bigram import BigramResult
from workbench.widgets.charts import BarChart, LineChart
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.registry import view
from workbench.widgets.tokens import TokenStrip

ALIGNMENT_SERIES = ("full: current token", "full: next token",
                    "subnetwork: current token", "subnetwork: next token")  # fmt: skip


def short_matrix_name(name: str) -> str:
    """`blocks.0.mlp.W_in` -> `L0 mlp.W_in`."""
    parts = name.split(".")
    return f"L{parts[1]} {'.'.join(parts[2:])}" if parts[0] == "blocks" else name


def density_heatmap(result: BigramResult, index: int) -> Heatmap:
    name = result.matrix_names[index]
    return Heatmap(result.density_maps[index], row_axis="row", col_axis="col",
                   title=f"kept fraction in {name} (downsampled)", value_label="kept")  # fmt: skip


def alignment_chart(result: BigramResult) -> LineChart:
    depth = torch.arange(result.alignment.shape[-1], dtype=torch.float64)
    series = result.alignment.reshape(4, -1)  # [model * target, depth]
    return LineChart(depth, series, list(ALIGNMENT_SERIES), x_label="depth (0 = embeddings)",
                     y_label="mean cosine", title="residual stream alignment")  # fmt: skip


def ablation_table(result: BigramResult) -> ipywidgets.HTML:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{loss:.4f}</td></tr>"
        for name, loss in result.ablation.items()
    )
    head = "<tr><th>condition</th><th>held-out loss (nats)</th></tr>"
    return ipywidgets.HTML(f"<table class='wb-table'>{head}{rows}</table>")


def surprisal_strips(result: BigramResult) -> list[TokenStrip]:
    if result.str_tokens is None:
        return []
    tokens = result.str_tokens[:-1]  # each value belongs to the token it predicts from
    return [
        TokenStrip(tokens, result.strip_subnetwork, value_label="bits",
                   title="subnetwork surprisal of the next token"),
        TokenStrip(tokens, result.strip_bigram, value_label="bits",
                   title="bigram-model surprisal of the next token"),
    ]  # fmt: skip


@view.register(BigramResult)
def bigram_view(result: BigramResult) -> ipywidgets.VBox:
    """Bars, the clicked matrix's density, the alignment chart, strips and the table."""
    layers = BarChart(result.kept_per_layer, axis="layer", value_label="kept fraction",
                      title=f"kept per layer (total {100 * result.kept_total:.3f}%)")  # fmt: skip
    labels = [short_matrix_name(n) for n in result.matrix_names]
    matrices = BarChart(result.kept_per_matrix, labels, axis="matrix",
                        value_label="kept fraction", title="kept per matrix")  # fmt: skip
    density = density_heatmap(result, 0)
    holder = ipywidgets.VBox([density])

    def show(change: dict) -> None:
        if "matrix" in change["new"]:
            box.density = density_heatmap(result, change["new"]["matrix"])
            holder.children = [box.density]

    matrices.observe(show, names="selected")
    summary = ipywidgets.HTML(
        f"<p>r = {result.pearson_r:.3f} over {result.n_correlated} held-out tokens; "
        f"{result.steps} steps ({'converged' if result.converged else 'not converged'})</p>"
    )
    strips = surprisal_strips(result)
    box = ipywidgets.VBox([summary, ipywidgets.HBox([layers, matrices]), holder,
                           alignment_chart(result), *strips, ablation_table(result)])  # fmt: skip
    box.layers, box.matrices, box.density, box.strips = layers, matrices, density, strips
    return box
