"""Small registries that map variant names to their spec types.

A variant is a frozen dataclass (its *spec*: the options a paper exposes) that knows how to
build its `nn.Module`. `ModelConfig` accepts a spec by name (`"rmsnorm"`), by object
(`RMSNorm(eps=1e-6)`) or as a dict (`{"name": "rmsnorm", "eps": 1e-6}`, the JSON form).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from torch import nn

from workbench.core.validate import (
    ConfigError,
    check_known_fields,
    check_value,
    field_hints,
    validate_fields,
)


@dataclasses.dataclass(frozen=True)
class VariantSpec:
    """Base of every variant spec. Subclasses set `name`, `paper` and implement `build`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""

    def __post_init__(self) -> None:
        # Types and `Annotated` ranges from the field hints, then the spec's own rules.
        # Subclasses put their rules in `check()`, not in `__post_init__`.
        validate_fields(self)
        self.check()

    def check(self) -> None:
        """Rules across this spec's fields (ranges that a hint cannot say); raise ConfigError."""

    def build(self, cfg: Any, layer: int | None = None) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} does not build a module")

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"name": self.name, **fields}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


SpecT = TypeVar("SpecT", bound=type[VariantSpec])


def suggest(name: str, valid: list[str] | tuple[str, ...], n: int = 3) -> str:
    """A `Did you mean ...?` tail for error messages, or a list of the valid names."""
    close = difflib.get_close_matches(name, list(valid), n=n, cutoff=0.5)
    if close:
        return f"Did you mean: {', '.join(close)}?"
    shown = ", ".join(sorted(valid)[:20])
    more = "" if len(valid) <= 20 else f" (and {len(valid) - 20} more)"
    return f"Valid names: {shown}{more}."


class Registry:
    """Name -> spec type for one component family (attention, norm, mlp, ...)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._specs: dict[str, type[VariantSpec]] = {}

    def register(self, spec_type: SpecT) -> SpecT:
        """Class decorator: `@ATTENTION.register` on a `VariantSpec` subclass."""
        if not spec_type.name:
            raise ValueError(f"{spec_type.__name__} needs a class attribute `name`")
        if spec_type.name in self._specs:
            raise ValueError(f"{self.family} variant {spec_type.name!r} registered twice")
        spec_type.family = self.family
        self._specs[spec_type.name] = spec_type
        return spec_type

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> type[VariantSpec]:
        if name not in self._specs:
            raise ValueError(
                f"Unknown {self.family} variant {name!r}. {suggest(name, self.names())}"
            )
        return self._specs[name]

    def _lookup(self, name: str, path: str) -> type[VariantSpec]:
        if name not in self._specs:
            raise ConfigError(
                f"{path}: unknown {self.family} variant {name!r}. {suggest(name, self.names())}"
            )
        return self._specs[name]

    def resolve(
        self, spec: str | VariantSpec | Mapping[str, Any], path: str | None = None
    ) -> VariantSpec:
        """Turn a name, dict or spec object into a validated spec object of this family.
        `path` (`"ModelConfig.attention"`) names the field in error messages."""
        path = path or f"{self.family} variant"
        if isinstance(spec, VariantSpec):
            if spec.family != self.family:
                raise ConfigError(
                    f"{path}: {type(spec).__name__} is a {spec.family} spec, not {self.family}"
                )
            validate_fields(spec, prefix=path)  # also when a subclass overrode __post_init__
            return spec
        if isinstance(spec, str):
            return self._lookup(spec, path)()
        if isinstance(spec, Mapping):
            return self._from_mapping(spec, path)
        raise ConfigError(
            f"{path} must be a {self.family} variant name, dict or spec, got {spec!r} "
            f"({type(spec).__name__}). {suggest(str(spec), self.names())}"
        )

    def _from_mapping(self, spec: Mapping[str, Any], path: str) -> VariantSpec:
        options = dict(spec)
        if not isinstance(options.get("name"), str):
            raise ConfigError(
                f"{path} as a dict needs a string 'name' (one of {self.names()}), got {spec!r}"
            )
        spec_type = self._lookup(options.pop("name"), path)
        check_known_fields(spec_type, options, what=path)
        hints = field_hints(spec_type)
        values = {k: check_value(v, hints[k], f"{path}.{k}") for k, v in options.items()}
        try:
            return spec_type(**values)
        except ValueError as err:  # the spec's own `check()`: name the field it came from
            raise ConfigError(f"{path} ({spec_type.name}): {err}") from None


ATTENTION = Registry("attention")
NORM = Registry("norm")
PLACEMENT = Registry("placement")
MLP = Registry("mlp")
POSITION = Registry("position")
REPARAM = Registry("reparam")
BLOCK = Registry("block")  # how a block composes its sublayers (sequential, parallel, ...)
REGISTRIES = {r.family: r for r in (ATTENTION, NORM, PLACEMENT, MLP, POSITION, REPARAM, BLOCK)}
