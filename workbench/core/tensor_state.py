"""Tensors of a module for a checkpoint: tied (shared) tensors stored once, and loading that
checks every name, shape, dtype and tie before it copies anything.

A `state_dict` lists a tied tensor under each of its names (`embed.W_E` and
`unembed.tied_to.W_E`), all on one storage; safetensors refuses that. `split_shared` keeps
the first name and records the others as aliases; `load_exact` resolves them again.

Example:
    >>> tensors, aliases = split_shared(model.state_dict())
    >>> aliases
    {'unembed.tied_to.W_E': 'embed.W_E'}
    >>> load_exact(other_model, tensors, aliases=aliases)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as it is; the message names the file and the fault."""


def _view_key(tensor: Tensor) -> tuple:
    """Two state entries with the same key are the same tensor under two names."""
    storage = tensor.untyped_storage().data_ptr()
    return storage, tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), tensor.dtype


def tied_names(state: Mapping[str, Tensor]) -> dict[str, str]:
    """`alias -> first name` for every entry of `state` that is the same tensor (same storage,
    offset, shape, strides and dtype) as an earlier one; nothing is copied or moved."""
    first_of_view: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for name, tensor in state.items():
        if not tensor.numel():
            continue
        key = _view_key(tensor)
        if key in first_of_view:
            aliases[name] = first_of_view[key]
        else:
            first_of_view[key] = name
    return aliases


def split_shared(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """`(tensors, aliases)`: each tensor once under its first name (detached, contiguous, on
    the CPU) and `alias -> first name` for the others. A tensor that overlaps another without
    being the same view is copied, since safetensors cannot hold overlapping tensors."""
    aliases = tied_names(state)
    tensors: dict[str, Tensor] = {}
    storages: set[int] = set()
    for name, tensor in state.items():
        if name in aliases:
            continue
        tensor = tensor.detach()
        pointer = tensor.untyped_storage().data_ptr()
        overlaps = tensor.numel() > 0 and pointer in storages
        tensors[name] = tensor.cpu().clone() if overlaps else tensor.cpu().contiguous()
        if tensor.numel():
            storages.add(pointer)
    return tensors, aliases


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def tensor_index(tensors: Mapping[str, Tensor]) -> dict[str, dict]:
    """`name -> {"shape", "dtype"}`, as the manifest records it."""
    return {
        name: {"shape": list(t.shape), "dtype": dtype_name(t.dtype)}
        for name, t in sorted(tensors.items())
    }


def read_state(path: str | Path) -> dict[str, Tensor]:
    """Tensors of one safetensors file (no manifest: for files from elsewhere, e.g. Hugging
    Face); a damaged file is a `CheckpointError` naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No weights file {path}")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"Cannot read {path}: corrupt or not a safetensors file ({err})"
        ) from err


def _resolve(state: Mapping[str, Tensor], aliases: Mapping[str, str], name: str) -> Tensor | None:
    if name in state:
        return state[name]
    return state.get(aliases[name]) if name in aliases else None


def _mismatches(
    own: Mapping[str, Tensor], state: Mapping[str, Tensor], aliases: Mapping[str, str], source: str
) -> list[str]:
    """Every way `state` (+ `aliases`) does not fit the tensors `own`, as labelled lists."""
    own_aliases = tied_names(own)
    given = set(state) | set(aliases)
    missing = sorted(set(own) - given)
    extra = sorted(given - set(own))
    shape, dtype = [], []
    for name in sorted(set(own) & given):
        theirs = _resolve(state, aliases, name)
        if theirs is None:
            missing.append(f"{name} (alias of absent {aliases[name]})")
        elif own[name].shape != theirs.shape:
            shape.append(f"{name} (model {tuple(own[name].shape)}, {source} {tuple(theirs.shape)})")
        elif own[name].dtype != theirs.dtype:
            ours_d, theirs_d = dtype_name(own[name].dtype), dtype_name(theirs.dtype)
            dtype.append(f"{name} (model {ours_d}, {source} {theirs_d})")
    ties = [
        f"{alias} = {first} in the model only"
        for alias, first in own_aliases.items()
        if alias not in aliases and alias in state and not torch.equal(state[alias], state[first])
    ] + [
        f"{alias} = {first} in the {source} only"
        for alias, first in aliases.items()
        if own_aliases.get(alias) != first and alias in own
    ]
    labelled = [("missing", missing), ("unexpected", extra), ("wrong shape", shape),
                ("wrong dtype", dtype), ("tied differently", ties)]  # fmt: skip
    return [f"{label}: {', '.join(items)}" for label, items in labelled if items]


def check_fits(
    module: nn.Module,
    state: Mapping[str, Tensor],
    aliases: Mapping[str, str] | None = None,
    source: str = "checkpoint",
) -> None:
    """Raise a `CheckpointError` listing every tensor of `state` that does not fit `module`."""
    problems = _mismatches(module.state_dict(), state, aliases or {}, source)
    if problems:
        raise CheckpointError(f"The {source} does not match the model. " + "; ".join(problems))


def load_exact(
    model: nn.Module,
    state: Mapping[str, Tensor],
    source: str = "checkpoint",
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Copy `state` into `model` only if names, shapes, dtypes and ties match exactly; else
    raise, naming the missing, unexpected, mis-shaped and mis-typed tensors, with the model
    unchanged. `aliases` (`name -> stored name`) stand for tied tensors stored once."""
    aliases = aliases or {}
    check_fits(model, state, aliases, source)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.copy_(_resolve(state, aliases, name))
