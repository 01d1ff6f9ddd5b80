"""Attention entropy over training: `EntropyTracker` (a trainer callback) and `find_collapse`.

Every `every` steps the tracker runs the model (eval mode, no gradients, so neither the
trajectory nor sigmaReparam's power-iteration buffers change) on a fixed probe batch and
records per head the mean entropy (nats, real tokens only), the training loss of that step,
the highest loss since the previous record, and sigma = ||scale W_Q W_K^T||_2 per head.
Its `state_dict` goes into the trainer's checkpoints, so a resumed run records the same.

Collapse (Zhai et al. 2023): a head whose mean probe entropy falls below `threshold` nats.
Loss spike (our definition): a record whose highest loss since the previous record exceeds
the lowest loss of all earlier records by more than `spike_nats`; it "accompanies" a
collapse when it lies within `window` records of it (before or after).

Example:
    >>> tracker = EntropyTracker(probe_tokens, every=25)
    >>> train(model, None, cfg, callbacks=[tracker])
    >>> record = tracker.result()                     # EntropyTrainingResult
    >>> find_collapse(record, threshold=0.1)          # Collapse(step=..., layer=..., ...)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.entropy import entropy_stats
from workbench.analysis.entropy_bound import head_sigmas
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.core.inputs import check_tokens


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class EntropyTrainingResult(Result):
    """The tracker's record: one row per recorded step."""

    steps: Int[Tensor, "record"]
    loss: Float[Tensor, "record"]
    window_max_loss: Float[Tensor, "record"]
    entropy: Float[Tensor, "record layer head"]
    sigma: Float[Tensor, "record layer head"]
    every: int
    note: str = ""


class EntropyTracker:
    """Trainer callback recording probe entropy, loss and sigma every `every` steps."""

    def __init__(
        self,
        probe_tokens: Int[Tensor, "batch pos"],
        every: int = 25,
        attention_mask: Tensor | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        probe_tokens = probe_tokens[None] if probe_tokens.dim() == 1 else probe_tokens
        self.probe, self.mask, self.every = probe_tokens, attention_mask, every
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.window_max: list[float] = []
        self.entropy: list[list[list[float]]] = []
        self.sigma: list[list[list[float]]] = []
        self.model_info: dict[str, str] = {}

    def on_step_end(self, trainer: Any, step: int, loss: float) -> None:
        model = trainer.model
        if not self.steps:  # first call: check the model once
            entropy_stats(model)
            check_tokens(self.probe, model.cfg.d_vocab, model.pos_embed.max_len)
            self.model_info = {"name": model.cfg.name, "config_hash": model.cfg.config_hash()}
        since = trainer.losses[-self.every :] if trainer.losses else [loss]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                stats = model.run_with_stats(self.probe.to(trainer.device), ["attn.entropy"],
                                             attention_mask=self.mask)  # fmt: skip
                entropy = probe_means(stats)
                sigma = head_sigmas(model)
        finally:
            model.train(was_training)
        self.steps.append(step)
        self.losses.append(float(loss))
        self.window_max.append(float(max(since)))
        self.entropy.append(entropy.tolist())
        self.sigma.append(sigma.tolist())

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "steps": self.steps, "losses": self.losses,
                "window_max": self.window_max, "entropy": self.entropy, "sigma": self.sigma,
                "model_info": self.model_info}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["every"] != self.every:
            raise ValueError(
                f"EntropyTracker(every={self.every}) cannot continue a record made every "
                f"{state['every']} steps"
            )
        for key in ("steps", "losses", "window_max", "entropy", "sigma", "model_info"):
            setattr(self, key, state[key])

    def result(self, note: str = "") -> EntropyTrainingResult:
        """The record so far as a `Result` (JSON round trip, registered view and figure)."""
        if not self.steps:
            raise ValueError("the tracker has recorded nothing yet (no step reached `every`)")
        meta = ResultMetadata(
            model_name=self.model_info.get("name", "unknown"),
            config_hash=self.model_info.get("config_hash", "unknown"),
            options={"every": self.every},
            data_description=f"probe of {self.probe.shape[0]} x {self.probe.shape[1]} tokens",
        )
        return EntropyTrainingResult(
            steps=torch.tensor(self.steps), loss=torch.tensor(self.losses),
            window_max_loss=torch.tensor(self.window_max),
            entropy=torch.tensor(self.entropy), sigma=torch.tensor(self.sigma),
            every=self.every, note=note, metadata=meta,
        )  # fmt: skip


def probe_means(stats: Any) -> Float[Tensor, "layer head"]:
    """Mean entropy per layer and head over the real tokens of the probe batch."""
    values = stats["attn.entropy"].double()  # [layer, batch, head, pos]
    real = stats.real("attn.entropy")
    total = torch.where(real, values, 0.0).sum((1, 3))
    return (total / real.sum((1, 3)).clamp(min=1)).float().cpu()


@dataclasses.dataclass(frozen=True)
class Collapse:
    """Where entropy first fell below the threshold, and the loss spike next to it (if any)."""

    step: int
    layer: int
    head: int
    entropy: float
    threshold: float
    loss_spike: bool
    spike_step: int | None


def loss_spikes(record: EntropyTrainingResult, spike_nats: float = 0.5) -> list[int]:
    """Indices of records whose window max loss exceeds every earlier record's lowest loss
    by more than `spike_nats` (see the module docstring)."""
    loss, peak = record.loss.double(), record.window_max_loss.double()
    spikes = []
    for i in range(1, len(loss)):
        best_before = float(loss[:i].min())
        if not math.isfinite(float(peak[i])) or float(peak[i]) > best_before + spike_nats:
            spikes.append(i)
    return spikes


def find_collapse(
    record: EntropyTrainingResult | EntropyTracker,
    threshold: float = 0.1,
    spike_nats: float = 0.5,
    window: int = 2,
) -> Collapse | None:
    """The first record where a head's probe entropy is below `threshold` nats (lowest head
    of that record), or None. Example: `find_collapse(tracker.result(), threshold=0.1)`."""
    if isinstance(record, EntropyTracker):
        record = record.result()
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0 nats, got {threshold}")
    entropy = record.entropy.double()  # [record, layer, head]
    below = (entropy < threshold).flatten(1).any(1).nonzero().flatten()
    if len(below) == 0:
        return None
    index = int(below[0])
    flat = int(entropy[index].flatten().argmin())
    layer, head = divmod(flat, entropy.shape[2])
    near = [i for i in loss_spikes(record, spike_nats) if abs(i - index) <= window]
    return Collapse(
        step=int(record.steps[index]), layer=layer, head=head,
        entropy=float(entropy[index, layer, head]), threshold=threshold,
        loss_spike=bool(near), spike_step=int(record.steps[near[0]]) if near else None,
    )  # fmt: skip
