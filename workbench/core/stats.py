"""Statistics requested through `Model.run_with_stats` and the `Stats` they return.

Attention statistics come from the instrumented kernels in `workbench.kernels.attention`
(Triton on GPU, chunked PyTorch on CPU), or from the pattern a hook already holds; MLP
statistics from `workbench.kernels.mlp`. Every requested statistic comes back for every
layer, or the call fails naming what is missing; padded positions are never counted (their
per-position entries are NaN, and counts leave them out).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from workbench.core.registry import suggest

MLP_STATS = ("nonzero_frac", "fire_count")


class StatsCollector:
    """Carries the requested statistics into the forward pass and gathers the results.

    `mlp_threshold`: a neuron fires when |activation| > threshold; None means "exact zeros
    only" and is refused by activations that have none. `token_mask` (True on real tokens)
    keeps padding out of counts.
    """

    def __init__(
        self,
        requested: dict[str, tuple[str, ...]],
        mlp_threshold: float | None = None,
        token_mask: Bool[Tensor, "batch pos"] | None = None,
    ) -> None:
        self.requested = requested
        self.mlp_threshold = mlp_threshold
        self.token_mask = token_mask
        self.values: dict[tuple[str, int], Tensor] = {}

    def wants(self, family: str) -> tuple[str, ...]:
        return self.requested.get(family, ())

    def threshold(self, exact_zeros: bool, where: str) -> float:
        """The firing threshold for an MLP whose activation has (or lacks) exact zeros."""
        if self.mlp_threshold is not None:
            return self.mlp_threshold
        if exact_zeros:
            return 0.0
        raise ValueError(no_exact_zeros_message(where))

    def record(self, family: str, layer: int, values: dict[str, Tensor]) -> None:
        for stat, tensor in values.items():
            self.values[(f"{family}.{stat}", layer)] = tensor.detach()


def no_exact_zeros_message(where: str) -> str:
    return (
        f"{where} has no exact zeros (e.g. GELU, SiLU, GLU gates): a nonzero fraction at "
        "threshold 0 would count almost every neuron. Pass mlp_threshold=... (e.g. 0.01); it "
        "is recorded with the statistics."
    )


def parse_request(
    stats: Sequence[str], supported: dict[str, set[str]]
) -> dict[str, tuple[str, ...]]:
    """`["attn.entropy", "mlp.nonzero_frac"]` -> `{"attn": ("entropy",), "mlp": (...)}`.

    `supported` maps a family to the statistics every layer of it can give.
    """
    if isinstance(stats, str):
        stats = [stats]
    if not stats:
        raise ValueError("No statistics requested: pass names such as ['attn.entropy']")
    requested: dict[str, list[str]] = {}
    valid = sorted(f"{fam}.{s}" for fam, names in supported.items() for s in names)
    for full in stats:
        family, _, stat = str(full).partition(".")
        if stat not in supported.get(family, set()):
            raise ValueError(
                f"Statistic {full!r} is not supported by this model. {suggest(str(full), valid)}"
            )
        requested.setdefault(family, []).append(stat)
    return {family: tuple(dict.fromkeys(names)) for family, names in requested.items()}


def record_mlp_stats(post: Float[Tensor, "batch pos d_mlp"], ctx, exact_zeros: bool, where: str):
    """Record MLP statistics computed from a materialized post-activation (GLU MLPs, hooked
    activations, activations without a kernel), with the kernels' reference functions."""
    collector = ctx.stats
    if collector is None or not collector.wants("mlp"):
        return
    from workbench.kernels.mlp.reference import mlp_stats_from_post

    threshold = collector.threshold(exact_zeros, where)
    values = mlp_stats_from_post(post.detach(), collector.wants("mlp"), threshold,
                                 collector.token_mask)  # fmt: skip
    collector.record("mlp", ctx.layer, values)


@dataclasses.dataclass(frozen=True, eq=False)
class Stats:
    """Statistics from one `run_with_stats` call, indexed by name and layer.

    Per-position statistics of padded tokens are NaN; `token_mask` says which are real.
    `absent` maps a statistic to the layers that cannot give it (hybrids); `layer_variants`
    names each layer's mixer, for messages.

    Example:
        >>> stats = model.run_with_stats(tokens, ["attn.entropy", "mlp.nonzero_frac"])
        >>> stats["attn.entropy", 0].shape   # [batch, head, pos]
        >>> stats["attn.entropy"].shape      # [layer, batch, head, pos]
        >>> stats.layer_means("attn.entropy")  # [layer], real tokens only
        >>> hybrid.run_with_stats(tokens, ["attn.entropy"]).by_layer("attn.entropy")  # {1: ...}
    """

    values: dict[tuple[str, int], Tensor]
    n_layers: int
    output: Tensor | None = None
    requested: tuple[str, ...] | None = None
    token_mask: Bool[Tensor, "batch pos"] | None = None
    mlp_threshold: float | None = None
    absent: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    layer_variants: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.requested is not None:
            check_complete(self.values, self.requested, self.n_layers, self.absent)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.values))

    def layers(self, name: str) -> tuple[int, ...]:
        """The layers that gave `name`, in order."""
        layers = tuple(sorted(layer for n, layer in self.values if n == name))
        if not layers:
            raise KeyError(f"No statistic {name!r}. {suggest(name, self.names)}")
        return layers

    def by_layer(self, name: str) -> dict[int, Tensor]:
        """`{layer: value}` for the layers that gave `name` (all of them, or a hybrid's
        subset): the layer index is explicit, so nothing can shift."""
        return {layer: self.values[(name, layer)] for layer in self.layers(name)}

    def _variant(self, layer: int) -> str:
        return f" ({self.layer_variants[layer]})" if self.layer_variants else ""

    def __getitem__(self, key: str | tuple[str, int]) -> Tensor:
        if isinstance(key, tuple):
            if key not in self.values:
                name, layer = key
                if layer in self.absent.get(name, ()):
                    raise KeyError(
                        f"Layer {layer}{self._variant(layer)} gives no {name!r}; the layers "
                        f"that do: {list(self.layers(name))}"
                    )
                raise KeyError(f"No statistic {key!r}. {suggest(str(key[0]), self.names)}")
            return self.values[key]
        layers = self.layers(key)
        if self.absent.get(key):
            lack = ", ".join(f"{i}{self._variant(i)}" for i in self.absent[key])
            raise KeyError(
                f"{key!r} is absent in layers {lack}: stacking the others would shift layer "
                f"indices. Use stats.by_layer({key!r}) (layers {list(layers)}) or "
                f"stats[{key!r}, layer]."
            )
        return torch.stack([self.values[(key, layer)] for layer in layers])

    def real(self, name: str) -> Bool[Tensor, "layer ..."]:
        """Which entries of `self[name]` belong to real (not padded) tokens."""
        return self._real_like(self[name])

    def _real_like(self, stacked: Tensor) -> Tensor:
        """Real-token mask shaped like `stacked` ([layer or 1, batch, ..., pos])."""
        if self.token_mask is None or stacked.dim() < 3:
            return torch.ones_like(stacked, dtype=torch.bool)
        mask = self.token_mask.to(stacked.device)
        shape = (1, mask.shape[0]) + (1,) * (stacked.dim() - 3) + (mask.shape[1],)
        return mask.view(shape).expand_as(stacked)

    def nonfinite(self) -> dict[str, int]:
        """Count of NaN/inf entries of real tokens per statistic (0 when all are finite),
        over the layers that gave it."""
        out = {}
        for name in self.names:
            stacked = torch.stack(list(self.by_layer(name).values())).float()
            out[name] = int((~torch.isfinite(stacked) & self._real_like(stacked)).sum())
        return out

    def layer_means(self, name: str) -> Float[Tensor, "layer"]:
        """Mean over real tokens (and heads), per layer; warns about non-finite values."""
        stacked = self[name].float()
        keep = self.real(name) & torch.isfinite(stacked)
        bad = int((self.real(name) & ~torch.isfinite(stacked)).sum())
        if bad:
            warnings.warn(f"{name}: {bad} non-finite values left out of the mean", stacklevel=2)
        total = torch.where(keep, stacked, 0.0).flatten(1).sum(1)
        return total / keep.flatten(1).sum(1).clamp(min=1)


def check_complete(
    values: dict[tuple[str, int], Tensor],
    requested: Sequence[str],
    n_layers: int,
    absent: dict[str, tuple[int, ...]] | None = None,
) -> None:
    """Every requested statistic for every layer not declared absent (before the run), none
    for the absent ones, and nothing unrequested; else raise, naming it."""
    absent = absent or {}
    problems = []
    for name in requested:
        expected = set(range(n_layers)) - set(absent.get(name, ()))
        got = {layer for n, layer in values if n == name}
        if expected - got:
            problems.append(f"{name!r} missing for layers {sorted(expected - got)}")
        if got - expected:
            problems.append(f"{name!r} given by layers declared absent {sorted(got - expected)}")
    extra = sorted({name for name, _ in values} - set(requested))
    if extra:
        problems.append(f"unrequested statistics {extra}")
    if problems:
        raise RuntimeError(
            "Statistics are incomplete: " + "; ".join(problems) + ". No partial result is "
            "returned, since stacking the layers that happen to exist would shift them."
        )
