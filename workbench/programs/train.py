"""Training a Transformer Program: Adam (lr 5e-2, batch 512), one Gumbel sample per step,
temperature annealed geometrically from 3.0 to 0.01, evaluation of the discretized (argmax)
network (Friedman, Wettig & Chen, NeurIPS 2023, arXiv 2306.01128, Sec. 4).

Checkpoints are a folder of the one format (`workbench.core.checkpoint`): `config.json`
(program config, training settings, accuracies, history), `model.safetensors` and
`manifest.json`, written atomically and validated before loading; nothing is pickled.

Example:
    >>> task = make_task("hist")
    >>> cfg = ProgramConfig.for_task(task, n_layers=1, n_cat_heads=4, n_num_heads=4, n_cat_mlps=2,
    ...                              n_num_mlps=2)
    >>> run = train_program(task, cfg, epochs=100)
    >>> run.test_accuracy  # discretized network, token accuracy (docs/programs/hist_run.json)
    0.9979...
    >>> save_checkpoint(run, "out/hist")
    >>> model, meta = load_checkpoint("out/hist")
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from workbench.core.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_module, write_checkpoint
from workbench.data.rasp import Task, make_task
from workbench.programs.model import Batch, ProgramConfig, ProgramModel, encode


@dataclass
class TrainRun:
    model: ProgramModel
    task: Task
    settings: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    val_accuracy: float = 0.0
    test_accuracy: float = 0.0
    seconds: float = 0.0


def accuracy(model: ProgramModel, batch: Batch) -> float:
    """Token accuracy of the discretized network over labelled positions."""
    mask = batch.labels != -100
    pred = model.predict(batch)
    return float((pred[mask] == batch.labels[mask]).double().mean())


def labelled_loss(logits: Tensor, labels: Tensor, per: str = "token") -> Tensor:
    """Cross-entropy over labelled positions. `per="token"` averages over all labelled tokens
    of the batch; `per="sequence"` averages within each sequence, then over the batch (the
    paper's code does this, so short sequences weigh as much as long ones; on reverse it did
    not help here, see docs/programs.md)."""
    losses = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    if per == "token":
        return losses.sum() / (labels != -100).sum().clamp(min=1)
    if per != "sequence":
        raise ValueError(f"per must be 'sequence' or 'token', got {per!r}")
    counts = (labels != -100).sum(1)
    return (losses.sum(1)[counts > 0] / counts[counts > 0]).mean()


def temperature(step: int, total: int, start: float = 3.0, end: float = 0.01) -> float:
    """Geometric schedule: `start` at step 0, `end` at the last step."""
    return start * (end / start) ** (step / max(total - 1, 1))


def train_program(
    task: Task,
    cfg: ProgramConfig,
    epochs: int = 250,
    batch_size: int = 512,
    lr: float = 5e-2,
    seed: int = 0,
    eval_every: int = 5,
    progress: bool = True,
    loss_per: str = "token",
) -> TrainRun:
    """Train on `task.train`; keep the state whose discretized network is best on
    `task.val` (evaluated every `eval_every` epochs and at the end)."""
    sizes = {"train": len(task.train), "val": len(task.val), "test": len(task.test)}
    if not all(sizes.values()):  # an empty split would pick no best state, or report nan
        raise ValueError(
            f"{task.name}: a split is empty ({sizes}); ask for more examples "
            "(10% go to test and 10% of the rest to validation)"
        )
    torch.manual_seed(seed)
    model = ProgramModel(cfg)
    train, val = encode(cfg, task.train), encode(cfg, task.val)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(task.train) / batch_size)
    total = epochs * steps_per_epoch
    settings = dict(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        n_train=len(task.train),
        loss_per=loss_per,
    )
    run = TrainRun(model, task, settings)
    best, start, step = (-1.0, None), time.perf_counter(), 0
    bar = tqdm(range(epochs), desc=f"train {task.name}", disable=not progress)
    for epoch in bar:
        order = torch.randperm(len(task.train))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            tau = temperature(step, total)
            logits = model(train.tokens[idx], train.valid[idx], tau=tau, noise=True)
            loss = labelled_loss(logits, train.labels[idx], loss_per)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
        record = {"epoch": epoch + 1, "loss": sum(losses) / len(losses), "tau": tau}
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            record["val_accuracy"] = accuracy(model, val)
            if record["val_accuracy"] >= best[0]:
                best = (record["val_accuracy"], copy.deepcopy(model.state_dict()))
            bar.set_postfix(loss=f"{record['loss']:.3f}", val=f"{record['val_accuracy']:.4f}")
        run.history.append(record)
    model.load_state_dict(best[1])
    run.seconds = time.perf_counter() - start
    run.val_accuracy = best[0]
    run.test_accuracy = accuracy(model, encode(cfg, task.test))
    return run


def save_checkpoint(run: TrainRun, folder: str | Path) -> Path:
    """Write the checkpoint folder `folder` (the one format of `workbench.core.checkpoint`):
    `config.json` (program config, training settings, accuracies, history),
    `model.safetensors` and `manifest.json`, atomically."""
    meta = {
        "config": run.model.cfg.to_dict(),
        "training": run.settings,
        "val_accuracy": run.val_accuracy,
        "test_accuracy": run.test_accuracy,
        "seconds": run.seconds,
        "history": run.history,
    }
    return write_checkpoint(folder, {CONFIG_FILE: meta, WEIGHTS_FILE: run.model.state_dict()})


def recorded_data(meta: dict[str, Any]) -> dict[str, Any]:
    """The `make_task` settings a checkpoint recorded, with what older runs left out filled
    in: runs made before `max_len` was recorded get the config's, which for 20,000 examples is
    the longest input and so what was asked for; Dyck runs that recorded no sampler used
    "prefix"."""
    data = {"max_len": meta["config"]["max_len"], **meta["training"]["data"]}
    if meta["config"]["task"].startswith("dyck"):
        data.setdefault("dyck_sampler", "prefix")
    return data


def task_of_run(meta: dict[str, Any]) -> Task:
    """The task a checkpoint trained on, regenerated from the settings it recorded."""
    return make_task(meta["config"]["task"], **recorded_data(meta))


def load_checkpoint(folder: str | Path) -> tuple[ProgramModel, dict[str, Any]]:
    """The model and the metadata written by `save_checkpoint`, after validating the whole
    checkpoint (a `CheckpointError` names the file and the fault)."""
    model, meta = load_module(folder, lambda config: ProgramModel(ProgramConfig.from_dict(config)))
    return model, meta
