"""The one implementation of each attention statistic, computed from materialized weights.

Every reference backend, the model's eager path (when a hook holds the pattern), the widgets
and the analyses call these. The chunked and Triton backends stream the same quantities
without a `[query, key]` tensor and are tested against these functions.

All take weights `[..., key]` and reduce the last axis. Rows with no visible key (all
weights 0) give 0 for every statistic, never NaN.
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor


def entropy(p: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    """Shannon entropy in nats, -sum_j p_j log p_j, of rows that sum to 1 (Zhai et al. 2023)."""
    logp = p.clamp_min(torch.finfo(p.dtype).tiny).log()  # p = 0 contributes 0, not 0 * -inf
    return -torch.where(p > 0, p * logp, 0.0).sum(-1)


def normalized(w: Float[Tensor, "... key"]) -> Float[Tensor, "... key"]:
    """Rows divided by their sum; rows summing to 0 stay 0."""
    mass = w.sum(-1, keepdim=True)
    return w / torch.where(mass > 0, mass, 1.0)


def effective_keys(p: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    """n_eff = 1 / sum_j p_j^2: the number of keys a row spreads over (0 for empty rows)."""
    s2 = p.square().sum(-1)
    return torch.where(s2 > 0, 1 / torch.where(s2 > 0, s2, 1.0), 0.0)


def max_weight(w: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    return w.amax(-1)


def sink(w: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    """Weight on the first key (the attention sink of Xiao et al. 2023)."""
    return w[..., 0]


def row_mass(w: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    return w.sum(-1)


def active_count(w: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    """Keys with weight > 0.5 (sigmoid attention's 'on' keys)."""
    return (w > 0.5).sum(-1).to(w.dtype)


def zero_fraction(
    w: Float[Tensor, "... key"], visible: Bool[Tensor, "... key"]
) -> Float[Tensor, "..."]:
    """Fraction of the visible keys whose weight is exactly zero (clipped softmax)."""
    count = visible.sum(-1).to(w.dtype)
    zeros = ((w == 0) & visible).sum(-1).to(w.dtype)
    return torch.where(count > 0, zeros / torch.where(count > 0, count, 1.0), 0.0)


def log_sum_exp(s: Float[Tensor, "... key"]) -> Float[Tensor, "..."]:
    """log sum_j e^(s_j) of the visible (finite) scores; -inf for empty rows."""
    return s.logsumexp(-1)


GATE_CLOSED_BELOW = 0.01


def gate_statistics(
    gate: Float[Tensor, "batch head pos"], names: tuple[str, ...]
) -> dict[str, Float[Tensor, "batch head pos"]]:
    """`gate` (the sigmoid gate value) and `gate_closed` (1 where gate < 0.01)."""
    every = {
        "gate": lambda: gate,
        "gate_closed": lambda: (gate < GATE_CLOSED_BELOW).to(gate.dtype),
    }
    return {name: every[name]() for name in names if name in every}
