"""Instrumented attention: output plus per-(batch, head, query) statistics, without
materializing the [query, key] pattern (chunked and Triton backends).

Each kind is a frozen dataclass (`SoftmaxKernel`, `SigmoidKernel(bias=...)`,
`ClippedKernel(gamma=..., zeta=...)`) in its own folder with reference, chunked and Triton
backends (see `kind.py`). `attention_forward` takes a kind object or its name:

- `"triton"`: CUDA, or CPU under TRITON_INTERPRET=1;
- `"chunked"`: PyTorch, any device, no [q, k] tensor;
- `"reference"`: materializes; the source of truth for tests;
- `"auto"`: triton for CUDA tensors when Triton is importable, else chunked.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxtyping import Float, Int
from torch import Tensor
from workbench.kernels.attention.clipped import ClippedKernel
from workbench.kernels.attention.kind import (
    BACKENDS,
    AttentionCall,
    AttentionKernel,
    kernel_named,
)
from workbench.kernels.attention.sigmoid import SigmoidKernel
from workbench.kernels.attention.softmax import SoftmaxKernel


def attention_forward(
    q: Float[Tensor, "batch head pos d_head"],
    k: Float[Tensor, "batch head key_pos d_head"],
    v: Float[Tensor, "batch head key_pos d_head"],
    *,
    kind: str | AttentionKernel = "softmax",
    causal: bool = True,
    scale: float | None = None,
    stats: Sequence[str] = (),
    alibi_slopes: Float[Tensor, "head"] | None = None,
    key_lengths: Int[Tensor, "batch"] | None = None,
    backend: str = "auto",
    chunk: int | None = None,
) -> tuple[Float[Tensor, "batch head pos d_head"], dict[str, Float[Tensor, "batch head pos"]]]:
    """Attention output and the requested statistics, each `[batch, head, pos]`.

    Queries are the last `pos` of `key_pos` positions. `key_lengths` marks right padding:
    keys at positions >= length are never visible. `chunk` is the chunked path's tile size
    (None: sized to the cache, see `kind.auto_chunk`).

    Example:
        >>> out, st = attention_forward(q, k, v, causal=True, stats=["entropy", "sink"])
        >>> out, st = attention_forward(q, k, v, kind=SigmoidKernel(bias=-2.0), stats=["row_mass"])
    """
    kernel = kernel_named(kind) if isinstance(kind, str) else kind
    if isinstance(stats, str):
        raise TypeError(f"stats must be a sequence of names, e.g. ({stats!r},), not a string")
    call = AttentionCall(causal, scale, alibi_slopes, key_lengths, tuple(stats))
    return kernel.forward(q, k, v, call, backend=backend, chunk=chunk)


KINDS = AttentionKernel.kinds  # name -> kind class, filled as each kind's module loads

__all__ = [
    "BACKENDS",
    "KINDS",
    "AttentionCall",
    "AttentionKernel",
    "ClippedKernel",
    "SigmoidKernel",
    "SoftmaxKernel",
    "attention_forward",
    "kernel_named",
]
