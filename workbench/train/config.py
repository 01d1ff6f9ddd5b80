"""`TrainConfig` (what to do), `TrainResult` (what happened) and the learning-rate schedule."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated, Any

from workbench.core.validate import (
    Bound,
    ConfigError,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Prob,
    check_known_fields,
    validate_fields,
)

Beta = Annotated[float, Bound(lo=0, hi=1, lo_closed=True)]  # Adam: 0 <= beta < 1

# Fields that change the trajectory: a checkpoint resumes only under the same values.
TRAJECTORY_FIELDS = (
    "steps", "batch_size", "seq_len", "lr", "weight_decay", "warmup_steps", "min_lr_ratio",
    "grad_clip", "seed", "betas", "eval_batches",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A causal-LM training run. `*_every = 0` turns that event off; evaluation also runs
    after the last step. `seed` seeds the data order and torch/`random` at a fresh start.

    `deterministic` runs torch's deterministic algorithms while training, so two runs (or a
    resumed one and an uninterrupted one) end with bit-identical weights with any number of
    CPU threads; `False` trades that for speed (docs/reliability.md measures it). It does not
    change what is computed, only the order of sums, so a checkpoint resumes under either.

    AdamW decays only matrices (`dim >= 2`), not biases or norm gains. The learning rate
    rises linearly over `warmup_steps`, then follows a cosine down to `lr * min_lr_ratio`.

    Example:
        >>> cfg = TrainConfig(steps=200, batch_size=8, seq_len=64, checkpoint_dir="runs/a")
    """

    steps: PosInt = 1000
    batch_size: PosInt = 16
    seq_len: PosInt = 128
    lr: PosFloat = 1e-3
    weight_decay: NonNegFloat = 0.1
    warmup_steps: NonNegInt = 50
    min_lr_ratio: Prob = 0.1
    grad_clip: NonNegFloat = 1.0  # 0: no clipping
    seed: NonNegInt = 0
    eval_every: NonNegInt = 100
    checkpoint_every: NonNegInt = 0
    checkpoint_dir: str | None = None
    log_every: PosInt = 10
    eval_batches: PosInt = 4
    keep_checkpoints: PosInt = 2
    betas: tuple[Beta, Beta] = (0.9, 0.95)
    deterministic: bool = True

    def __post_init__(self) -> None:
        validate_fields(self)  # types and ranges from the hints above; lists become tuples
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise ConfigError("TrainConfig.checkpoint_every > 0 needs a checkpoint_dir")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "betas": list(self.betas)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The inverse of `to_dict`; unknown fields raise with a suggestion."""
        return cls(**check_known_fields(cls, data))

    def lr_at(self, step: int) -> float:
        """Learning rate for the update that takes the model from `step` to `step + 1`."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        decay_steps = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

    def trajectory_differences(self, other: TrainConfig) -> list[str]:
        """Fields that would make `other` train differently from `self`."""
        return [
            f"{name}: {getattr(other, name)!r} -> {getattr(self, name)!r}"
            for name in TRAJECTORY_FIELDS
            if getattr(self, name) != getattr(other, name)
        ]


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Per-step training losses (nats/token, whole run including resumed parts), evaluation
    losses as `(step, loss)`, the step reached, wall time, tokens trained on."""

    losses: list[float]
    eval_losses: list[tuple[int, float]]
    steps: int
    seconds: float
    tokens_seen: int
    checkpoint: Path | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds > 0 else float("nan")
