"""Attention views: one head's pattern, and a dashboard that picks the head from a heatmap.

Example:
    >>> logits, cache = model.run_with_cache(tokens, names_filter=lambda n: "pattern" in n)
    >>> patterns = torch.stack([cache["pattern", l][0] for l in range(n_layers)])
    >>> attention_dashboard(model.to_str_tokens(tokens), patterns)   # [layer, head, dest, src]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np
import torch
import traitlets
from jaxtyping import Float
from torch import Tensor

from workbench.widgets._arrays import as_numpy, decode_array, encode_array
from workbench.widgets._base import WorkbenchWidget, bundle_esm
from workbench.widgets._labels import check_index
from workbench.widgets.heatmap import Heatmap
from workbench.widgets.linking import link_selection
from workbench.widgets.tokens import TokenStrip


def _check_pattern_shape(array: np.ndarray, n_tokens: int) -> None:
    if array.ndim not in (2, 4):
        raise ValueError(
            f"pattern must be [dest, src] or [layer, head, dest, src], got shape {array.shape}"
        )
    if array.shape[-2:] != (n_tokens, n_tokens):
        raise ValueError(
            f"pattern's last two dims {tuple(array.shape[-2:])} must both equal the number of "
            f"tokens ({n_tokens})"
        )


class AttentionPattern(WorkbenchWidget):
    """One head's attention pattern over `tokens`.

    Given all heads (`[layer, head, dest, src]`), the view follows `selected` =
    `{"layer", "head"}` (set it, or link it to a `Heatmap`); the full tensor stays in Python
    and only the chosen head's `[dest, src]` slice is sent to the browser.
    """

    _esm = bundle_esm("attention_pattern.js")
    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    pattern = traitlets.Bytes().tag(sync=True)
    shape = traitlets.List(traitlets.Int()).tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str],
        pattern: Float[Tensor, "dest src"] | Float[Tensor, "layer head dest src"],
        *,
        layer: int = 0,
        head: int = 0,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        tokens = [str(t) for t in tokens]
        array = as_numpy(pattern, "pattern")
        _check_pattern_shape(array, len(tokens))
        self._patterns = array if array.ndim == 4 else None
        self._title_prefix = title
        super().__init__(tokens=tokens, **kwargs)
        if self._patterns is None:
            self._show(array, title or "Attention pattern")
        else:
            self.observe(self._on_selected, names="selected")
            self.select(layer=layer, head=head)

    @property
    def selection_axes(self) -> tuple[str, ...]:
        return ("layer", "head") if self._patterns is not None else ()

    @property
    def array(self) -> np.ndarray:
        """The `[dest, src]` pattern currently shown."""
        return decode_array(self.pattern, self.shape)

    def select(self, **axes: int) -> None:
        if self._patterns is not None:
            n_layers, n_heads = self._patterns.shape[:2]
            sizes = {"layer": n_layers, "head": n_heads}
            for axis in set(axes) & set(sizes):
                axes[axis] = check_index(axes[axis], sizes[axis], axis)
        super().select(**axes)

    def _on_selected(self, change: dict[str, Any]) -> None:
        layer, head = change["new"].get("layer", 0), change["new"].get("head", 0)
        label = f"Layer {layer}, head {head}"
        title = f"{self._title_prefix} \u2014 {label}" if self._title_prefix else label
        self._show(self._patterns[layer, head], title)

    def _show(self, pattern: np.ndarray, title: str) -> None:
        data, shape = encode_array(pattern, ndim=2, name="pattern")
        with self.hold_sync():  # pattern, shape and title arrive in one message
            self.pattern, self.shape, self.title = data, shape, title


def mean_attention_entropy(
    patterns: Float[Tensor, "layer head dest src"],
) -> Float[np.ndarray, "layer head"]:
    """Entropy (nats) of each destination's attention distribution, averaged over destinations.

    The quantity tracked by Zhai et al. (2023), "Stabilizing Transformer Training by Preventing
    Attention Entropy Collapse"; here only as the dashboard's default head summary.
    """
    from workbench.kernels.attention.statistics import entropy

    p = torch.from_numpy(as_numpy(patterns, "patterns").astype(np.float64))
    return entropy(p).mean(-1).numpy()


class AttentionDashboard(ipywidgets.VBox):
    """Heatmap of a per-head value; clicking a cell shows that head's pattern and recolours the
    token strip by where the selected token (default: the last) attends in that head."""

    def __init__(
        self,
        tokens: Sequence[str],
        patterns: Float[Tensor, "layer head dest src"],
        head_values: Float[Tensor, "layer head"] | None = None,
        *,
        value_label: str | None = None,
        title: str = "Heads",
    ) -> None:
        tokens = [str(t) for t in tokens]
        self.patterns = as_numpy(patterns, "patterns")
        if self.patterns.ndim != 4:
            raise ValueError(
                f"patterns must be [layer, head, dest, src], got shape {self.patterns.shape}"
            )
        if head_values is None:
            head_values = mean_attention_entropy(self.patterns)
            value_label = value_label or "mean attention entropy (nats)"
        self.heatmap = Heatmap(head_values, title=title, value_label=value_label or "")
        if self.heatmap.shape != list(self.patterns.shape[:2]):
            raise ValueError(
                f"head_values shape {self.heatmap.shape} must match patterns' [layer, head] "
                f"{list(self.patterns.shape[:2])}"
            )
        self.pattern = AttentionPattern(tokens, self.patterns)
        self.token_strip = TokenStrip(tokens, color_scale="attention")
        self.link = link_selection(self.heatmap, self.pattern)
        self.heatmap.observe(self._recolour_tokens, names="selected")
        self.token_strip.observe(self._recolour_tokens, names="selected")
        self.heatmap.select(layer=0, head=0)
        self.token_strip.select(pos=len(tokens) - 1)
        # Wrap so that a narrow notebook (e.g. next to a side panel) stacks the two views.
        row = ipywidgets.HBox(
            [self.heatmap, self.pattern], layout=ipywidgets.Layout(flex_flow="row wrap")
        )
        super().__init__([row, self.token_strip])

    def _recolour_tokens(self, change: dict[str, Any] | None = None) -> None:
        layer = self.heatmap.selected.get("layer", 0)
        head = self.heatmap.selected.get("head", 0)
        pos = self.token_strip.selected.get("pos", len(self.token_strip.tokens) - 1)
        label = f"attention from pos {pos} (layer {layer}, head {head})"
        self.token_strip.set_values(self.patterns[layer, head, pos], value_label=label)


def attention_dashboard(
    tokens: Sequence[str],
    patterns: Float[Tensor, "layer head dest src"],
    head_values: Float[Tensor, "layer head"] | None = None,
    **kwargs: Any,
) -> AttentionDashboard:
    """Heatmap of `head_values` (default: mean attention entropy) + the clicked head's pattern
    + a token strip; see `AttentionDashboard`."""
    return AttentionDashboard(tokens, patterns, head_values, **kwargs)
