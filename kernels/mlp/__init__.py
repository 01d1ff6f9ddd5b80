"""Instrumented MLP activation: `post = act(pre)` (optionally top-k sparsified) plus
sparsity statistics, computed in one pass (Li et al. 2023, "The Lazy Neuron Phenomenon").

Backends: `"reference"` (plain PyTorch), `"chunked"` (token-chunked PyTorch, any device),
`"triton"` (CUDA, or CPU under TRITON_INTERPRET=1), `"auto"` (triton for CUDA tensors when
Triton is importable, else chunked).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from jaxtyping import Bool, Float
from torch import Tensor
from workbench.kernels.mlp.chunked import mlp_activation_chunked
from workbench.kernels.mlp.reference import ACTIVATIONS, MLP_STATS, mlp_activation_reference

from workbench.core.registry import suggest

MAX_TOPK_COLS = 16384  # the Triton top-k kernel holds whole rows (triton_mlp.py)


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


MLP_BACKENDS = ("reference", "chunked", "triton")


def _check(pre: Tensor, act: str, stats: Sequence[str], top_k: int | None, backend: str) -> None:
    if act not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {act!r}. {suggest(act, list(ACTIVATIONS))}")
    for name in stats:
        if name not in MLP_STATS:
            raise ValueError(f"Unknown MLP statistic {name!r}. {suggest(name, MLP_STATS)}")
    if backend != "auto" and backend not in MLP_BACKENDS:
        raise ValueError(
            f"Unknown backend {backend!r}; valid: auto, {', '.join(MLP_BACKENDS)}. "
            f"{suggest(backend, MLP_BACKENDS)}"
        )
    if pre.ndim != 3:
        raise ValueError(f"pre must be [batch, pos, d_mlp], got shape {list(pre.shape)}")
    if top_k is not None and not 1 <= top_k <= pre.shape[-1]:
        raise ValueError(f"top_k must be in [1, d_mlp={pre.shape[-1]}], got {top_k}")


def mlp_activation(
    pre: Float[Tensor, "batch pos d_mlp"],
    *,
    act: str = "relu",
    stats: Sequence[str] = MLP_STATS,
    top_k: int | None = None,
    threshold: float = 0.0,
    token_mask: Bool[Tensor, "batch pos"] | None = None,
    backend: str = "auto",
) -> tuple[Float[Tensor, "batch pos d_mlp"], dict[str, Tensor]]:
    """Activation and statistics: `nonzero_frac` float32 [batch, pos] (fraction of neurons
    with |post| > threshold) and `fire_count` int64 [d_mlp] (tokens each neuron fired on;
    only tokens where `token_mask` is True count, padding never does).

    Example:
        >>> post, st = mlp_activation(pre, act="relu", stats=("fire_count",), top_k=16)
        >>> st["fire_count"].shape  # [d_mlp]
    """
    stats = tuple(stats)
    _check(pre, act, stats, top_k, backend)
    if backend == "auto":
        # The top-k kernel keeps whole rows in registers; wider rows take the chunked path.
        fits = top_k is None or pre.shape[-1] <= MAX_TOPK_COLS
        backend = "triton" if pre.is_cuda and fits and triton_available() else "chunked"
    if token_mask is not None and token_mask.shape != pre.shape[:-1]:
        raise ValueError(
            f"token_mask must be [batch, pos] = {list(pre.shape[:-1])}, "
            f"got {list(token_mask.shape)}"
        )
    kw = dict(act=act, stats=stats, top_k=top_k, threshold=threshold, token_mask=token_mask)
    if backend == "reference":
        return mlp_activation_reference(pre, **kw)
    if backend == "chunked":
        return mlp_activation_chunked(pre, **kw)
    from workbench.kernels.mlp.triton_mlp import mlp_activation_triton

    return mlp_activation_triton(pre, **kw)


__all__ = ["ACTIVATIONS", "MLP_BACKENDS", "MLP_STATS", "mlp_activation"]
