"""Reading a checkpoint folder (format: `workbench.core.checkpoint`). Everything is checked
before a module is touched: the manifest, each file's size and sha256, that each file parses,
that each tensor file holds what the manifest lists, and that config.json's model config is
the manifest's. A failure is a `CheckpointError` naming the file and the fault.

Example:
    >>> checkpoint = read_checkpoint("runs/tiny")
    >>> checkpoint.model_config["d_model"]
    >>> checkpoint.load_weights(model)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from torch import Tensor, nn

from workbench.core.tensor_state import CheckpointError, check_fits, load_exact, tensor_index

FORMAT, VERSION, MANIFEST = "workbench-checkpoint", 1, "manifest.json"
ADOPT_HINT = "python assets/write_manifest.py"


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A validated checkpoint: `files` maps each file name to its tensors (`.safetensors`) or
    its data (`.json`); `shared` maps a tensor file to its `alias -> stored name` ties."""

    folder: Path
    files: dict[str, Any]
    shared: dict[str, dict[str, str]]
    model_config: dict[str, Any] | None

    def _get(self, name: str, kind: str) -> Any:
        if name not in self.files:
            raise CheckpointError(f"{self.folder} has no {name}")
        if name.endswith(".safetensors") != (kind == "tensors"):
            raise CheckpointError(f"{self.folder / name} is not a {kind} file")
        return self.files[name]

    def json(self, name: str) -> Any:
        """The data of one `.json` file."""
        return self._get(name, "json")

    def tensors(self, name: str) -> dict[str, Tensor]:
        """The tensors of one `.safetensors` file (tied tensors once; see `shared`)."""
        return self._get(name, "tensors")

    def check_weights(self, module: nn.Module, name: str = "model.safetensors") -> None:
        """Raise unless the tensors of `name` fit `module` exactly (names, shapes, dtypes, ties)."""
        source = str(self.folder / name)
        check_fits(module, self.tensors(name), self.shared.get(name, {}), source)

    def load_weights(self, module: nn.Module, name: str = "model.safetensors") -> None:
        """Copy the tensors of `name` into `module`, all or nothing."""
        source = str(self.folder / name)
        load_exact(module, self.tensors(name), source, aliases=self.shared.get(name, {}))


def _missing_folder(folder: Path) -> FileNotFoundError:
    left = sorted(folder.parent.glob(f".{folder.name}.old-*")) if folder.parent.is_dir() else []
    if left:  # a save stopped between its two renames
        return FileNotFoundError(
            f"No checkpoint folder {folder}; an interrupted save left the previous checkpoint at "
            f"{left[-1]}: rename it to {folder.name} to use it"
        )
    return FileNotFoundError(f"No checkpoint folder {folder}: not a workbench checkpoint")


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        if not any(p.suffix in (".json", ".safetensors") for p in folder.iterdir()):
            raise FileNotFoundError(f"Nothing in {folder}: not a workbench checkpoint")
        raise CheckpointError(
            f"No {MANIFEST} in {folder}: saved before checkpoints had manifests, or the manifest "
            f"was deleted. If you trust its files as they are, add one with `{ADOPT_HINT} "
            f"{folder}`"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a workbench checkpoint manifest")
    if manifest.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has format version {manifest.get('version')!r}; this workbench reads "
            f"version {VERSION}"
        )
    for key in ("files", "tensors", "shared"):
        if not isinstance(manifest.get(key), dict):
            raise CheckpointError(f"{path} is damaged: '{key}' is not a mapping")
    for name, entry in manifest["files"].items():
        plain = Path(name).name == name and name not in ("", ".", "..", MANIFEST)
        if not plain or not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            raise CheckpointError(f"{path} is damaged: bad entry for file {name!r}")
    return manifest


def _checked_bytes(folder: Path, name: str, entry: dict[str, Any]) -> bytes:
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing (listed in {MANIFEST})")
    data = path.read_bytes()
    if len(data) != entry["size"]:
        raise CheckpointError(
            f"{path} has {len(data)} bytes, {MANIFEST} says {entry['size']} (truncated or replaced)"
        )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(
            f"{path} does not match its sha256 in {MANIFEST} (changed since saved)"
        )
    return data


def parse_file(path: Path, data: bytes) -> Any:
    """Tensors of a `.safetensors` file or data of a `.json` file, from its bytes."""
    if path.suffix == ".safetensors":
        try:
            return safetensors_load(data)
        except (SafetensorError, ValueError) as err:
            raise CheckpointError(f"Cannot read {path}: corrupt safetensors ({err})") from err
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: not valid JSON ({err})") from err


def _check_tensor_file(path: Path, tensors: dict, listed: Any, aliases: Any) -> None:
    found = tensor_index(tensors)
    if found != listed:
        names = sorted(set(found) | set(listed or {}))
        differ = [n for n in names if (listed or {}).get(n) != found.get(n)]
        raise CheckpointError(
            f"{path} does not hold the tensors {MANIFEST} lists (differs at: "
            f"{', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''})"
        )
    if not isinstance(aliases, dict) or not set(aliases.values()) <= set(tensors):
        raise CheckpointError(f"{path}: {MANIFEST} ties tensors to names the file lacks")


def read_checkpoint(folder: str | Path) -> Checkpoint:
    """Read and validate the checkpoint `folder` completely (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _missing_folder(folder)
    manifest = _read_manifest(folder)
    files: dict[str, Any] = {}
    for name, entry in manifest["files"].items():
        files[name] = parse_file(folder / name, _checked_bytes(folder, name, entry))
        if name.endswith(".safetensors"):
            listed, aliases = manifest["tensors"].get(name), manifest["shared"].get(name, {})
            _check_tensor_file(folder / name, files[name], listed, aliases)
    config = files.get("config.json")
    if config is not None and (
        not isinstance(config, dict) or config.get("config") != manifest.get("model_config")
    ):
        raise CheckpointError(
            f"{folder / 'config.json'} and {MANIFEST} disagree on the model config"
        )
    return Checkpoint(folder, files, manifest["shared"], manifest.get("model_config"))


def scan_files(folder: Path) -> dict[str, Any]:
    """Every `.json` (but the manifest) and `.safetensors` file of `folder`, parsed."""
    return {
        path.name: parse_file(path, path.read_bytes())
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in (".json", ".safetensors") and path.name != MANIFEST
    }
