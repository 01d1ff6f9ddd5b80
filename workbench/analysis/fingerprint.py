"""`fingerprint_tokens`: a short, stable identity of the data an analysis ran on.

Two results with the same fingerprint saw the same token ids at the same positions with the
same padding. A missing mask and an all-ones mask mean the same data, so they give the same
fingerprint.

Example:
    >>> fingerprint_tokens(torch.tensor([[256, 104, 105]]))
    'sha256:5c0e...  shape=1x3'
"""

from __future__ import annotations

import hashlib

import torch
from jaxtyping import Int
from torch import Tensor


def fingerprint_tokens(
    tokens: Int[Tensor, "batch pos"], attention_mask: Int[Tensor, "batch pos"] | None = None
) -> str:
    """`"sha256:<hex> shape=<batch>x<pos>"` over shape, token ids (int64) and mask (bool)."""
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
    if attention_mask is None:
        mask = torch.ones(tokens.shape, dtype=torch.bool)
    else:
        if attention_mask.shape != tokens.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} != tokens "
                f"{tuple(tokens.shape)}"
            )
        mask = attention_mask.detach().cpu().bool()
    ids = tokens.detach().cpu().to(torch.int64).contiguous()
    digest = hashlib.sha256()
    digest.update(repr(tuple(ids.shape)).encode())
    digest.update(ids.numpy().astype("<i8").tobytes())
    digest.update(mask.contiguous().numpy().tobytes())
    shape = "x".join(str(n) for n in ids.shape)
    return f"sha256:{digest.hexdigest()} shape={shape}"
