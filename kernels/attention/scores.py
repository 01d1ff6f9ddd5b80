"""Scores and masks shared by every attention kind's reference (the source of truth).

Queries are the last `n_q` of `n_k` positions (a decoder with a cache may pass fewer queries
than keys). Padding is given as `key_lengths` (int64 `[batch]`): keys at positions >=
length are padding, never visible. Batches are right-padded by the callers (`Model` rolls
left-padded rows), so real tokens always start at position 0.
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from workbench.kernels.attention.local import LocalMask


def visible_mask(
    n_q: int,
    n_k: int,
    causal: bool,
    device: torch.device,
    key_lengths: Int[Tensor, "batch"] | None = None,
    local: LocalMask | None = None,
) -> Bool[Tensor, "batch_or_1 1 q k"]:
    """Which keys each query sees: causal (query i at position n_k - n_q + i), padding and
    the local window (`LocalMask`), if any."""
    k_pos = torch.arange(n_k, device=device)
    q_pos = torch.arange(n_k - n_q, n_k, device=device)
    mask = torch.ones(n_q, n_k, dtype=torch.bool, device=device)
    if causal:
        mask = k_pos[None, :] <= q_pos[:, None]
    if local is not None:
        mask = mask & local.allows(q_pos[:, None], k_pos[None, :])
    mask = mask[None, None]
    if key_lengths is not None:
        mask = mask & (k_pos < key_lengths.to(device)[:, None])[:, None, None, :]
    return mask


def alibi(slopes: Float[Tensor, "head"], q_pos: Tensor, k_pos: Tensor) -> Float[Tensor, "head q k"]:
    """ALiBi bias -m_h |i - j| (Press et al. 2022)."""
    distance = (q_pos[:, None] - k_pos[None, :]).abs().to(slopes.dtype)
    return -slopes[:, None, None] * distance


def scores_reference(
    q: Float[Tensor, "batch head q d"],
    k: Float[Tensor, "batch head k d"],
    visible: Bool[Tensor, "batch_or_1 1 q k"],
    scale: float | None = None,
    alibi_slopes: Float[Tensor, "head"] | None = None,
) -> Float[Tensor, "batch head q k"]:
    """Scaled, ALiBi-biased scores; invisible keys are -inf."""
    scale = scale if scale is not None else 1 / math.sqrt(q.shape[-1])
    n_q, n_k = q.shape[2], k.shape[2]
    s = torch.einsum("bhqd,bhkd->bhqk", q, k) * scale
    if alibi_slopes is not None:
        q_pos = torch.arange(n_k - n_q, n_k, device=q.device)
        s = s + alibi(alibi_slopes.to(s.dtype), q_pos, torch.arange(n_k, device=q.device))
    return s.masked_fill(~visible, float("-inf"))


def n_visible(visible: Bool[Tensor, "batch_or_1 1 q k"], dtype: torch.dtype) -> Tensor:
    """Number of keys each query sees, `[batch_or_1, 1, q]`."""
    return visible.sum(-1).to(dtype)
