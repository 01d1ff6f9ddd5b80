"""Attribution patching (AtP): the first-order estimate of every patch of a sweep at once.

Nanda 2023 ("Attribution patching: activation patching at industrial scale") and Kramár et
al. 2024 ("AtP*", arXiv 2403.00745): patching activation `a` from its corrupted value `a'`
to its clean value `a` changes the metric by about `(a - a') . dM/da'`, the gradient taken on
the corrupted run. One clean forward (for `a`) and one corrupted forward + backward (for
`a'` and the gradient at every layer) give the estimate for every patch of a site; the dot
product runs over the dimensions a patch replaces together (and over the batch, since a
patch replaces every example at once).

The estimate is exact where the metric is linear in the patched activation (e.g. the last
layer's head outputs without a final norm) and an approximation elsewhere: compare it with
`activation_patching` (`pearson_r`), which the analysis reports.

Example:
    >>> estimate = attribution_patching(model, clean, corrupted, metric, site="head")
    >>> pearson_r(estimate, activation_patching(model, clean, corrupted, metric, "head"))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.patching_sweep import (
    Metric,
    check_pair,
    clean_activations,
    eval_mode,
    get_site,
    metric_value,
)
from workbench.analysis.runner import model_device

# The dimensions summed for one patch (after the batch, which is always summed).
_SUMMED = {
    "resid": (2,),  # [batch, pos, d_model] -> [pos]
    "attn_out": (2,),
    "mlp_out": (2,),
    "head": (1, 3),  # [batch, pos, head, d_head] -> [head]
    "head_pos": (3,),  # -> [pos, head]
}


def attribution_patching(
    model: Any,
    clean: Int[Tensor, "batch pos"],
    corrupted: Int[Tensor, "batch pos"],
    metric: Metric,
    site: str = "resid",
) -> Float[Tensor, "..."]:
    """The AtP estimate of the metric after each patch of `site`: `M(corrupted)` plus the
    linear change, in the shape `activation_patching` returns (float32, CPU)."""
    get_site(site)
    check_pair(clean, corrupted)
    device = model_device(model)
    clean, corrupted = clean.to(device), corrupted.to(device)
    with eval_mode(model):
        with torch.no_grad():
            _, clean_acts = clean_activations(model, clean, site)
        corrupted_value, acts, grads = corrupted_gradients(model, corrupted, metric, site)
    dims = (0, *_SUMMED[site])
    deltas = [
        ((clean_acts[layer].double() - acts[layer].double()) * grads[layer].double()).sum(dims)
        for layer in range(model.cfg.n_layers)
    ]
    return (corrupted_value + torch.stack(deltas)).float().cpu()


def corrupted_gradients(
    model: Any, corrupted: Tensor, metric: Metric, site: str
) -> tuple[float, list[Tensor], list[Tensor]]:
    """The metric on the corrupted run, the site's activation at every layer, and the
    metric's gradient with respect to each (one forward, one backward)."""
    names = [get_site(site).hook_name(layer) for layer in range(model.cfg.n_layers)]
    stored: dict[str, Tensor] = {}

    def keep(act: Tensor, hook: Any) -> None:
        stored[hook.name] = act

    def require_grad(embed: Tensor, hook: Any) -> Tensor:
        # Frozen weights (requires_grad=False) would leave no graph to differentiate.
        return embed if embed.requires_grad else embed.detach().requires_grad_(True)

    hooks = [("hook_embed", require_grad), *((name, keep) for name in names)]
    with torch.enable_grad():
        logits = model.run_with_hooks(corrupted, fwd_hooks=hooks)
        value = metric_value(metric, logits)
        acts = [stored[name] for name in names]
        grads = torch.autograd.grad(value, acts, allow_unused=True)
    grads = [torch.zeros_like(a) if g is None else g for a, g in zip(acts, grads, strict=True)]
    return float(value.detach()), [a.detach() for a in acts], [g.detach() for g in grads]


def pearson_r(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of two equally shaped tensors (float64); NaN if one is constant."""
    if a.shape != b.shape:
        raise ValueError(f"pearson_r needs equal shapes, got {list(a.shape)} and {list(b.shape)}")
    x, y = a.double().flatten(), b.double().flatten()
    x, y = x - x.mean(), y - y.mean()
    denominator = float(x.norm() * y.norm())
    return float((x * y).sum()) / denominator if denominator > 0 else math.nan
