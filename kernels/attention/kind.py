"""`AttentionKernel`: one frozen dataclass per attention kind, carrying its options (with
their defaults, written once), the statistics it supports and its three backends.

A kind lives in its own folder `kernels/attention/<kind>/`: `reference.py` (how scores become
weights, and which statistics of `statistics.py` it reports), `chunked.py` (PyTorch, no
`[query, key]` tensor) and `triton.py` (GPU kernel). The reference is shared here: it
materializes scores, calls the kind's `weights` and `pattern_stats`, and is what the model's
eager path uses too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Sequence
from typing import ClassVar

from jaxtyping import Float, Int
from torch import Tensor
from workbench.kernels.attention.local import LocalMask
from workbench.kernels.attention.scores import scores_reference, visible_mask

from workbench.core.registry import suggest

Stats = dict[str, Float[Tensor, "batch head q"]]
BACKENDS = ("reference", "chunked", "sdpa", "triton")


@dataclasses.dataclass(frozen=True)
class AttentionCall:
    """What one call computes: masking, scale, ALiBi, padding and the statistics wanted.

    `key_lengths` (int64 `[batch]`): keys at positions >= length are padding (right-padded
    batches). `scale` None means 1 / sqrt(d_head). `local`: a window mask (`LocalMask`);
    None sees every key.
    """

    causal: bool = True
    scale: float | None = None
    alibi_slopes: Float[Tensor, "head"] | None = None
    key_lengths: Int[Tensor, "batch"] | None = None
    stats: tuple[str, ...] = ()
    local: LocalMask | None = None


@dataclasses.dataclass(frozen=True)
class AttentionKernel:
    """Base of the kinds. Subclasses set `name`, `statistics` and implement `weights`,
    `pattern_stats`, `chunked` and `triton`."""

    name: ClassVar[str] = ""
    statistics: ClassVar[tuple[str, ...]] = ()
    local_in_triton: ClassVar[bool] = False  # its Triton kernel honours `call.local`
    kinds: ClassVar[dict[str, type[AttentionKernel]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            AttentionKernel.kinds[cls.name] = cls

    # -- what a kind defines ------------------------------------------------------------
    def weights(
        self, scores: Float[Tensor, "batch head q k"], visible: Tensor
    ) -> Float[Tensor, "batch head q k"]:
        raise NotImplementedError

    def pattern_stats(
        self, scores: Tensor, weights: Tensor, visible: Tensor, names: Sequence[str]
    ) -> Stats:
        """Statistics from materialized scores and weights (the eager path and reference)."""
        raise NotImplementedError

    def chunked(self, q: Tensor, k: Tensor, v: Tensor, call: AttentionCall, chunk: int):
        raise NotImplementedError

    def triton(self, q: Tensor, k: Tensor, v: Tensor, call: AttentionCall):
        raise NotImplementedError

    def sdpa_applies(self, q: Tensor, k: Tensor, call: AttentionCall) -> bool:
        """Whether the fused-SDPA path computes this call (softmax only; see softmax/sdpa.py)."""
        return False

    def sdpa(self, q: Tensor, k: Tensor, v: Tensor, call: AttentionCall):
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    def reference(
        self, q: Tensor, k: Tensor, v: Tensor, call: AttentionCall
    ) -> tuple[Float[Tensor, "batch head q d"], Stats]:
        """Materializing reference: the source of truth (run it in float64 in tests)."""
        visible = visible_mask(
            q.shape[2], k.shape[2], call.causal, q.device, call.key_lengths, call.local
        )
        s = scores_reference(q, k, visible, call.scale, call.alibi_slopes)
        w = self.weights(s, visible)
        return w.to(v.dtype) @ v, self.pattern_stats(s, w, visible, call.stats)

    def forward(
        self,
        q: Float[Tensor, "batch head q d"],
        k: Float[Tensor, "batch head key_pos d"],
        v: Float[Tensor, "batch head key_pos d"],
        call: AttentionCall,
        backend: str = "auto",
        chunk: int | None = None,
    ) -> tuple[Float[Tensor, "batch head q d"], Stats]:
        """Output and the statistics `call.stats`, each `[batch, head, q]`. `chunk` is the
        chunked path's tile size (None: `auto_chunk`)."""
        chunk = chunk if chunk is not None else auto_chunk(q.shape[0] * q.shape[1])
        self.check(q, k, v, call, chunk)
        chosen = self.pick_backend(backend, q, k, call)
        if chosen == "triton" and call.local is not None and not self.local_in_triton:
            if backend != "auto":
                raise NotImplementedError(
                    f"The {self.name} Triton kernel has no local (window) masks; use "
                    "backend='chunked' or 'auto'"
                )
            chosen = "chunked"
        if chosen == "reference":
            return self.reference(q, k, v, call)
        if chosen == "chunked":
            return self.chunked(q, k, v, call, chunk)
        if chosen == "sdpa":
            return self.sdpa(q, k, v, call)
        return self.triton(q, k, v, call)

    def pick_backend(self, backend: str, q: Tensor, k: Tensor, call: AttentionCall) -> str:
        """`auto`: Triton for CUDA tensors when Triton is importable, else the fused-SDPA
        path where it computes the call (softmax, CPU, lse/entropy/sink), else chunked."""
        if backend == "auto":
            if q.is_cuda and triton_available():
                return "triton"
            return "sdpa" if self.sdpa_applies(q, k, call) else "chunked"
        if backend not in BACKENDS:
            raise ValueError(
                f"Unknown backend {backend!r} for {self.name} attention; valid: auto, "
                f"{', '.join(BACKENDS)}. {suggest(backend, BACKENDS)}"
            )
        if backend == "sdpa" and not self.sdpa_applies(q, k, call):
            raise ValueError(
                f"backend='sdpa' does not compute this {self.name} attention call: it needs "
                "softmax attention on the CPU without ALiBi, statistics among lse/entropy/sink "
                f"(asked: {list(call.stats)}) and, when causal, as many queries as keys. "
                "Use backend='chunked'."
            )
        return backend

    def check(self, q: Tensor, k: Tensor, v: Tensor, call: AttentionCall, chunk: int) -> None:
        if isinstance(call.stats, str):
            raise TypeError(f"stats must be a sequence of names, e.g. ({call.stats!r},)")
        for name in call.stats:
            if name not in self.statistics:
                raise ValueError(
                    f"Unknown {self.name} attention statistic {name!r}; valid: "
                    f"{', '.join(self.statistics)}. {suggest(name, self.statistics)}"
                )
        check_shapes(q, k, v)
        if chunk < 1:
            raise ValueError(f"chunk must be a positive tile size, got {chunk}")
        lengths = call.key_lengths
        if lengths is not None and (
            lengths.shape != (q.shape[0],) or lengths.dtype.is_floating_point
        ):
            raise ValueError(
                f"key_lengths must be integer [batch] = [{q.shape[0]}], got "
                f"{list(lengths.shape)} {lengths.dtype}"
            )
        if lengths is not None and bool(((lengths < 1) | (lengths > k.shape[2])).any()):
            raise ValueError(f"key_lengths must be in 1..{k.shape[2]}, got {lengths.tolist()}")


def check_shapes(q: Tensor, k: Tensor, v: Tensor) -> None:
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(
            "q, k, v must be [batch, head, pos, d_head]; got shapes "
            f"{list(q.shape)}, {list(k.shape)}, {list(v.shape)}"
        )
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"Incompatible q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)}: batch and "
            "head must agree, k and v must have the same positions, q and k the same d_head."
        )
    if q.shape[2] > k.shape[2]:
        raise ValueError(f"More queries ({q.shape[2]}) than keys ({k.shape[2]}).")


TILE_ELEMENTS = 2**17  # scores per tile (all batch x heads): ~0.5 MB fp32, cache-sized


def auto_chunk(batch_heads: int) -> int:
    """Tile size of the chunked path: the power of two in [32, 512] that keeps a
    `[batch*heads, chunk, chunk]` score tile near TILE_ELEMENTS. Measured on CPU (one
    thread, d_head 32): at batch*heads 16 and T 1024, chunk 128 took 0.15 s, 512 0.85 s;
    bigger tiles fall out of cache, smaller ones pay Python overhead per tile."""
    side = math.sqrt(TILE_ELEMENTS / max(batch_heads, 1))
    return int(min(512, max(32, 2 ** math.ceil(math.log2(side)))))


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def kernel_named(name: str) -> AttentionKernel:
    """The kind registered under `name`, with its default options."""
    if name not in AttentionKernel.kinds:
        valid = sorted(AttentionKernel.kinds)
        raise ValueError(
            f"Unknown attention kind {name!r}; valid: {', '.join(valid)}. {suggest(name, valid)}"
        )
    return AttentionKernel.kinds[name]()


__all__ = [
    "AttentionCall",
    "AttentionKernel",
    "BACKENDS",
    "check_shapes",
    "kernel_named",
]
