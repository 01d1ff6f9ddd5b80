"""Activation sparsity over training: `SparsityTracker`, a trainer callback (the emergence
curve of Li et al. 2023, who see the nonzero fraction fall early in training).

Every `every` steps the tracker runs the model (eval mode, no gradients, so the training
trajectory is unchanged) on a fixed probe batch and records per layer the mean fraction of
firing MLP neurons over the probe's real tokens, the fraction of neurons that fire on none of
them, and the training loss of that step. Its `state_dict` goes into the trainer's
checkpoints, so a resumed run records the same curve as an uninterrupted one.

Example:
    >>> tracker = SparsityTracker(probe_tokens, every=25)
    >>> train(model, None, cfg, callbacks=[tracker])
    >>> tracker.result().nonzero_frac           # [record, layer]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.analysis.sparsity import STATS, firing_threshold, metric_label
from workbench.core.inputs import check_tokens


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SparsityTrainingResult(Result):
    """The tracker's record: one row per recorded step."""

    steps: Int[Tensor, "record"]
    loss: Float[Tensor, "record"]
    nonzero_frac: Float[Tensor, "record layer"]  # mean over the probe's real tokens
    dead_frac: Float[Tensor, "record layer"]  # neurons firing on no probe token
    every: int
    threshold: float
    exact_zeros: bool

    @property
    def metric_label(self) -> str:
        return metric_label(self.threshold, self.exact_zeros)


def probe_sparsity(stats: Any) -> tuple[Float[Tensor, "layer"], Float[Tensor, "layer"]]:
    """(mean firing fraction over real tokens, fraction of neurons firing on none) per layer."""
    values = stats["mlp.nonzero_frac"].double()  # [layer, batch, pos], NaN on padding
    real = stats.real("mlp.nonzero_frac")
    frac = torch.where(real, values, 0.0).sum((1, 2)) / real.sum((1, 2)).clamp(min=1)
    dead = (stats["mlp.fire_count"] == 0).double().mean(-1)  # [layer]
    return frac.float().cpu(), dead.float().cpu()


class SparsityTracker:
    """Trainer callback recording per-layer probe sparsity and the loss every `every` steps."""

    def __init__(
        self,
        probe_tokens: Int[Tensor, "batch pos"],
        every: int = 25,
        attention_mask: Tensor | None = None,
        mlp_threshold: float | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        probe_tokens = probe_tokens[None] if probe_tokens.dim() == 1 else probe_tokens
        self.probe, self.mask, self.every = probe_tokens, attention_mask, every
        self.mlp_threshold = mlp_threshold
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.nonzero_frac: list[list[float]] = []
        self.dead_frac: list[list[float]] = []
        self.model_info: dict[str, Any] = {}

    def on_step_end(self, trainer: Any, step: int, loss: float) -> None:
        model = trainer.model
        if not self.model_info:  # first call: check the model and the probe once
            threshold, exact = firing_threshold(model, self.mlp_threshold)
            check_tokens(self.probe, model.cfg.d_vocab, model.pos_embed.max_len)
            self.model_info = {"name": model.cfg.name, "config_hash": model.cfg.config_hash(),
                               "threshold": threshold, "exact_zeros": exact}  # fmt: skip
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                mask = None if self.mask is None else self.mask.to(trainer.device)
                stats = model.run_with_stats(self.probe.to(trainer.device), list(STATS),
                                             attention_mask=mask,
                                             mlp_threshold=self.mlp_threshold)  # fmt: skip
        finally:
            model.train(was_training)
        frac, dead = probe_sparsity(stats)
        self.steps.append(step)
        self.losses.append(float(loss))
        self.nonzero_frac.append(frac.tolist())
        self.dead_frac.append(dead.tolist())

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "steps": self.steps, "losses": self.losses,
                "nonzero_frac": self.nonzero_frac, "dead_frac": self.dead_frac,
                "model_info": self.model_info}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["every"] != self.every:
            raise ValueError(
                f"SparsityTracker(every={self.every}) cannot continue a record made every "
                f"{state['every']} steps"
            )
        for key in ("steps", "losses", "nonzero_frac", "dead_frac", "model_info"):
            setattr(self, key, state[key])

    def result(self) -> SparsityTrainingResult:
        """The record so far as a `Result` (JSON round trip, registered view and figure)."""
        if not self.steps:
            raise ValueError("the tracker has recorded nothing yet (no step reached `every`)")
        info = self.model_info
        meta = ResultMetadata(
            model_name=str(info["name"]), config_hash=str(info["config_hash"]),
            options={"every": self.every, "threshold": info["threshold"],
                     "metric": metric_label(info["threshold"], info["exact_zeros"])},
            data_description=f"probe of {self.probe.shape[0]} x {self.probe.shape[1]} tokens",
        )  # fmt: skip
        return SparsityTrainingResult(
            steps=torch.tensor(self.steps), loss=torch.tensor(self.losses),
            nonzero_frac=torch.tensor(self.nonzero_frac), dead_frac=torch.tensor(self.dead_frac),
            every=self.every, threshold=float(info["threshold"]),
            exact_zeros=bool(info["exact_zeros"]), metadata=meta,
        )  # fmt: skip
