"""A small causal-LM trainer for any module mapping `tokens [batch, pos]` to `logits
[batch, pos, d_vocab]`: AdamW, warmup + cosine, clipping, evaluation, callbacks, and
checkpoints that resume bit-identically on CPU.

Example:
    >>> from workbench import Model, ModelConfig
    >>> model = Model(ModelConfig(n_layers=2, d_model=64, n_heads=4, n_ctx=128))
    >>> cfg = TrainConfig(steps=300, batch_size=16, seq_len=128, checkpoint_dir="runs/tiny",
    ...                   checkpoint_every=100)
    >>> result = train(model, None, cfg)  # None: the embedded corpus (train/val splits)
    >>> result.losses[-1], result.eval_losses[-1]
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from workbench.core.checkpoint import read_checkpoint
from workbench.data.dataset import TokenDataset
from workbench.train.callbacks import callback_key
from workbench.train.config import TrainConfig, TrainResult
from workbench.train.guards import (
    ResumeRefused,
    defer_interrupt,
    deterministic_algorithms,
    model_config_differences,
)
from workbench.train.state import (
    capture_rng,
    flatten_optimizer,
    latest_checkpoint,
    prune_checkpoints,
    restore_rng,
    unflatten_optimizer,
    write_checkpoint_dir,
)

VAL_FRACTION = 0.05  # of a text given without val_data, held out for evaluation


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (biases and norm gains are not decayed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters")
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def prepare_data(
    data: TokenDataset | str | None, val_data: TokenDataset | str | None, cfg: TrainConfig
) -> tuple[TokenDataset, TokenDataset | None]:
    """Training and validation datasets from what the caller passed (see `train`)."""

    def as_dataset(source: TokenDataset | str, seed: int) -> TokenDataset:
        if isinstance(source, TokenDataset):
            if (source.seq_len, source.batch_size) != (cfg.seq_len, cfg.batch_size):
                raise ValueError(
                    f"Dataset windows are seq_len={source.seq_len}, batch_size="
                    f"{source.batch_size}, but TrainConfig has {cfg.seq_len}, {cfg.batch_size}"
                )
            return source
        if not isinstance(source, str):
            raise TypeError(f"data must be a TokenDataset, a text or None, got {type(source)}")
        return TokenDataset(source, cfg.seq_len, cfg.batch_size, seed)

    if data is None:
        train_set = TokenDataset.from_corpus("train", cfg.seq_len, cfg.batch_size, cfg.seed)
        if val_data is None:
            val_data = TokenDataset.from_corpus("val", cfg.seq_len, cfg.batch_size, cfg.seed + 1)
        return train_set, as_dataset(val_data, cfg.seed + 1)
    if isinstance(data, str) and val_data is None:
        cut = int(len(data) * (1 - VAL_FRACTION))
        data, val_data = data[:cut], data[cut:] if cfg.eval_every else None
    val_set = None
    if val_data is not None and cfg.eval_every:
        val_set = as_dataset(val_data, cfg.seed + 1)
    return as_dataset(data, cfg.seed), val_set


class Trainer:
    """One training run; `train()` is the usual entry point.

    Attributes useful to callbacks: `model`, `cfg`, `step` (updates done), `losses`,
    `eval_losses`, `last_lr`, `last_grad_norm` (before clipping), `optimizer`, `data`.
    """

    def __init__(
        self,
        model: nn.Module,
        data: TokenDataset | str | None,
        cfg: TrainConfig,
        callbacks: Sequence[Any] = (),
        val_data: TokenDataset | str | None = None,
        progress: bool = True,
    ) -> None:
        self.model, self.cfg, self.progress = model, cfg, progress
        self.data, self.val_data = prepare_data(data, val_data, cfg)
        if cfg.eval_every and self.val_data is None:
            raise ValueError("eval_every > 0 needs validation data: pass val_data or eval_every=0")
        self.callbacks = list(callbacks)
        self.optimizer = make_optimizer(model, cfg)
        self.device = next(model.parameters()).device
        self.root = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        self.step, self.seconds = 0, 0.0
        self.losses: list[float] = []
        self.eval_losses: list[tuple[int, float]] = []
        self.last_lr, self.last_grad_norm = float("nan"), float("nan")
        self._rng_at_step_start: tuple[dict, dict] | None = None
        self._saved_step: int | None = None
        self._eval_set: list[Tensor] | None = None

    # -- running ----------------------------------------------------------------------------
    def start_fresh(self) -> None:
        """Seed torch and Python `random` from `cfg.seed` (dropout and the like use them)."""
        torch.manual_seed(self.cfg.seed)
        random.seed(self.cfg.seed)

    def run(self) -> TrainResult:
        """Train up to `cfg.steps`; on Ctrl-C save a checkpoint, then re-raise."""
        started, seconds_before = time.perf_counter(), self.seconds
        bar = tqdm(
            total=self.cfg.steps, initial=self.step, desc="train", unit="step",
            disable=not self.progress,
        )  # fmt: skip
        try:
            with deterministic_algorithms(self.cfg.deterministic, self.device):
                self._loop(bar, started, seconds_before)
        except KeyboardInterrupt:
            self.seconds = seconds_before + time.perf_counter() - started
            if self.root is not None:
                folder = self.save_checkpoint()
                tqdm.write(f"Interrupted at step {self.step}; checkpoint saved to {folder}")
            raise
        finally:
            bar.close()
        checkpoint = None
        if self.root is not None:
            checkpoint = self.save_checkpoint() if self._saved_step != self.step else None
            checkpoint = checkpoint or latest_checkpoint(self.root)
        return self.result(checkpoint)

    def _loop(self, bar: tqdm, started: float, seconds_before: float) -> None:
        while self.step < self.cfg.steps:
            loss = self.train_step()
            self.seconds = seconds_before + time.perf_counter() - started
            bar.update(1)
            if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.last_lr:.2e}")
            self._after_step(loss)

    def result(self, checkpoint: Path | None = None) -> TrainResult:
        return TrainResult(
            losses=list(self.losses),
            eval_losses=list(self.eval_losses),
            steps=self.step,
            seconds=self.seconds,
            tokens_seen=self.step * self.cfg.batch_size * self.cfg.seq_len,
            checkpoint=checkpoint,
        )

    def train_step(self) -> float:
        """One AdamW update on batch number `step`; returns its loss before the update."""
        self._rng_at_step_start = capture_rng()
        batch = self.data.batch(self.step).to(self.device)
        self.model.train()
        loss = self.loss(batch)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Training loss is {value} at step {self.step + 1}; try a lower lr or grad_clip"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        lr = self.cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with defer_interrupt():  # the update and its bookkeeping happen together or not at all
            self.optimizer.step()
            self.step += 1
            self.data.position = self.step
            self.losses.append(value)
            self.last_lr, self.last_grad_norm = lr, grad_norm
            self._rng_at_step_start = None
        return value

    def loss(self, batch: Tensor) -> Tensor:
        """Mean next-token cross-entropy (nats) of a `[batch, seq_len + 1]` window batch."""
        inputs, targets = batch[:, :-1], batch[:, 1:]
        try:
            logits = self.model(inputs)
        except IndexError as err:  # what nn.Embedding raises for an id beyond its table
            raise ValueError(
                f"The model failed on token ids up to {int(inputs.max())} ({err}); is its "
                "vocabulary smaller than the data's? (a byte-level corpus needs d_vocab >= 259)"
            ) from err
        if not isinstance(logits, Tensor) or logits.dim() != 3 or logits.shape[:2] != inputs.shape:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(
                f"The model must map tokens {tuple(inputs.shape)} to logits [batch, pos, d_vocab]"
                f"; it returned {shape}"
            )
        if int(targets.max()) >= logits.shape[-1]:
            raise ValueError(
                f"Token id {int(targets.max())} is outside the model's vocabulary of "
                f"{logits.shape[-1]} (a byte-level corpus needs d_vocab >= 259)"
            )
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the first `cfg.eval_batches` validation batches (fixed set)."""
        if self.val_data is None:
            raise ValueError("No validation data")
        if self._eval_set is None:
            self._eval_set = self.val_data.eval_batches(self.cfg.eval_batches)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[]):  # evaluation must not move the RNG
                losses = [self.loss(b.to(self.device)).item() for b in self._eval_set]
        finally:
            self.model.train(was_training)
        return sum(losses) / len(losses)

    def _after_step(self, loss: float) -> None:
        step, cfg = self.step, self.cfg
        for callback in self.callbacks:
            if step % getattr(callback, "every", 1) == 0 and hasattr(callback, "on_step_end"):
                callback.on_step_end(self, step, loss)
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            eval_loss = self.evaluate()
            self.eval_losses.append((step, eval_loss))
            for callback in self.callbacks:
                if hasattr(callback, "on_eval"):
                    callback.on_eval(self, step, eval_loss)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            self.save_checkpoint()

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write `checkpoint_dir/step_<step>/` atomically and prune old ones."""
        if self.root is None:
            raise ValueError("TrainConfig.checkpoint_dir is not set")
        optim_tensors, optim_rest = flatten_optimizer(self.optimizer.state_dict())
        # Interrupted mid-step: the RNG has moved for a step that did not happen.
        rng_tensors, rng_plain = self._rng_at_step_start or capture_rng()
        state = {
            "format": "workbench-trainer-1",
            "step": self.step,
            "losses": self.losses,
            "eval_losses": [list(pair) for pair in self.eval_losses],
            "seconds": self.seconds,
            "config": self.cfg.to_dict(),
            "schedule": {"kind": "linear-warmup-cosine", "next_lr": self.cfg.lr_at(self.step)},
            "optimizer": optim_rest,
            "rng": rng_plain,
            "data": self.data.state_dict(),
            "callbacks": {
                callback_key(i, cb): cb.state_dict()
                for i, cb in enumerate(self.callbacks)
                if hasattr(cb, "state_dict")
            },
        }
        files: dict[str, Any] = {
            "model.safetensors": self.model.state_dict(),
            "optimizer.safetensors": optim_tensors,
            "rng.safetensors": rng_tensors,
            "trainer.json": state,
        }
        model_cfg = getattr(self.model, "cfg", None)
        if hasattr(model_cfg, "to_dict"):  # a workbench Model: `load_model(folder)` works too
            files["config.json"] = {"config": model_cfg.to_dict(), "step": self.step}
        folder = write_checkpoint_dir(self.root, self.step, files)
        prune_checkpoints(self.root, self.step, self.cfg.keep_checkpoints)
        self._saved_step = self.step
        for callback in self.callbacks:
            if hasattr(callback, "on_checkpoint"):
                callback.on_checkpoint(self, self.step, folder)
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        """Restore everything `save_checkpoint` wrote. The whole checkpoint is validated
        first (see `workbench.core.checkpoint`); the training config must match (see
        `TrainConfig.trajectory_differences`) and so must the model config; on any refusal
        nothing has changed."""
        checkpoint = read_checkpoint(folder)
        state = checkpoint.json("trainer.json")
        differences = self.cfg.trajectory_differences(TrainConfig.from_dict(state["config"]))
        if differences:
            raise ResumeRefused(checkpoint.folder, "config", differences)
        differences = model_config_differences(checkpoint.model_config, self.model)
        if differences:
            raise ResumeRefused(checkpoint.folder, "model", differences)
        checkpoint.check_weights(self.model)
        optim_tensors = checkpoint.tensors("optimizer.safetensors")
        # load_state_dict checks the parameter groups before it changes anything
        self.optimizer.load_state_dict(unflatten_optimizer(optim_tensors, state["optimizer"]))
        checkpoint.load_weights(self.model)
        self.data.load_state_dict(state["data"])
        restore_rng(checkpoint.tensors("rng.safetensors"), state["rng"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.losses = [float(x) for x in state["losses"]]
        self.eval_losses = [(int(s), float(x)) for s, x in state["eval_losses"]]
        self._saved_step = self.step
        for i, callback in enumerate(self.callbacks):
            saved = state["callbacks"].get(callback_key(i, callback))
            if saved is not None and hasattr(callback, "load_state_dict"):
                callback.load_state_dict(saved)


def train(
    model: nn.Module,
    data: TokenDataset | str | None = None,
    cfg: TrainConfig | None = None,
    callbacks: Sequence[Any] = (),
    resume: bool = True,
    val_data: TokenDataset | str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `model` (tokens -> logits) as a causal LM.

    `data`: a `TokenDataset`, a text (byte-tokenized; its last 5% is held out for
    evaluation unless `val_data` is given) or None (the embedded corpus, train/val splits).
    With `resume` and a checkpoint in `cfg.checkpoint_dir`, training continues from it
    exactly where it stopped.

    Example:
        >>> result = train(model, load_corpus("train"), TrainConfig(steps=100, seq_len=64))
        >>> result.tokens_per_second
    """
    cfg = cfg or TrainConfig()
    trainer = Trainer(model, data, cfg, callbacks, val_data, progress)
    folder = latest_checkpoint(cfg.checkpoint_dir) if resume else None
    if folder is not None:
        trainer.load_checkpoint(folder)
    else:
        trainer.start_fresh()
    return trainer.run()
