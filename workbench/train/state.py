"""Training checkpoints as folders of safetensors + JSON (no pickle).

A checkpoint is `<dir>/step_00000100/`, a checkpoint folder of the one format
(`workbench.core.checkpoint`: manifest, hashes, atomic) holding `model.safetensors`,
`optimizer.safetensors`, `rng.safetensors`, `trainer.json` (step, losses, config, optimizer
hyper-parameters, Python RNG state, data position, callback states) and, for a workbench
`Model`, `config.json`. Then `<dir>/latest.json` is pointed at it; resume follows that pointer
only to a `step_<8 digits>` folder inside `<dir>`.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from workbench.core.checkpoint import CheckpointError, write_checkpoint
from workbench.train.checkpoint import read_json, write_json

STEP_DIR = re.compile(r"^step_(\d{8})$")
LATEST = "latest.json"


# -- optimizer ------------------------------------------------------------------------------
def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into tensors (`state.<param>.<key>`,
    `group.<i>.<key>`) and a JSON-able rest."""
    tensors: dict[str, Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"state.{param_id}.{key}"] = value
            else:
                plain_state.setdefault(str(param_id), {})[key] = value
    groups = []
    for i, group in enumerate(state["param_groups"]):
        plain = {}
        for key, value in group.items():
            if isinstance(value, Tensor):
                tensors[f"group.{i}.{key}"] = value
            else:
                plain[key] = list(value) if isinstance(value, tuple) else value
        groups.append(plain)
    return tensors, {"state": plain_state, "param_groups": groups}


def unflatten_optimizer(tensors: dict[str, Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in rest["state"].items()}
    groups = [dict(g) for g in rest["param_groups"]]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    for name, tensor in tensors.items():
        kind, index, key = name.split(".", 2)
        if kind == "state":
            state.setdefault(int(index), {})[key] = tensor
        else:
            groups[int(index)][key] = tensor
    return {"state": state, "param_groups": groups}


# -- random number generators ---------------------------------------------------------------
def capture_rng() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Torch (CPU and CUDA) generator states as tensors; Python's `random` as JSON."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = cuda_state
    version, internal, gauss = random.getstate()
    return tensors, {"python_random": [version, list(internal), gauss]}


def restore_rng(tensors: dict[str, Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    version, internal, gauss = plain["python_random"]
    random.setstate((version, tuple(internal), gauss))


# -- checkpoint folders ---------------------------------------------------------------------
def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def write_checkpoint_dir(root: Path, step: int, files: dict[str, Any]) -> Path:
    """Write `files` as the checkpoint `root/step_<step>` (atomically, with a manifest: see
    `workbench.core.checkpoint`), then point `root/latest.json` at it."""
    folder = write_checkpoint(root / step_dir_name(step), files)
    write_json(root / LATEST, {"step": step, "dir": folder.name})
    return folder


def saved_steps(root: Path) -> list[int]:
    """Steps of the `step_<8 digits>` folders directly in `root` (symbolic links are not
    checkpoints of this run and are left out)."""
    if not root.is_dir():
        return []
    found = (STEP_DIR.match(p.name) for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    return sorted(int(m.group(1)) for m in found if m)


def _pointed_folder(root: Path, pointer: Path) -> Path:
    """The folder `latest.json` names, refused unless it is a `step_<8 digits>` folder of
    `root` itself: a run must never continue from another run's weights."""
    data = read_json(pointer)
    name = data.get("dir") if isinstance(data, dict) else None
    if not isinstance(name, str) or not STEP_DIR.match(name):
        raise CheckpointError(
            f"{pointer} names {name!r}; it must name a step_<8 digits> folder of {root}. "
            "Resuming from elsewhere is refused: fix or delete latest.json"
        )
    folder = root / name
    if folder.is_symlink() or (folder.exists() and folder.resolve().parent != root.resolve()):
        raise CheckpointError(
            f"{folder} (named by {pointer}) is a link out of the run folder; resuming from "
            "elsewhere is refused: replace it with the real folder or delete latest.json"
        )
    if not folder.is_dir():
        raise CheckpointError(
            f"{pointer} names {name}, which does not exist in {root}; delete latest.json to "
            f"resume from the newest step folder ({saved_steps(root) or 'none'})"
        )
    return folder


def latest_checkpoint(root: str | Path | None) -> Path | None:
    """The folder `latest.json` names (validated: see `_pointed_folder`), or, without a
    pointer, the highest `step_*` folder; None when there is no checkpoint."""
    if root is None:
        return None
    root = Path(root)
    pointer = root / LATEST
    if pointer.exists():
        return _pointed_folder(root, pointer)
    steps = saved_steps(root)
    return root / step_dir_name(steps[-1]) if steps else None


def prune_checkpoints(root: Path, current: int, keep: int) -> None:
    """Keep `current` and the `keep - 1` newest before it; later steps belong to an older run
    that this one has overwritten, so they go too."""
    older = [s for s in saved_steps(root) if s < current]
    stale = [s for s in saved_steps(root) if s > current]
    for step in older[: max(0, len(older) - (keep - 1))] + stale:
        shutil.rmtree(root / step_dir_name(step), ignore_errors=True)
