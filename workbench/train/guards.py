"""Guards of a training run: deterministic algorithms for its duration, Ctrl-C deferred while
an update is applied, and the refusal to resume a checkpoint of another run.

Example:
    >>> with deterministic_algorithms(True, torch.device("cpu")):
    ...     loss.backward()  # sums in the same order on every run, with any thread count
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.utils.deterministic
from torch import nn

from workbench.core.checkpoint import CheckpointError


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool, device: torch.device) -> Iterator[None]:
    """With `enabled`, torch's deterministic algorithms for the block (then the previous
    setting again): with several threads an index accumulation (`W_E[tokens]` backward,
    `index_put_`) otherwise sums in a different order on each run. CUDA needs cuBLAS set up
    for it before the process starts, so there a missing setting is an error, not a surprise."""
    if not enabled:
        yield
        return
    if device.type == "cuda" and os.environ.get("CUBLAS_WORKSPACE_CONFIG") is None:
        raise ValueError(
            "TrainConfig(deterministic=True) on CUDA needs CUBLAS_WORKSPACE_CONFIG=:4096:8 in "
            "the environment before Python starts; set it, or pass deterministic=False"
        )
    settings = torch.utils.deterministic
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              settings.fill_uninitialized_memory)  # fmt: skip
    torch.use_deterministic_algorithms(True)
    # Filling every torch.empty with NaN guards against ops that read memory they never wrote
    # (bugs in those ops, not reduction order); it cost 10-35% of a CPU training step
    # (docs/reliability.md) and the bitwise tests pass without it, so it stays off here
    settings.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        settings.fill_uninitialized_memory = before[2]


@contextlib.contextmanager
def defer_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, so an update is never left half-applied."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


class ResumeRefused(CheckpointError):
    """A checkpoint made with another training config or for another model: resuming from it
    would silently continue a different run. `differences` lists `"field: saved -> now"`."""

    def __init__(self, folder: Path, kind: str, differences: list[str]) -> None:
        self.folder, self.kind, self.differences = folder, kind, differences
        what = "with another config" if kind == "config" else "for another model"
        super().__init__(
            f"Checkpoint {folder} was made {what} ({'; '.join(differences)}); pass "
            "resume=False or use another checkpoint_dir"
        )


def model_config_differences(saved: dict[str, Any] | None, model: nn.Module) -> list[str]:
    """Fields of the model config a checkpoint recorded (`saved`) that differ from `model`'s
    (`"field: saved -> now"`); a checkpoint of a plain module records none."""
    cfg = getattr(model, "cfg", None)
    current = cfg.to_dict() if hasattr(cfg, "to_dict") else None
    if saved is None or current is None:
        if (saved is None) == (current is None):
            return []
        return [f"model config: {'none' if saved is None else 'recorded'} -> "
                f"{'none' if current is None else type(cfg).__name__}"]  # fmt: skip
    try:  # through from_dict, so fields added since the checkpoint get their defaults
        saved = type(cfg).from_dict(saved).to_dict()
    except (KeyError, TypeError, ValueError) as err:
        return [f"model config: the recorded one does not parse ({err!r})"]
    saved, current = json.loads(json.dumps(saved)), json.loads(json.dumps(current))
    return [
        f"{name}: {saved.get(name)!r} -> {current.get(name)!r}"
        for name in sorted(set(saved) | set(current))
        if saved.get(name) != current.get(name)
    ]
