"""Shared pieces of the chunked (CPU) attention paths: query/key tiling and the online
softmax state with the shifted entropy accumulator.

The online-softmax recurrences (FlashAttention) are extended by two accumulators:

- A = sum_j e^(s_j - m) (s_j - m), shifted by the running max m (PAPERS.md, after Zhai et
  al. 2023). When the max moves m -> m' (alpha = e^(m - m')):
  A <- alpha * (A + (m - m') * l) + sum_j e^(s_j - m') (s_j - m'), and H = log l - A / l.
  Shifting keeps the terms small, so H stays accurate in fp32 even with logits around 1e3.
- S2 = sum_j e^(2 (s_j - m)), which gives the effective number of keys n_eff = l^2 / S2.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from workbench.kernels.attention.local import LocalMask
from workbench.kernels.attention.local import visible_count as local_count
from workbench.kernels.attention.scores import alibi


def prepare(q: Tensor, k: Tensor, v: Tensor, scale: float | None, slopes: Tensor | None):
    """Scaled q, k, v and slopes in the accumulation dtype (float64 stays float64)."""
    scale = scale if scale is not None else 1 / math.sqrt(q.shape[-1])
    acc = torch.float64 if q.dtype == torch.float64 else torch.float32
    slopes = slopes.to(acc) if slopes is not None else None
    # Upcast before scaling: q * scale in fp16/bf16 would round every score by ~1e-3.
    # Laid out once here so that no tile copies its operands: the model hands over
    # transposed views, and k is stored key-minor ([b, h, d, n] memory seen as [b, h, n, d]),
    # so each tile's q @ k^T reads a plain row-major slice.
    keys_minor = k.to(acc).transpose(-1, -2).contiguous().transpose(-1, -2)
    return (q.to(acc) * scale).contiguous(), keys_minor, v.to(acc).contiguous(), slopes


def query_blocks(q_s: Tensor, n_k: int, chunk: int) -> Iterator[tuple[Tensor, Tensor]]:
    """(query block, absolute query positions); queries are the last n_q of n_k positions."""
    n_q = q_s.shape[2]
    offset = n_k - n_q
    for q0 in range(0, n_q, chunk):
        q_blk = q_s[:, :, q0 : q0 + chunk]
        yield q_blk, torch.arange(offset + q0, offset + q0 + q_blk.shape[2], device=q_s.device)


def key_chunks(
    q_blk: Float[Tensor, "batch head q d"],
    q_pos: Tensor,
    k: Float[Tensor, "batch head k d"],
    *,
    causal: bool,
    slopes: Tensor | None,
    chunk: int,
    key_lengths: Tensor | None = None,
    local: LocalMask | None = None,
) -> Iterator[tuple[slice, Float[Tensor, "batch head q c"], Bool[Tensor, "b q c"] | None]]:
    """Score tiles (masked with -inf) for one query block; fully-future chunks, chunks
    past every row's padding and chunks outside the local window are skipped.

    Yields (key slice, scores, visible mask `[batch_or_1, 1, q, c]` or None when the whole
    tile is visible). The first tile need not start at key 0 (local windows).
    """
    n_k = k.shape[2]
    k_end = min(n_k, int(q_pos[-1]) + 1) if causal else n_k
    if key_lengths is not None:
        k_end = min(k_end, int(key_lengths.max()))
    ranges = [(0, n_k)] if local is None else local.key_ranges(int(q_pos[0]), int(q_pos[-1]), n_k)
    for k0, k1 in tiles_of(ranges, k_end, chunk):
        k_pos = torch.arange(k0, k1, device=k.device)
        keys = slice(k0, k1)
        s = q_blk @ k[:, :, keys].transpose(-1, -2)
        if slopes is not None:
            s = s + alibi(slopes, q_pos, k_pos)
        visible = None
        if causal and int(k_pos[-1]) > int(q_pos[0]):
            visible = (k_pos[None, :] <= q_pos[:, None])[None, None]
        if local is not None and not local.covers(int(q_pos[0]), int(q_pos[-1]), k0, k1 - 1):
            near = local.allows(q_pos[:, None], k_pos[None, :])[None, None]
            visible = near if visible is None else visible & near
        if key_lengths is not None and int(k_pos[-1]) >= int(key_lengths.min()):
            real = (k_pos < key_lengths[:, None])[:, None, None, :]
            visible = real if visible is None else visible & real
        if visible is not None:
            s = s.masked_fill_(~visible, float("-inf"))  # s is this tile's own product
        yield keys, s, visible


def tiles_of(ranges: list[tuple[int, int]], end: int, chunk: int) -> Iterator[tuple[int, int]]:
    """[k0, k1) tiles of at most `chunk` keys over each range, starting before `end` (the
    last may reach past it: callers mask those keys, as for the causal diagonal)."""
    for lo, hi in ranges:
        for k0 in range(lo, min(hi, end), chunk):
            yield k0, min(k0 + chunk, hi)


def visible_count(
    q_pos: Tensor, n_k: int, causal: bool, key_lengths: Tensor | None, dtype, local=None
) -> Float[Tensor, "batch_or_1 1 q"]:
    """Number of keys each query of a block sees (causal, padding, local window)."""
    if local is not None:
        return local_count(local, q_pos, n_k, causal, key_lengths).to(dtype)[:, None]
    limit = torch.full_like(q_pos, n_k) if not causal else q_pos + 1
    if key_lengths is None:
        return limit.to(dtype)[None, None]
    return torch.minimum(limit[None, :], key_lengths[:, None]).to(dtype)[:, None]


_FLOOR = -1e4  # e^-1e4 == 0 in float32 and float64


class OnlineSoftmax:
    """Running max m, normaliser l, shifted entropy accumulator A and S2 of a query block."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device) -> None:
        self.m = torch.full(shape, float("-inf"), dtype=dtype, device=device)
        self.l = torch.zeros(shape, dtype=dtype, device=device)
        self.a = torch.zeros(shape, dtype=dtype, device=device)
        self.s2 = torch.zeros(shape, dtype=dtype, device=device)

    def update(
        self,
        s: Tensor,
        want_entropy: bool,
        want_s2: bool,
        v: Tensor | None = None,
        masked: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Fold in one tile of scores; returns (P @ v, or P itself without v; alpha).

        Consumes `s`: it is overwritten in place (each [q, k] temporary costs as much as the
        matmul at long context, so the tile is reused rather than copied). `masked=False`
        promises the tile holds no -inf (an interior tile), which saves a pass over it.
        """
        m_new = torch.maximum(self.m, s.amax(-1))
        # Rows with nothing visible yet keep m = -inf; shift them by 0 to avoid inf - inf.
        safe = torch.where(torch.isfinite(m_new), m_new, 0.0)
        alpha = torch.exp(self.m - safe)
        # Masked keys (-inf) become a finite floor whose exponential is exactly 0, so the
        # entropy term p * (s - m) is 0 there instead of 0 * -inf.
        shifted = s.sub_(safe[..., None])
        if masked:
            shifted = shifted.clamp_(min=_FLOOR)
        p = torch.exp(shifted)
        out = p @ v if v is not None else p
        l_tile = p.sum(-1)
        if want_s2:
            self.s2 = alpha * alpha * self.s2 + torch.linalg.vecdot(p, p)
        if want_entropy:
            moved = torch.where(self.l > 0, (self.m - safe) * self.l, 0.0)
            terms = (p.mul_(shifted) if v is not None else p * shifted).sum(-1)
            self.a = alpha * (self.a + moved) + terms
        self.l = alpha * self.l + l_tile
        self.m = m_new
        return out, alpha

    @property
    def empty(self) -> Tensor:
        return self.l == 0

    @property
    def l_safe(self) -> Tensor:
        return torch.where(self.empty, 1.0, self.l)

    def lse(self) -> Tensor:
        return self.m + torch.log(self.l_safe)

    def entropy(self) -> Tensor:
        return torch.where(self.empty, 0.0, torch.log(self.l_safe) - self.a / self.l_safe)

    def n_eff(self) -> Tensor:
        return torch.where(self.empty, 0.0, self.l * self.l / torch.where(self.empty, 1.0, self.s2))


def concat_blocks(outs: list[Tensor], parts: dict[str, list[Tensor]], dtype: torch.dtype):
    """Join per-query-block outputs and statistics along the query axis."""
    out = torch.cat(outs, dim=2).to(dtype)
    return out, {name: torch.cat(chunks, dim=2) for name, chunks in parts.items()}
