"""`StatsSummary`: mergeable accumulators of statistics over a corpus.

Per statistic and layer, for every unit (a head for attention statistics; the whole layer
for `mlp.nonzero_frac`): token count, float64 sum and sum of squares, min, max, a
fixed-bin histogram with under- and overflow bins, and the count of non-finite values (kept
out of everything else, and reported). `mlp.fire_count` is an exact int64 count per neuron.

`a.merge(b)` adds counts, sums and histograms and takes min/max: associative, exact for
counts, so one pass over halves merged equals one pass over the whole (floats to rounding).
The same merge serves batches, processes and machines. `save`/`load`: safetensors + JSON.

Example:
    >>> summary = workbench.collect_stats(model, texts, ["attn.entropy", "mlp.nonzero_frac"])
    >>> summary.mean("attn.entropy")      # [layer, head]
    >>> summary.mean("mlp.nonzero_frac")  # [layer]
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.core.registry import suggest

FORMAT = "workbench-stats-summary/1"


@dataclasses.dataclass(frozen=True)
class Bins:
    """Fixed histogram bins: `bins` equal steps between lo and hi (of log10 when `log`)."""

    lo: float
    hi: float
    bins: int = 64
    log: bool = False

    def edges(self) -> Float[Tensor, "edges"]:
        if self.log:
            return torch.logspace(math.log10(self.lo), math.log10(self.hi), self.bins + 1,
                                  dtype=torch.float64)  # fmt: skip
        return torch.linspace(self.lo, self.hi, self.bins + 1, dtype=torch.float64)

    def index(self, values: Float[Tensor, "..."]) -> Int[Tensor, "..."]:
        """Bin of each value: 0 = underflow (< lo), 1..bins, bins + 1 = overflow (> hi)."""
        index = torch.bucketize(values, self.edges(), right=True)
        return torch.where(values == self.hi, self.bins, index)


# Bins per statistic (data, not code paths): bounded statistics on their range, others on a
# range wide enough for real models, in log space where they span decades.
BINS: dict[str, Bins] = {
    "entropy": Bins(0.0, 16.0),
    "lse": Bins(-64.0, 64.0),
    "n_eff": Bins(1.0, 1e6, log=True),
    "row_mass": Bins(1e-6, 1e6, log=True),
    "active_count": Bins(0.0, 4096.0),
}
UNIT_BINS = Bins(0.0, 1.0)  # weights, fractions, gates


def bins_for(name: str) -> Bins:
    return BINS.get(name.partition(".")[2], UNIT_BINS)


@dataclasses.dataclass(eq=False)
class Accumulator:
    """Running moments of one statistic; leading dim = layer, then the unit shape."""

    count: Int[Tensor, "layer ..."]
    sum: Float[Tensor, "layer ..."]
    sumsq: Float[Tensor, "layer ..."]
    min: Float[Tensor, "layer ..."]
    max: Float[Tensor, "layer ..."]
    hist: Int[Tensor, "layer ... bins"]
    nonfinite: Int[Tensor, "layer ..."]

    FIELDS = ("count", "sum", "sumsq", "min", "max", "hist", "nonfinite")

    @classmethod
    def empty(cls, n_layers: int, unit: tuple[int, ...], bins: Bins) -> Accumulator:
        shape = (n_layers, *unit)
        f64, i64 = dict(dtype=torch.float64), dict(dtype=torch.int64)
        return cls(
            count=torch.zeros(shape, **i64), sum=torch.zeros(shape, **f64),
            sumsq=torch.zeros(shape, **f64), min=torch.full(shape, math.inf, **f64),
            max=torch.full(shape, -math.inf, **f64),
            hist=torch.zeros((*shape, bins.bins + 2), **i64),
            nonfinite=torch.zeros(shape, **i64),
        )  # fmt: skip

    def add(self, layer: int, values: Float[Tensor, "unit... n"], bins: Bins) -> None:
        """Fold in the values of real tokens, `[*unit, n]`."""
        values = values.double()
        finite = torch.isfinite(values)
        self.nonfinite[layer] += (~finite).sum(-1)
        self.count[layer] += finite.sum(-1)
        clean = torch.where(finite, values, 0.0)
        self.sum[layer] += clean.sum(-1)
        self.sumsq[layer] += clean.square().sum(-1)
        low = torch.where(finite, values, math.inf).amin(-1)
        high = torch.where(finite, values, -math.inf).amax(-1)
        self.min[layer] = torch.minimum(self.min[layer], low)
        self.max[layer] = torch.maximum(self.max[layer], high)
        index = torch.where(finite, bins.index(clean), bins.bins + 2)  # non-finite: dropped
        hist = torch.zeros((*values.shape[:-1], bins.bins + 3), dtype=torch.int64)
        hist.scatter_add_(-1, index, torch.ones_like(index))
        self.hist[layer] += hist[..., :-1]

    def merged(self, other: Accumulator) -> Accumulator:
        return Accumulator(
            count=self.count + other.count, sum=self.sum + other.sum,
            sumsq=self.sumsq + other.sumsq, min=torch.minimum(self.min, other.min),
            max=torch.maximum(self.max, other.max), hist=self.hist + other.hist,
            nonfinite=self.nonfinite + other.nonfinite,
        )  # fmt: skip


@dataclasses.dataclass(eq=False)
class StatsSummary:
    """Accumulated statistics of one model over some tokens (see the module docstring).

    `accumulators[name]` holds the moments of a per-token statistic; `fire_counts[name]`
    the exact `[layer, d_mlp]` counts of `mlp.fire_count`. `meta` records the model (name,
    config hash), the statistic names, the MLP threshold and the data seen.
    """

    accumulators: dict[str, Accumulator]
    fire_counts: dict[str, Int[Tensor, "layer d_mlp"]]
    tokens: int
    sequences: int
    meta: dict[str, Any]

    @property
    def names(self) -> list[str]:
        return sorted([*self.accumulators, *self.fire_counts])

    def _acc(self, name: str) -> Accumulator:
        if name not in self.accumulators:
            raise KeyError(f"No accumulated statistic {name!r}. {suggest(name, self.names)}")
        return self.accumulators[name]

    def mean(self, name: str) -> Float[Tensor, "layer ..."]:
        """Mean over tokens: `[layer, head]` for attention, `[layer]` for `mlp.nonzero_frac`,
        firing frequency `[layer, d_mlp]` for `mlp.fire_count`."""
        if name in self.fire_counts:
            return self.fire_counts[name].double() / max(self.tokens, 1)
        acc = self._acc(name)
        return acc.sum / acc.count.clamp(min=1)

    def std(self, name: str) -> Float[Tensor, "layer ..."]:
        acc = self._acc(name)
        n = acc.count.clamp(min=1)
        return (acc.sumsq / n - (acc.sum / n).square()).clamp(min=0).sqrt()

    def min(self, name: str) -> Float[Tensor, "layer ..."]:
        return self._acc(name).min

    def max(self, name: str) -> Float[Tensor, "layer ..."]:
        return self._acc(name).max

    def histogram(self, name: str) -> tuple[Int[Tensor, "layer ... bins"], Float[Tensor, "e"]]:
        """Counts `[layer, ..., under + bins + over]` and the bin edges."""
        return self._acc(name).hist, bins_for(name).edges()

    def nonfinite(self) -> dict[str, int]:
        """Non-finite values of real tokens per statistic (kept out of every moment)."""
        return {name: int(acc.nonfinite.sum()) for name, acc in self.accumulators.items()}

    # -- merging and files ------------------------------------------------------------
    def merge(self, other: StatsSummary) -> StatsSummary:
        """The summary of both token sets; refuses summaries of different models/requests."""
        check_mergeable(self, other)
        return StatsSummary(
            accumulators={n: a.merged(other.accumulators[n]) for n, a in self.accumulators.items()},
            fire_counts={n: c + other.fire_counts[n] for n, c in self.fire_counts.items()},
            tokens=self.tokens + other.tokens,
            sequences=self.sequences + other.sequences,
            meta={**self.meta, "data": merged_data(self.meta, other.meta)},
        )

    def save(self, path: str | Path) -> Path:
        """One safetensors file; the JSON description rides in its metadata."""
        from workbench.core.checkpoint import save_state

        tensors = {f"{name}/{field}": getattr(acc, field) for name, acc in
                   self.accumulators.items() for field in Accumulator.FIELDS}  # fmt: skip
        tensors.update({f"{name}/counts": c for name, c in self.fire_counts.items()})
        info = {"format": FORMAT, "tokens": self.tokens, "sequences": self.sequences,
                "meta": self.meta}  # fmt: skip
        save_state(tensors, Path(path), metadata={"summary": json.dumps(info)})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> StatsSummary:
        from safetensors import safe_open

        from workbench.core.checkpoint import read_state

        tensors = read_state(Path(path))
        with safe_open(str(path), "pt") as handle:
            header = (handle.metadata() or {}).get("summary")
        info = json.loads(header) if header else {}
        if info.get("format") != FORMAT:
            raise ValueError(f"{path} is not a workbench statistics summary ({FORMAT})")
        return from_tensors(tensors, info, path)


def from_tensors(tensors: dict[str, Tensor], info: dict, path) -> StatsSummary:
    names = sorted({key.rsplit("/", 1)[0] for key in tensors})
    accs, counts = {}, {}
    for name in names:
        if f"{name}/counts" in tensors:
            counts[name] = tensors[f"{name}/counts"]
            continue
        missing = [f for f in Accumulator.FIELDS if f"{name}/{f}" not in tensors]
        if missing:
            raise ValueError(f"{path}: statistic {name!r} lacks {missing}; the file is damaged")
        accs[name] = Accumulator(**{f: tensors[f"{name}/{f}"] for f in Accumulator.FIELDS})
    return StatsSummary(accs, counts, int(info["tokens"]), int(info["sequences"]), info["meta"])


def check_mergeable(a: StatsSummary, b: StatsSummary) -> None:
    for key in ("model", "config_hash", "mlp_threshold"):
        if a.meta.get(key) != b.meta.get(key):
            raise ValueError(
                f"Cannot merge summaries with different {key}: {a.meta.get(key)!r} vs "
                f"{b.meta.get(key)!r}"
            )
    if a.names != b.names:
        raise ValueError(f"Cannot merge summaries of different statistics: {a.names} vs {b.names}")
    for name, acc in a.accumulators.items():
        if acc.sum.shape != b.accumulators[name].sum.shape:
            raise ValueError(f"Cannot merge {name}: shapes {list(acc.sum.shape)} vs "
                             f"{list(b.accumulators[name].sum.shape)}")  # fmt: skip


def merged_data(a: dict, b: dict) -> list:
    """The data descriptions of both parts, in order (fingerprints of each part)."""
    return [*a.get("data", []), *b.get("data", [])]


def accumulate(
    summary: StatsSummary, stats, mask: Bool[Tensor, "batch pos"] | None, n_layers: int
) -> None:
    """Fold one `Stats` (one batch) into `summary`, real tokens only."""
    for name in stats.names:
        for layer in range(n_layers):
            value = stats[name, layer].detach().cpu()
            if name in summary.fire_counts:
                summary.fire_counts[name][layer] += value.long()
                continue
            real = (
                torch.ones(value.shape[0], value.shape[-1], dtype=torch.bool)
                if mask is None
                else mask
            )
            # [batch, *unit, pos] -> [*unit, n_real]
            moved = value.movedim(0, -2).flatten(-2)[..., real.flatten()]
            summary.accumulators[name].add(layer, moved, bins_for(name))
