"""Padded batches: validate attention masks and move every row to right padding.

Statistics and caches must never count padding. Inside the workbench a padded batch is
always *right*-padded (real tokens first): then positions 0..n-1 are the real tokens, a
causal row reads exactly what it would read alone, and the kernels only need one length per
row. Left-padded input is rolled to right padding on the way in and rolled back on the way
out, so callers see their own layout.
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Bool, Int
from torch import Tensor


def check_attention_mask(
    mask: Tensor, tokens: Int[Tensor, "batch pos"], padding_only: bool = True
) -> Bool[Tensor, "batch pos"]:
    """A `[batch, pos]` mask of 0/1 (or bool) with a real token in every row; with
    `padding_only` (statistics), the real tokens of a row must be one run at one end."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"attention_mask must be a torch.Tensor, got {type(mask).__name__}")
    mask = mask.to(tokens.device)
    if mask.dim() == 1 and tokens.shape[0] == 1:
        mask = mask[None]
    if tuple(mask.shape) != tuple(tokens.shape):
        raise ValueError(
            f"attention_mask shape {tuple(mask.shape)} != tokens {tuple(tokens.shape)}"
        )
    if mask.dtype != torch.bool:
        if mask.dtype.is_floating_point or bool(((mask != 0) & (mask != 1)).any()):
            raise ValueError("attention_mask must hold 0/1 (or True/False) per token")
        mask = mask.bool()
    lengths = mask.sum(1)
    if bool((lengths == 0).any()):
        row = int((lengths == 0).nonzero()[0])
        raise ValueError(f"attention_mask row {row} has no real token")
    runs = mask[:, 0].long() + (~mask[:, :-1] & mask[:, 1:]).sum(1)  # starts of real runs
    bad = (runs != 1) | ~(mask[:, 0] | mask[:, -1])  # one run, touching an end
    if padding_only and bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise ValueError(
            f"attention_mask row {row} is not padding: real tokens must be one contiguous run "
            "(right or left padding)"
        )
    return mask


def first_real(mask: Bool[Tensor, "batch pos"]) -> Int[Tensor, "batch"]:
    return mask.long().argmax(1)


def roll_rows(x: Tensor, shift: Int[Tensor, "batch"], dim: int) -> Tensor:
    """`out[b, ..., i, ...] = x[b, ..., (i + shift[b]) % n, ...]` along `dim` (dim 0 is batch)."""
    n = x.shape[dim]
    index = (torch.arange(n, device=x.device)[None, :] + shift[:, None]) % n  # [batch, n]
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[dim] = n
    return x.gather(dim, index.view(shape).expand_as(x))


@dataclasses.dataclass(frozen=True)
class RightPadded:
    """A batch in right-padded form; `restore` maps per-position results back."""

    tokens: Int[Tensor, "batch pos"]
    mask: Bool[Tensor, "batch pos"] | None  # None: no padding at all
    shift: Int[Tensor, "batch"] | None  # None: the input was right-padded already

    def restore(self, x: Tensor, dim: int) -> Tensor:
        """Undo the roll along `dim` (the position axis of `x`)."""
        return x if self.shift is None else roll_rows(x, -self.shift, dim)

    def restore_statistic(self, value: Tensor) -> Tensor:
        """A per-position statistic `[batch, ..., pos]` in the caller's layout with NaN at
        padding; other shapes (`[d_mlp]` counts) as they are."""
        if value.dim() < 2:
            return value
        return self.restore(mark_padding(value, self.mask), dim=value.dim() - 1)


def right_padded(tokens: Int[Tensor, "batch pos"], mask: Tensor | None) -> RightPadded:
    """Roll left-padded rows so real tokens come first; drop an all-ones mask."""
    if mask is None:
        return RightPadded(tokens, None, None)
    mask = check_attention_mask(mask, tokens)
    if bool(mask.all()):
        return RightPadded(tokens, None, None)
    shift = first_real(mask)
    if not bool(shift.any()):
        return RightPadded(tokens, mask, None)
    return RightPadded(roll_rows(tokens, shift, 1), roll_rows(mask, shift, 1), shift)


def is_right_padded(mask: Bool[Tensor, "batch pos"]) -> bool:
    """Every row is real tokens followed by padding (no holes, nothing on the left)."""
    lengths = mask.sum(1, keepdim=True)
    return bool((mask == (torch.arange(mask.shape[1], device=mask.device) < lengths)).all())


def mark_padding(value: Tensor, mask: Bool[Tensor, "batch pos"] | None) -> Tensor:
    """NaN at padded positions of a per-position statistic `[batch, ..., pos]` (so a naive
    mean over it is visibly NaN rather than plausibly wrong); other shapes pass through."""
    if (
        mask is None
        or value.dim() < 2
        or tuple(value.shape[:1]) + value.shape[-1:] != tuple(mask.shape)
    ):
        return value
    shape = (mask.shape[0],) + (1,) * (value.dim() - 2) + (mask.shape[1],)
    return value.masked_fill(~mask.view(shape), float("nan"))


def encode_batch(tokenizer, texts: str | list[str]) -> tuple[Tensor, Tensor | None]:
    """Token ids and padding mask of texts (right padding; the tokenizer's own batch
    encoding, which encodes each text alone, so the mask is exact whatever id pads)."""
    if isinstance(texts, str):
        return tokenizer.to_tokens(texts), None
    if not texts:
        raise ValueError("No texts given: need at least one")
    return tokenizer.to_tokens_with_mask(list(texts), padding_side="right")
