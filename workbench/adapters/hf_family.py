"""One small table per Hugging Face family: config fields -> `ModelConfig`, tensor names ->
workbench names with the reshape each needs.

A family file (`hf_gpt2.py`, `hf_gpt_neox.py`, `hf_llama.py`) builds a `Family` and calls
`register`. `load_hf` looks the family up by the config's `model_type` and streams every
checkpoint tensor through `Family.convert`, which refuses what it does not know.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from jaxtyping import Float
from torch import Tensor

from workbench.adapters.weights import split_heads_in, split_heads_out
from workbench.core.config import ModelConfig

Convert = Callable[[Tensor, ModelConfig], Tensor | tuple[Tensor, ...]]


def as_is(t: Tensor, cfg: ModelConfig) -> Tensor:
    return t


def transposed(t: Tensor, cfg: ModelConfig) -> Tensor:
    """`nn.Linear.weight` `[out, in]` -> our `[in, out]`."""
    return t.T


def q_heads(t: Tensor, cfg: ModelConfig) -> Float[Tensor, "head d_model d_head"]:
    return split_heads_in(t, cfg.n_heads)


def kv_heads(t: Tensor, cfg: ModelConfig) -> Float[Tensor, "kv_head d_model d_head"]:
    return split_heads_in(t, cfg.n_kv_heads)


def out_heads(t: Tensor, cfg: ModelConfig) -> Float[Tensor, "head d_head d_model"]:
    return split_heads_out(t, cfg.n_heads)


def q_bias(t: Tensor, cfg: ModelConfig) -> Float[Tensor, "head d_head"]:
    return t.reshape(cfg.n_heads, cfg.d_head)


def kv_bias(t: Tensor, cfg: ModelConfig) -> Float[Tensor, "kv_head d_head"]:
    return t.reshape(cfg.n_kv_heads, cfg.d_head)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One checkpoint tensor (`{i}` = layer) -> one or more workbench tensors."""

    source: str
    targets: str | tuple[str, ...]
    convert: Convert = as_is

    def pattern(self) -> re.Pattern:
        return re.compile(re.escape(self.source).replace(r"\{i\}", r"(?P<i>\d+)") + "$")


@dataclasses.dataclass(frozen=True)
class Family:
    """How one Hugging Face `model_type` maps onto workbench variants and weights.

    `config(hf) -> (ModelConfig, absent)`: `absent` are workbench names (with `{i}`) the
    checkpoint does not hold because the original has no such tensor (a bias it lacks):
    they load as zeros. `renames` rewrite checkpoint names first (older layouts);
    `ignore` matches names that hold no weights (buffers such as causal masks).
    """

    model_types: tuple[str, ...]
    config: Callable[[Any], tuple[ModelConfig, tuple[str, ...]]]
    rules: tuple[Rule, ...]
    renames: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    tied_source: str = "lm_head.weight"  # dropped when the embeddings are tied

    def convert(self, name: str, tensor: Tensor, cfg: ModelConfig) -> dict[str, Tensor]:
        """Workbench tensors made from the checkpoint tensor `name`; {} for ignored names."""
        for old, new in self.renames:
            name = re.sub(old, new, name)
        if any(re.search(p, name) for p in self.ignore):
            return {}
        if cfg.tied_embeddings and name == self.tied_source:
            return {}
        for rule, pattern in _compiled(self):
            match = pattern.match(name)
            if match is None:
                continue
            layer = match.groupdict().get("i")
            out = rule.convert(tensor, cfg)
            outs = out if isinstance(out, tuple) else (out,)
            targets = (rule.targets,) if isinstance(rule.targets, str) else rule.targets
            return {t.format(i=layer): o for t, o in zip(targets, outs, strict=True)}
        raise ValueError(
            f"Checkpoint tensor {name!r} has no rule in the {self.model_types[0]} table "
            "(not an architecture this loader knows how to convert)"
        )


_COMPILED: dict[int, list[tuple[Rule, re.Pattern]]] = {}


def _compiled(family: Family) -> list[tuple[Rule, re.Pattern]]:
    key = id(family)
    if key not in _COMPILED:
        _COMPILED[key] = [(rule, rule.pattern()) for rule in family.rules]
    return _COMPILED[key]


FAMILIES: dict[str, Family] = {}
OTHER_FAMILIES = ("bert",)  # loaded through their own adapter


def register(family: Family) -> Family:
    for model_type in family.model_types:
        FAMILIES[model_type] = family
    return family


def supported_model_types() -> list[str]:
    return sorted([*FAMILIES, *OTHER_FAMILIES])


def refuse(model_type: str, field: str, value: Any, supported: str) -> NotImplementedError:
    """The error for a config field this loader cannot honour."""
    return NotImplementedError(
        f"{model_type} config field {field}={value!r} is not supported (supported: {supported}). "
        f"Supported families: {', '.join(supported_model_types())}."
    )


def expect(hf: Any, model_type: str, field: str, allowed: tuple, supported: str) -> None:
    """Raise unless `hf.field` (missing counts as the first allowed value) is allowed."""
    value = getattr(hf, field, allowed[0])
    if value not in allowed:
        raise refuse(model_type, field, value, supported)


def rotary_spec(hf: Any, model_type: str, head_dim: int) -> dict[str, Any]:
    """The workbench rotary variant for the config's `rope_parameters` (transformers 5 name;
    older configs' `rope_theta`/`rope_scaling`/`rotary_pct` are folded in by transformers)."""
    rope = dict(getattr(hf, "rope_parameters", None) or {})
    if any(isinstance(v, dict) for v in rope.values()):
        raise refuse(model_type, "rope_parameters", "per-layer-type", "one global RoPE")
    kind = rope.get("rope_type", rope.get("type", "default"))
    fraction = float(rope.get("partial_rotary_factor", 1.0))
    spec: dict[str, Any] = {
        "rotary_dim": int(head_dim * fraction),
        "base": float(rope.get("rope_theta", 10000.0)),
    }
    if kind == "default":
        return {"name": "rotary", **spec}
    if kind == "linear":
        return {"name": "rotary_linear", **spec, "factor": float(rope["factor"])}
    if kind == "llama3":
        return {
            "name": "rotary_llama3",
            **spec,
            "factor": float(rope["factor"]),
            "low_freq_factor": float(rope["low_freq_factor"]),
            "high_freq_factor": float(rope["high_freq_factor"]),
            "original_max_len": int(rope["original_max_position_embeddings"]),
        }
    raise refuse(model_type, "rope_parameters.rope_type", kind, "default, linear, llama3")


ACTIVATIONS = {
    "gelu": {"name": "gelu"},
    "gelu_new": {"name": "gelu", "approximate": "tanh"},
    "gelu_pytorch_tanh": {"name": "gelu", "approximate": "tanh"},
    "relu": {"name": "relu"},
}


def activation(hf: Any, model_type: str, field: str) -> dict[str, Any]:
    act = getattr(hf, field)
    if act not in ACTIVATIONS:
        raise refuse(model_type, field, act, ", ".join(ACTIVATIONS))
    return dict(ACTIVATIONS[act])
