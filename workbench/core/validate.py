"""One generic validator for the frozen config dataclasses, driven by their type hints.

`ModelConfig`, `TrainConfig`, `ProgramConfig` and every variant spec call `validate_fields`
in `__post_init__`. The type hint of each field says what is allowed: `bool` is not an `int`,
an `int` is accepted (and stored as `float`) where a `float` is expected, a string is never a
number, `None` only where the hint has `| None`, floats must be finite. Ranges ride on the
hint with `Annotated` (`PosInt`, `Prob`, ...), so a new field or a new variant family is
covered by writing its annotation, not a check.

Example:
    >>> @dataclasses.dataclass(frozen=True)
    ... class Cfg:
    ...     width: PosInt = 4
    ...     def __post_init__(self): validate_fields(self)
    >>> Cfg(width=0)
    Traceback (most recent call last):
    ConfigError: Cfg.width must be > 0, got 0
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union


class ConfigError(ValueError, TypeError):
    """A config field of the wrong type or value. Both a `ValueError` and a `TypeError`, so
    code that catches either (argument errors in general) sees it."""


class ConfigTypeError(ConfigError):
    """A config value of the wrong type; `expected` says what was wanted."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path} must be {expected}, got {_shown(value)}")
        self.expected = expected


@dataclasses.dataclass(frozen=True)
class Bound:
    """A range on a number: `lo < x` (or `<=` with `lo_closed`), likewise for `hi`."""

    lo: float | None = None
    hi: float | None = None
    lo_closed: bool = False
    hi_closed: bool = False

    def check(self, value: float, path: str) -> None:
        too_low = self.lo is not None and (value < self.lo if self.lo_closed else value <= self.lo)
        too_high = self.hi is not None and (value > self.hi if self.hi_closed else value >= self.hi)
        if too_low or too_high:
            raise ConfigError(f"{path} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            left, right = "[" if self.lo_closed else "(", "]" if self.hi_closed else ")"
            return f"in {left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{'>=' if self.lo_closed else '>'} {self.lo:g}"
        return f"{'<=' if self.hi_closed else '<'} {self.hi:g}"


PosInt = Annotated[int, Bound(lo=0)]
NonNegInt = Annotated[int, Bound(lo=0, lo_closed=True)]
PosFloat = Annotated[float, Bound(lo=0)]
NonNegFloat = Annotated[float, Bound(lo=0, lo_closed=True)]
Prob = Annotated[float, Bound(lo=0, hi=1, lo_closed=True, hi_closed=True)]


@functools.cache
def field_hints(cls: type) -> dict[str, Any]:
    """Resolved type hints (with `Annotated` extras) of the dataclass fields of `cls`."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def validate_fields(obj: Any, prefix: str | None = None, skip: tuple[str, ...] = ()) -> None:
    """Check every init field of the frozen dataclass `obj` against its hint; store the
    normalized value (int -> float for float fields, list -> tuple for tuple fields)."""
    owner = prefix or type(obj).__name__
    for name, hint in field_hints(type(obj)).items():
        if name in skip:
            continue
        value = getattr(obj, name)
        normalized = check_value(value, hint, f"{owner}.{name}")
        if normalized is not value:
            object.__setattr__(obj, name, normalized)


def check_value(value: Any, hint: Any, path: str) -> Any:
    """`value` checked against `hint`; returns it normalized. Raises `ConfigError` naming
    `path` and the bad value."""
    bounds: list[Bound] = []
    while typing.get_origin(hint) is Annotated:
        bounds += [b for b in hint.__metadata__ if isinstance(b, Bound)]
        hint = hint.__origin__
    value = _check_type(value, hint, path)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        for bound in bounds:
            bound.check(value, path)
    return value


def _check_type(value: Any, hint: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (Union, types.UnionType):
        return _check_union(value, args, path)
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and bool not in map(type, args)):
            return value
        from workbench.core.registry import suggest  # registry imports this module

        valid = [str(a) for a in args]
        tail = f" {suggest(value, valid)}" if isinstance(value, str) else ""
        raise ConfigError(f"{path} must be one of {list(args)}, got {value!r}.{tail}")
    if hint is type(None):
        if value is None:
            return value
        raise ConfigTypeError(path, "None", value)
    if origin is tuple or hint is tuple:
        return _check_tuple(value, args, path)
    if hint in _SCALARS:
        return _SCALARS[hint](value, path)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise ConfigTypeError(path, f"a {hint.__name__}", value)
    return value  # a hint this validator does not understand (a Protocol, a TypeVar): allowed


def _check_union(value: Any, options: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return check_value(value, option, path)
        except ConfigError as err:
            errors.append(err)
    out_of_range = [e for e in errors if not isinstance(e, ConfigTypeError)]
    if out_of_range:  # the type matched: its range says what is wrong
        raise out_of_range[0]
    expected = [e.expected for e in errors] + (["None"] * (type(None) in options))
    raise ConfigTypeError(path, " or ".join(expected), value)


def _check_tuple(value: Any, args: tuple[Any, ...], path: str) -> Any:
    if not isinstance(value, tuple | list):
        raise ConfigTypeError(path, "a tuple (a JSON list)", value)
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        item_hints = [args[0]] * len(value)
    elif len(args) != len(value):
        raise ConfigError(f"{path} must have {len(args)} items, got {len(value)}: {value!r}")
    else:
        item_hints = list(args)
    pairs = enumerate(zip(value, item_hints, strict=True))
    out = tuple(check_value(v, h, f"{path}[{i}]") for i, (v, h) in pairs)
    unchanged = isinstance(value, tuple) and all(a is b for a, b in zip(out, value, strict=True))
    return value if unchanged else out


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return value if type(value) is int else int(value)
    raise ConfigTypeError(path, "an int", value)


def _as_float(value: Any, path: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{path} must be a finite float, got {value!r}")
        return value if type(value) is float else float(value)
    raise ConfigTypeError(path, "a float", value)


def _as_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigTypeError(path, "a bool (true or false)", value)


def _as_str(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ConfigTypeError(path, "a string", value)


_SCALARS = {int: _as_int, float: _as_float, bool: _as_bool, str: _as_str}


def _shown(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_known_fields(cls: type, data: Any, what: str | None = None) -> dict[str, Any]:
    """`data` as a dict of fields of the dataclass `cls`; unknown keys raise with a
    suggestion, a non-mapping (a JSON list, a number) raises naming its type."""
    what = what or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must be a JSON object (a dict of fields), got {_shown(data)}")
    from workbench.core.registry import suggest  # registry imports this module

    known = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in known:
            tail = suggest(str(key), known)
            raise ConfigError(f"Unknown field {what}.{key} (value {data[key]!r}). {tail}")
    return dict(data)
