"""`ActivationCache`: a dict of activations with TransformerLens's indexing shorthands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from workbench.core.cache_decompose import ResidDecompositionMixin
from workbench.core.cache_units import UnitDecompositionMixin
from workbench.core.registry import suggest

# Short names -> hook names, as TransformerLens's `utils.get_act_name` spells them.
_ATTN = {"q", "k", "v", "z", "attn_scores", "pattern", "result", "rot_q", "rot_k"}
_MLP = {"pre", "post", "pre_linear"}
_BLOCK = {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"}
_ALIASES = {"attn": "pattern", "scores": "attn_scores"}


def act_name(name: str, layer: int | None = None, sub: str | None = None) -> str:
    """Expand a short name: `act_name("pattern", 0) == "blocks.0.attn.hook_pattern"`."""
    name = _ALIASES.get(name, name)
    if name in ("embed", "pos_embed"):
        return f"hook_{name}"
    if layer is None:
        return name
    if name in ("scale", "normalized"):
        return f"blocks.{layer}.{sub or 'ln1'}.hook_{name}"
    if name in _ATTN:
        return f"blocks.{layer}.attn.hook_{name}"
    if name in _MLP:
        return f"blocks.{layer}.mlp.hook_{name}"
    if name in _BLOCK:
        return f"blocks.{layer}.hook_{name}"
    return f"blocks.{layer}.{name}"


class ActivationCache(ResidDecompositionMixin, UnitDecompositionMixin):
    """Cached activations by hook name; `cache["pattern", 0]` is a shorthand.

    With the `model` (as `run_with_cache` sets it), TransformerLens's decomposition methods
    work too: `accumulated_resid`, `decompose_resid`, `stack_head_results`, `logit_attrs`, ...

    Example:
        >>> logits, cache = model.run_with_cache(tokens)
        >>> cache["blocks.0.attn.hook_pattern"].shape  # [batch, head, query, key]
        >>> cache["pattern", 0] is cache["blocks.0.attn.hook_pattern"]
        True
    """

    def __init__(
        self, cache_dict: dict[str, Tensor], has_batch_dim: bool = True, model: Any = None
    ) -> None:
        if not isinstance(has_batch_dim, bool):  # TransformerLens's order: (dict, model, bool)
            has_batch_dim, model = (model if isinstance(model, bool) else True), has_batch_dim
        self.cache_dict = cache_dict
        self.has_batch_dim = has_batch_dim
        self.model = model

    def _full_name(self, key: str | tuple) -> str:
        if not isinstance(key, tuple):
            return key
        if len(key) > 1 and isinstance(key[1], int) and key[1] < 0 and self.model is not None:
            key = (key[0], self.model.cfg.n_layers + key[1], *key[2:])  # cache["resid_post", -1]
        return act_name(*key)

    def _key(self, key: str | tuple) -> str:
        full = self._full_name(key)
        if full not in self.cache_dict:
            raise KeyError(f"{full!r} is not in the cache. {suggest(full, list(self.cache_dict))}")
        return full

    def __getitem__(self, key: str | tuple) -> Tensor:
        return self.cache_dict[self._key(key)]

    def __contains__(self, key: str | tuple) -> bool:
        return self._full_name(key) in self.cache_dict

    def __len__(self) -> int:
        return len(self.cache_dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self.cache_dict)

    def keys(self):
        return self.cache_dict.keys()

    def values(self):
        return self.cache_dict.values()

    def items(self):
        return self.cache_dict.items()

    def to(self, device: str | torch.device) -> ActivationCache:
        moved = {k: v.to(device) for k, v in self.cache_dict.items()}
        return ActivationCache(moved, self.has_batch_dim, self.model)

    def remove_batch_dim(self) -> ActivationCache:
        """Drop a batch dimension of size 1 from every tensor."""
        if not self.has_batch_dim:
            return self
        sizes = {v.shape[0] for v in self.cache_dict.values()}
        if sizes != {1}:
            raise ValueError(f"remove_batch_dim needs batch size 1, found sizes {sorted(sizes)}")
        return ActivationCache({k: v[0] for k, v in self.cache_dict.items()}, False, self.model)

    def stack(self, name: str, layers: int) -> Tensor:
        """Stack one activation over layers: `cache.stack("pattern", n_layers)` -> [layer, ...]."""
        return torch.stack([self[name, layer] for layer in range(layers)])

    def __repr__(self) -> str:
        return f"ActivationCache with keys {list(self.cache_dict)}"
