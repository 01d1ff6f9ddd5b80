"""Local attention masks: sliding or blocked windows, dilation and global tokens.

`LocalMask` says which keys a query may see *besides* the causal and padding masks (which
the callers apply as before). Positions are absolute token positions (0 = the first real
token of a row). With `window = w`:

- sliding (`shift` None): key j is visible to query i iff |i - j| < w * dilation and
  (i - j) is a multiple of `dilation` (Longformer's dilated sliding window; causal: the w
  most recent keys at stride `dilation`, the query included);
- blocked (`shift` = s in [0, w)): i and j see each other iff they lie in the same block
  of w positions, blocks starting at positions = -s mod w. Alternating shifted windows
  (Swin) are a per-layer schedule: shift 0 on even layers, w // 2 on odd ones;
- `global_tokens` = g: the first g positions see every key and every query sees them
  (Longformer/BigBird global attention; in a causal model, attention sinks).

`dilation` without a window dilates over the whole context. Every query sees itself, so no
row is ever empty. Kernels skip key tiles outside `key_ranges`: time and memory grow with
the window, not with the sequence.

Example:
    >>> mask = LocalMask(window=4, global_tokens=1)
    >>> mask.allows(torch.tensor([[9]]), torch.arange(10)[None]).int()
    tensor([[1, 0, 0, 0, 0, 0, 1, 1, 1, 1]])
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Bool, Int
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class LocalMask:
    """Window options of one attention layer (see the module docstring)."""

    window: int | None = None
    shift: int | None = None
    dilation: int = 1
    global_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("window", "shift"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an int or None, got {value!r}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.dilation < 1 or self.global_tokens < 0:
            raise ValueError(
                f"dilation must be >= 1 and global_tokens >= 0, got {self.dilation}, "
                f"{self.global_tokens}"
            )
        if self.shift is not None:
            if self.window is None or not 0 <= self.shift < self.window:
                raise ValueError(
                    f"shift (blocked windows) needs a window and 0 <= shift < window, got "
                    f"shift={self.shift}, window={self.window}"
                )
            if self.dilation != 1:
                raise ValueError("dilation applies to sliding windows, not blocked ones (shift)")

    @property
    def restricts(self) -> bool:
        """Whether any key is hidden (global tokens alone hide nothing)."""
        return self.window is not None or self.dilation > 1

    def allows(
        self, q_pos: Int[Tensor, "*q"], k_pos: Int[Tensor, "*k"]
    ) -> Bool[Tensor, "*q_and_k"]:
        """Broadcast `q_pos` against `k_pos` (e.g. `[q, 1]` and `[1, k]`): visible or not."""
        diff = q_pos - k_pos
        ok = torch.ones_like(diff, dtype=torch.bool)
        if self.shift is not None:
            w = self.window
            ok = torch.div(q_pos + self.shift, w, rounding_mode="floor") == torch.div(
                k_pos + self.shift, w, rounding_mode="floor"
            )
        else:
            if self.dilation > 1:
                ok = ok & (torch.remainder(diff, self.dilation) == 0)
            if self.window is not None:
                ok = ok & (diff.abs() < self.window * self.dilation)
        if self.global_tokens:
            ok = ok | (q_pos < self.global_tokens) | (k_pos < self.global_tokens)
        return ok

    def key_ranges(self, q_first: int, q_last: int, n_k: int) -> list[tuple[int, int]]:
        """Half-open key ranges that queries at positions [q_first, q_last] may see (before
        causal and padding masks); keys outside them are hidden from every such query."""
        if not self.restricts or self.window is None or q_first < self.global_tokens:
            return [(0, n_k)]
        if self.shift is not None:
            w, s = self.window, self.shift
            lo = (q_first + s) // w * w - s
            hi = ((q_last + s) // w + 1) * w - s
        else:
            span = (self.window - 1) * self.dilation
            lo, hi = q_first - span, q_last + span + 1
        lo, hi = max(lo, 0), min(hi, n_k)
        g = min(self.global_tokens, n_k)
        if g >= lo:
            return [(0, max(hi, g))]
        return ([(0, g)] if g else []) + [(lo, hi)]

    def covers(self, q_first: int, q_last: int, k_first: int, k_last: int) -> bool:
        """Whether every query in [q_first, q_last] sees every key in [k_first, k_last]
        (before causal and padding masks): such a tile needs no window mask."""
        if k_last < self.global_tokens or q_last < self.global_tokens:
            return True
        if self.dilation > 1 or self.window is None:
            return not self.restricts
        if self.shift is not None:
            block = (q_first + self.shift) // self.window
            ends = (q_last, k_first, k_last)
            return all((p + self.shift) // self.window == block for p in ends)
        span = (self.window - 1) * self.dilation
        return k_first >= q_last - span and k_last <= q_first + span

    def to_call(self) -> LocalMask | None:
        """Itself when it hides anything, else None (the unrestricted fast paths)."""
        return self if self.restricts else None


def visible_count(
    local: LocalMask,
    q_pos: Int[Tensor, "q"],
    n_k: int,
    causal: bool,
    key_lengths: Int[Tensor, "batch"] | None,
) -> Int[Tensor, "batch_or_1 q"]:
    """Keys each query of a block (consecutive positions `q_pos`) sees under `local`, causal
    and padding masks, counted over the block's key ranges only (memory q x window)."""
    total = torch.zeros((1 if key_lengths is None else len(key_lengths), len(q_pos)),
                        dtype=torch.long, device=q_pos.device)  # fmt: skip
    for lo, hi in local.key_ranges(int(q_pos[0]), int(q_pos[-1]), n_k):
        k_pos = torch.arange(lo, hi, device=q_pos.device)
        ok = local.allows(q_pos[:, None], k_pos[None, :])
        if causal:
            ok = ok & (k_pos[None, :] <= q_pos[:, None])
        if key_lengths is not None:
            ok = ok[None] & (k_pos < key_lengths[:, None])[:, None, :]
        total += ok.reshape(-1, len(q_pos), len(k_pos)).sum(-1)
    return total
