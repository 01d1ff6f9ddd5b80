"""Weights of any `nn.Module` as a checkpoint folder (the one format of
`workbench.core.checkpoint`: safetensors + manifest, written atomically, validated before
loading; no pickle anywhere), plus small JSON helpers the trainer uses.

Example:
    >>> save_weights(model, "ckpt/final", {"step": 100})
    >>> load_weights(model, "ckpt/final")
    {'step': 100}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from workbench.core.checkpoint import (
    WEIGHTS_FILE,
    CheckpointError,
    atomic_write,
    read_checkpoint,
    write_checkpoint,
)

METADATA_FILE = "metadata.json"


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write JSON; a value JSON cannot hold is a clear TypeError."""
    try:
        text = json.dumps(data, indent=2, allow_nan=True)
    except TypeError as err:
        raise TypeError(f"Cannot write {path}: metadata must be JSON-serialisable ({err})") from err
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No file {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: not valid JSON ({err})") from err


def save_weights(module: nn.Module, folder: str | Path, metadata: dict | None = None) -> Path:
    """Write `module.state_dict()` (tied tensors once) and `metadata` as the checkpoint
    folder `folder`: model.safetensors, metadata.json, manifest.json."""
    return write_checkpoint(
        folder, {WEIGHTS_FILE: module.state_dict(), METADATA_FILE: metadata or {}}
    )


def load_weights(module: nn.Module, folder: str | Path) -> dict:
    """Load weights saved by `save_weights` (or `save_model`) into `module`, all or nothing,
    after validating the whole checkpoint; returns the metadata (`{}` when there is none)."""
    checkpoint = read_checkpoint(folder)
    checkpoint.load_weights(module, WEIGHTS_FILE)
    return checkpoint.json(METADATA_FILE) if METADATA_FILE in checkpoint.files else {}
