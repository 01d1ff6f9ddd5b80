"""The one checkpoint format of workbench (models, trainer, Transformer Programs): a folder
written as a unit and validated completely before anything is loaded. Nothing is unpickled.

    folder/
      manifest.json      format and version; each file's sha256 and size; the tensors of each
                         safetensors file (name, shape, dtype) and its tied aliases; the model
                         config (a copy of config.json's "config")
      config.json        {"config": <ModelConfig or ProgramConfig dict>, ...metadata}
      model.safetensors  the weights; a tied tensor once, under its first name
      ...                any other `.json` or `.safetensors` file the writer adds

Writing puts every file into a temporary folder next to the target, the manifest last, then
renames that folder into place: an interruption leaves the old checkpoint or the new one,
never a mix. Files in the target that the checkpoint does not own (a model card, a run's
`checkpoints/`) move into the new folder first. Reading (`read_checkpoint`) checks the
manifest, every size and hash, parses every file and compares each tensor index with the
manifest; loading into a module then checks names, shapes, dtypes and ties, and only then
copies. Every failure is a `CheckpointError` naming the file and the fault.

Example:
    >>> save_model(model, "runs/tiny")
    >>> again = load_model("runs/tiny")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from workbench.core.checkpoint_read import (
    FORMAT,
    MANIFEST,
    VERSION,
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    scan_files,
)
from workbench.core.tensor_state import (
    check_fits,
    load_exact,
    read_state,
    split_shared,
    tensor_index,
)

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"

__all__ = [
    "CONFIG_FILE",
    "MANIFEST",
    "WEIGHTS_FILE",
    "Checkpoint",
    "CheckpointError",
    "atomic_write",
    "check_fits",
    "load_exact",
    "load_model",
    "load_module",
    "read_checkpoint",
    "read_state",
    "save_model",
    "save_state",
    "write_checkpoint",
    "write_manifest",
]


def atomic_write(path: Path, write: Any) -> None:
    """Write one file through a temporary file in the same folder, then rename: an
    interruption leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_state(
    state: Mapping[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """One safetensors file written atomically, for tensor files that are not checkpoints
    (statistics summaries); read it back with `read_state`. Checkpoints: `write_checkpoint`."""
    tensors, aliases = split_shared(state)
    if aliases:
        raise ValueError(f"Cannot write {path}: tensors {sorted(aliases)} share memory")
    data = safetensors_bytes(tensors, metadata=metadata)
    atomic_write(Path(path), lambda tmp: write_file(Path(tmp), data))


# -- writing --------------------------------------------------------------------------------
def new_manifest(config: Any) -> dict[str, Any]:
    """A manifest with no files yet; the model config is config.json's "config"."""
    return {
        "format": FORMAT, "version": VERSION, "files": {}, "tensors": {}, "shared": {},
        "model_config": config.get("config") if isinstance(config, Mapping) else None,
    }  # fmt: skip


def file_entry(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def encode_file(name: str, content: Any, manifest: dict[str, Any]) -> bytes:
    """The bytes of one checkpoint file; a tensor file's index and aliases go to `manifest`."""
    if name.endswith(".safetensors"):
        if not isinstance(content, Mapping):
            raise TypeError(f"{name}: a .safetensors file takes a dict of tensors")
        tensors, aliases = split_shared(content)
        manifest["tensors"][name] = tensor_index(tensors)
        manifest["shared"][name] = aliases
        return safetensors_bytes(tensors, metadata={"format": FORMAT})
    try:
        return json.dumps(content, indent=1).encode()
    except (TypeError, ValueError) as err:
        raise TypeError(f"Cannot write {name}: metadata must be JSON-serialisable ({err})") from err


def write_file(path: Path, data: bytes) -> None:
    """Write and flush to disk, so the rename that follows publishes complete files."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _check_names(files: Mapping[str, Any]) -> None:
    for name in files:
        if Path(name).name != name or not name.endswith((".json", ".safetensors")):
            raise ValueError(f"Checkpoint file {name!r}: a plain .json or .safetensors name")
        if name == MANIFEST:
            raise ValueError(f"{MANIFEST} is written by write_checkpoint itself")


def write_checkpoint(folder: str | Path, files: Mapping[str, Any]) -> Path:
    """Write `files` (name -> tensor dict for `.safetensors`, JSON data for `.json`) and a
    manifest as the checkpoint `folder`, atomically (see the module docstring).

    Example:
        >>> write_checkpoint("ckpt", {"model.safetensors": model.state_dict(),
        ...                           "config.json": {"config": model.cfg.to_dict()}})
    """
    folder = Path(folder)
    _check_names(files)
    manifest = new_manifest(files.get(CONFIG_FILE))
    encoded = {name: encode_file(name, content, manifest) for name, content in files.items()}
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        for name, data in encoded.items():
            write_file(tmp / name, data)
            manifest["files"][name] = file_entry(data)
        write_file(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
        replace_folder(tmp, folder, owned=set(files) | {MANIFEST} | _owned_by(folder))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _owned_by(folder: Path) -> set[str]:
    """Names the checkpoint now at `folder` owns (they are replaced, not carried over)."""
    try:
        return set(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def replace_folder(new: Path, folder: Path, owned: set[str]) -> None:
    """Move `new` to `folder`; entries of an existing `folder` not in `owned` move into `new`
    first. On failure everything moves back, so the old folder is as it was."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"Cannot write a checkpoint to {folder}: it is a file")
    moved: list[str] = []  # entries carried into `new` so far: what a failure moves back
    old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
    try:
        for entry in list(folder.iterdir()) if folder.exists() else []:
            if entry.name not in owned:
                os.replace(entry, new / entry.name)
                moved.append(entry.name)
        if folder.exists():
            os.replace(folder, old)
        try:
            os.replace(new, folder)
        except BaseException:
            if old.exists():
                os.replace(old, folder)
            raise
    except BaseException:
        for name in moved:
            os.replace(new / name, folder / name)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_manifest(folder: str | Path) -> Path:
    """Add `manifest.json` to a checkpoint folder written before manifests existed, leaving
    its files byte-identical: every `.json` and `.safetensors` file in it must parse. Check the
    folder is what you think it is first: from now on its files are trusted as they are."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        raise FileExistsError(f"{folder / MANIFEST} exists already")
    parsed = scan_files(folder)
    if not parsed:
        raise FileNotFoundError(f"No .json or .safetensors files in {folder}")
    manifest = new_manifest(parsed.get(CONFIG_FILE))
    for name, content in parsed.items():
        manifest["files"][name] = file_entry((folder / name).read_bytes())
        if name.endswith(".safetensors"):
            manifest["tensors"][name] = tensor_index(content)
            manifest["shared"][name] = {}
    text = json.dumps(manifest, indent=1)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(text))
    return folder / MANIFEST


# -- models ---------------------------------------------------------------------------------
def save_model(model: nn.Module, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `model` (a workbench `Model`) as the checkpoint `folder`: `config.json` (its
    ModelConfig plus `extra`), `model.safetensors` and the manifest."""
    files = {
        CONFIG_FILE: {"config": model.cfg.to_dict(), **(extra or {})},
        WEIGHTS_FILE: model.state_dict(),
    }
    return write_checkpoint(folder, files)


def load_module(
    folder: str | Path, build: Callable[[dict[str, Any]], nn.Module]
) -> tuple[nn.Module, dict[str, Any]]:
    """`(module, config.json data)`: the checkpoint is validated, `build(config)` makes the
    module and the weights are loaded into it. `build`'s errors name config.json."""
    checkpoint = read_checkpoint(folder)
    meta = checkpoint.json(CONFIG_FILE)
    try:
        module = build(meta["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{checkpoint.folder / CONFIG_FILE} does not describe a valid model: {err!r}"
        ) from err
    checkpoint.load_weights(module, WEIGHTS_FILE)
    return module.eval(), meta


def load_model(folder: str | Path, tokenizer: Any = None):
    """Build the workbench `Model` that `config.json` describes and load its weights.

    Example:
        >>> model = load_model("runs/tiny", tokenizer=ByteTokenizer())
    """
    from workbench.core.config import ModelConfig
    from workbench.core.model import Model

    model, _ = load_module(folder, lambda c: Model(ModelConfig.from_dict(c), tokenizer=tokenizer))
    return model
