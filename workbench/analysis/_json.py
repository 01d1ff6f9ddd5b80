"""Lossless JSON encoding of result fields: tensors, nested dataclasses, lists, tuples, dicts.

Strict JSON has no NaN or infinity, so non-finite floats are written as the strings
`"nan"`, `"inf"` and `"-inf"` (inside a tensor's data, whose dtype says they are numbers)
or as `{"__wb__": "float", "value": "nan"}` (a plain float field, where a bare string would
be ambiguous). Tensors keep dtype and shape; their data is stored flat in row-major order.
Anything else (numpy arrays, sets, objects) raises naming the field: a result that cannot
be written back exactly must not be written silently wrong.

Example:
    >>> encode(torch.tensor([1.0, float("nan")]), "scores")
    {'__wb__': 'tensor', 'dtype': 'float32', 'shape': [2], 'data': [1.0, 'nan']}
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import torch
from torch import Tensor

MARKER = "__wb__"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float_out(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _float_in(value: float | int | str, where: str) -> float:
    if isinstance(value, str):
        if value not in _NONFINITE:
            raise ValueError(f"{where}: {value!r} is not a number or 'nan'/'inf'/'-inf'")
        return _NONFINITE[value]
    return float(value)


def encode_tensor(tensor: Tensor, where: str) -> dict[str, Any]:
    if tensor.dtype.is_complex:
        raise TypeError(f"{where}: complex tensors are not supported in results; store parts")
    flat = tensor.detach().cpu().reshape(-1)
    if flat.dtype == torch.bfloat16:  # tolist() has no bfloat16 path; the values are exact
        flat = flat.float()
    data = flat.tolist()
    if tensor.dtype.is_floating_point:
        data = [_float_out(v) for v in data]
    dtype = str(tensor.dtype).removeprefix("torch.")
    return {MARKER: "tensor", "dtype": dtype, "shape": list(tensor.shape), "data": data}


def decode_tensor(obj: dict[str, Any], where: str) -> Tensor:
    dtype = getattr(torch, obj["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"{where}: unknown tensor dtype {obj['dtype']!r}")
    data = obj["data"]
    if dtype.is_floating_point:
        data = [_float_in(v, where) for v in data]
        flat = torch.tensor(data, dtype=torch.float64).to(dtype)
    else:
        flat = torch.tensor(data, dtype=dtype)
    shape = obj["shape"]
    if flat.numel() != math.prod(shape):
        raise ValueError(f"{where}: {flat.numel()} values for shape {shape}")
    return flat.reshape(shape)


def encode(value: Any, where: str) -> Any:
    """JSON-ready form of `value`; `where` names the field in error messages."""
    if isinstance(value, Tensor):
        return encode_tensor(value, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {
            f.name: encode(getattr(value, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(value)
        }
        return {MARKER: "dataclass", "type": f"{cls.__module__}:{cls.__qualname__}", **fields}
    if isinstance(value, dict):
        return _encode_dict(value, where)
    if isinstance(value, tuple):
        return {MARKER: "tuple", "items": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        return value if math.isfinite(value) else {MARKER: "float", "value": _float_out(value)}
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(
        f"{where}: cannot write a {type(value).__name__} to JSON; use a tensor, a number, a "
        "string, a list/tuple/dict of those, or a dataclass"
    )


def _encode_dict(value: dict[Any, Any], where: str) -> dict[str, Any]:
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{where}: dict keys must be strings, got {key!r}")
        if key == MARKER:
            raise ValueError(f"{where}: the key {MARKER!r} is reserved for the JSON encoding")
    return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}


def decode(obj: Any, where: str) -> Any:
    """Inverse of `encode`."""
    if isinstance(obj, list):
        return [decode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    kind = obj.get(MARKER)
    if kind is None:
        return {k: decode(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if kind == "tensor":
        return decode_tensor(obj, where)
    if kind == "float":
        return _float_in(obj["value"], where)
    if kind == "tuple":
        return tuple(decode(v, f"{where}[{i}]") for i, v in enumerate(obj["items"]))
    if kind == "dataclass":
        cls = dataclass_type(obj["type"], where)
        fields = {k: decode(v, f"{where}.{k}") for k, v in obj.items() if k not in (MARKER, "type")}
        return cls(**fields)
    raise ValueError(f"{where}: unknown encoded kind {kind!r}")


def dataclass_type(name: str, where: str) -> type:
    """The dataclass `module:qualname` from an already imported module (nothing is imported:
    a JSON file must not decide which code runs)."""
    module_name, _, qualname = name.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        raise ValueError(f"{where}: dataclass {name!r} comes from {module_name!r}; import it first")
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise ValueError(f"{where}: {name!r} is not a dataclass in {module_name!r}")
    return obj
