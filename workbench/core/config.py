"""`ModelConfig`: the frozen description of a workbench transformer."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from workbench.core.registry import (
    ATTENTION,
    BLOCK,
    MLP,
    NORM,
    PLACEMENT,
    POSITION,
    REPARAM,
    VariantSpec,
)
from workbench.core.schedule import LAYER_FIELDS, LayerSchedule, resolve_field, spec_at
from workbench.core.validate import (
    ConfigError,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    check_known_fields,
    validate_fields,
)

# Fields holding a variant spec, and the registry that resolves each.
VARIANT_FIELDS = {
    "attention": ATTENTION,
    "norm": NORM,
    "norm_placement": PLACEMENT,
    "mlp": MLP,
    "position": POSITION,
    "reparam": REPARAM,
    "block": BLOCK,
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and variants of a model. Variants are given by name, dict or spec object;
    `attention`, `mlp`, `norm`, `block` and `position` also take a list with one spec per
    layer (a hybrid, see `workbench.core.schedule`); `cfg.spec(field, layer)` reads either
    form.

    Every field is checked on construction against its type hint (`PosInt`, `PosFloat`, ...
    from `workbench.core.validate`): a wrong type, a value out of range or an unknown name
    raises `ConfigError` naming the field, e.g. `ModelConfig.attention.bias`.

    Example:
        >>> cfg = ModelConfig(d_model=128, n_layers=2, n_heads=4, mlp="relu", position="rotary")
        >>> cfg.d_head, cfg.d_mlp
        (32, 512)
    """

    d_model: PosInt = 128
    n_layers: PosInt = 2
    n_heads: PosInt = 4
    d_vocab: PosInt = 259
    n_ctx: PosInt = 256
    d_head: PosInt | None = None  # None: d_model // n_heads (which must divide)
    d_mlp: PosInt | None = None  # None: 4 * d_model
    n_kv_heads: PosInt | None = None  # None: n_heads
    attention: Any = "softmax"
    norm: Any = "layernorm"
    norm_placement: Any = "pre"
    mlp: Any = "relu"
    position: Any = "learned"
    reparam: Any = "none"
    block: Any = "sequential"  # sublayer layout; configs saved without it load as before
    causal: bool = True
    tied_embeddings: bool = False
    embed_norm: bool = False
    has_unembed: bool = True
    attn_bias: bool = True
    mlp_bias: bool = True
    eps: PosFloat = 1e-5
    init_range: NonNegFloat = 0.02
    seed: NonNegInt = 0
    name: str = "workbench-model"

    def __post_init__(self) -> None:
        # Types and ranges come from the field hints; variant fields from their registries.
        validate_fields(self, skip=tuple(VARIANT_FIELDS))
        set_ = object.__setattr__
        for field, registry in VARIANT_FIELDS.items():
            set_(self, field, resolve_field(registry, field, getattr(self, field), self.n_layers))
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ConfigError(
                    f"ModelConfig.d_model ({self.d_model}) must be divisible by "
                    f"ModelConfig.n_heads ({self.n_heads}) when d_head is not given"
                )
            set_(self, "d_head", self.d_model // self.n_heads)
        if self.d_mlp is None:
            set_(self, "d_mlp", 4 * self.d_model)
        if self.n_kv_heads is None:
            set_(self, "n_kv_heads", self.n_heads)
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"ModelConfig.n_heads ({self.n_heads}) must be a multiple of "
                f"ModelConfig.n_kv_heads ({self.n_kv_heads})"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `ModelConfig.from_dict` inverts it."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            is_spec = isinstance(value, VariantSpec | LayerSchedule)
            out[field.name] = value.to_dict() if is_spec else value
        return out

    def spec(self, field: str, layer: int) -> VariantSpec:
        """The spec of family `field` at `layer` (one spec for all, or the schedule's)."""
        if field not in VARIANT_FIELDS:
            raise ValueError(f"{field!r} is not a variant field: {sorted(VARIANT_FIELDS)}")
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"layer {layer} out of range for n_layers={self.n_layers}")
        return spec_at(getattr(self, field), layer)

    def layer_config(self, layer: int) -> ModelConfig:
        """The config of `layer` alone: every per-layer schedule replaced by that layer's
        spec (the config itself when there is no schedule). `Block` builds from it."""
        self.spec("attention", layer)  # checks the layer index
        scheduled = {f: getattr(self, f)[layer] for f in LAYER_FIELDS
                     if isinstance(getattr(self, f), LayerSchedule)}  # fmt: skip
        return dataclasses.replace(self, **scheduled) if scheduled else self

    def layer_variants(self, layer: int) -> dict[str, str]:
        """Variant names of the per-layer families at `layer`, e.g. `{"attention": ...}`."""
        return {field: self.spec(field, layer).name for field in LAYER_FIELDS}

    def is_hybrid(self) -> bool:
        """Whether any family field holds a per-layer schedule."""
        return any(isinstance(getattr(self, f), LayerSchedule) for f in VARIANT_FIELDS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The inverse of `to_dict`; unknown fields raise with a suggestion."""
        return cls(**check_known_fields(cls, data))

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with `changes` applied and validated; unknown names raise with a suggestion."""
        return dataclasses.replace(self, **check_known_fields(type(self), changes))

    def config_hash(self) -> str:
        """Short stable hash of the config, for figure metadata and caches."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
