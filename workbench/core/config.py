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
    """Shape and variants of a model. Variants are given by name, dict or spec object.

    Example:
        >>> cfg = ModelConfig(d_model=128, n_layers=2, n_heads=4, mlp="relu", position="rotary")
        >>> cfg.d_head, cfg.d_mlp
        (32, 512)
    """

    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_vocab: int = 259
    n_ctx: int = 256
    d_head: int | None = None
    d_mlp: int | None = None
    n_kv_heads: int | None = None
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
    eps: float = 1e-5
    init_range: float = 0.02
    seed: int = 0
    name: str = "workbench-model"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for field, registry in VARIANT_FIELDS.items():
            set_(self, field, registry.resolve(getattr(self, field)))
        set_(self, "d_head", self.d_head or self.d_model // self.n_heads)
        set_(self, "d_mlp", self.d_mlp or 4 * self.d_model)
        set_(self, "n_kv_heads", self.n_kv_heads or self.n_heads)
        self._validate()

    def _validate(self) -> None:
        for field in ("d_model", "n_layers", "n_heads", "d_vocab", "n_ctx", "d_head", "d_mlp"):
            if getattr(self, field) <= 0:
                raise ValueError(
                    f"ModelConfig.{field} must be positive, got {getattr(self, field)}"
                )
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `ModelConfig.from_dict` inverts it."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.to_dict() if isinstance(value, VariantSpec) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown ModelConfig fields {unknown}; valid: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def config_hash(self) -> str:
        """Short stable hash of the config, for figure metadata and caches."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
