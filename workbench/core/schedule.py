"""Per-layer schedules: one variant spec per layer for a family field (hybrid models).

A family field of `ModelConfig` (`attention`, `mlp`, `norm`, `block`, `position`) holds one
spec for every layer, or a list of `n_layers` specs: attention every k-th layer among
DeltaNet layers, alternating local and global attention, rotary positions in the attention
layers of a Mamba hybrid, ... `ModelConfig` turns the list into a `LayerSchedule`;
`cfg.spec(field, layer)` gives the spec of one layer whatever the field holds, and
`cfg.layer_config(layer)` the uniform config a layer is built from (so a variant's `build`
reads `cfg.position` etc. as for any model). The JSON form is the plain list of spec dicts,
so checkpoints round trip. A position schedule takes relative schemes only (rotary, ALiBi,
none, ...): additive embeddings enter the stream once, before the first layer.

Example:
    >>> cfg = ModelConfig(n_layers=4, attention=every(2, "softmax", "deltanet", n_layers=4))
    >>> [cfg.spec("attention", layer).name for layer in range(4)]
    ['deltanet', 'softmax', 'deltanet', 'softmax']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from workbench.core.registry import Registry, VariantSpec
from workbench.core.validate import ConfigError

# Family fields that may vary by layer. The others are model-wide: `norm_placement` also
# decides the final norm, `reparam` rewrites the whole model.
LAYER_FIELDS = ("attention", "mlp", "norm", "block", "position")


@dataclasses.dataclass(frozen=True)
class LayerSchedule:
    """The specs of a family field, one per layer (`specs[layer]`)."""

    field: str
    specs: tuple[VariantSpec, ...]

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, layer: int) -> VariantSpec:
        return self.specs[layer]

    def __iter__(self):
        return iter(self.specs)

    def __getattr__(self, name: str) -> Any:
        # Code that reads `cfg.attention.name` assumes one spec for every layer: say so
        # rather than let it pick one layer's spec.
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"ModelConfig.{self.field} is a per-layer schedule, not one spec (no "
            f"attribute {name!r}); use cfg.spec({self.field!r}, layer)"
        )

    def to_dict(self) -> list[dict[str, Any]]:
        return [spec.to_dict() for spec in self.specs]

    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]


def resolve_field(
    registry: Registry, field: str, value: Any, n_layers: int
) -> VariantSpec | LayerSchedule:
    """One spec, or a `LayerSchedule` when `value` is a list (or schedule) of `n_layers`
    specs; errors name the field and the layer (`ModelConfig.attention[2]`)."""
    path = f"ModelConfig.{field}"
    if isinstance(value, LayerSchedule):
        value = value.specs
    if not isinstance(value, list | tuple):
        return registry.resolve(value, path)
    if field not in LAYER_FIELDS:
        raise ConfigError(
            f"{path} is model-wide: give one spec, not a per-layer list. Fields that take "
            f"a per-layer list: {', '.join(LAYER_FIELDS)}"
        )
    if len(value) != n_layers:
        raise ConfigError(
            f"{path} lists {len(value)} specs, one per layer, but n_layers is {n_layers}"
        )
    specs = tuple(registry.resolve(spec, f"{path}[{i}]") for i, spec in enumerate(value))
    return LayerSchedule(field, specs)


def spec_at(value: VariantSpec | LayerSchedule, layer: int) -> VariantSpec:
    return value[layer] if isinstance(value, LayerSchedule) else value


def every(k: int, spec: Any, otherwise: Any, *, n_layers: int) -> list[Any]:
    """`spec` at layers k-1, 2k-1, ... and `otherwise` elsewhere (e.g. one attention layer
    per k layers of a hybrid)."""
    if k < 1:
        raise ValueError(f"every(k=...) needs k >= 1, got {k}")
    return [spec if (layer + 1) % k == 0 else otherwise for layer in range(n_layers)]


def cycle(specs: Sequence[Any], *, n_layers: int) -> list[Any]:
    """`specs` repeated over the layers (alternating local/global attention: two specs)."""
    if not specs:
        raise ValueError("cycle() needs at least one spec")
    return [specs[layer % len(specs)] for layer in range(n_layers)]
