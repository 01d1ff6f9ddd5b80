"""The paper's experiment at small scale: the same tiny byte-level model trained at a high
learning rate with and without sigmaReparam, same seeds, attention entropy tracked.

Each run writes `DIR/<reparam>-seed<k>/record.json` (the tracker's `EntropyTrainingResult`)
and `outcome.json`; checkpoints in `DIR/<reparam>-seed<k>/checkpoints` let an interrupted
run resume, and finished runs are skipped. A run that diverges (non-finite loss) is
recorded as diverged at that step, with the record up to there.

Example:
    >>> outcomes = run_experiment("runs/collapse", seeds=[0, 1, 2], steps=300, lr=1e-2)
    >>> outcomes_table(outcomes)
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from workbench.analysis.entropy_training import EntropyTracker, find_collapse
from workbench.analysis.result import Result

# The tiny model of the experiment; `overrides` change it (e.g. norm_placement="post").
TINY_MODEL = dict(d_model=64, n_layers=2, n_heads=4, d_mlp=256, n_ctx=64, mlp="relu",
                  norm="layernorm", norm_placement="pre", position="learned")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ExperimentSettings:
    steps: int = 300
    lr: float = 1e-2
    warmup_steps: int = 0
    batch_size: int = 16
    seq_len: int = 64
    every: int = 10
    threshold: float = 0.1
    model: dict = dataclasses.field(default_factory=dict)


def probe_batch(seq_len: int) -> Any:
    """4 fixed windows of the validation corpus (byte tokens), the same for every run."""
    import torch

    from workbench.data import load_corpus
    from workbench.data.tokenizer import ByteTokenizer

    tokenizer = ByteTokenizer()
    ids = tokenizer.to_tokens(load_corpus("val")[: 8 * seq_len], prepend_bos=False)[0]
    body = ids[: 4 * (seq_len - 1)].view(4, seq_len - 1)
    return torch.cat([torch.full((4, 1), tokenizer.bos_id), body], dim=1)


def run_one(out: Path, seed: int, reparam: str, settings: ExperimentSettings) -> dict:
    """Train one run (resuming from its checkpoints) and write its record and outcome."""
    from workbench.core.config import ModelConfig
    from workbench.core.model import Model
    from workbench.data.tokenizer import ByteTokenizer
    from workbench.train import TrainConfig, train
    from workbench.train.callbacks import EveryN

    folder = out / f"{reparam}-seed{seed}"
    if (folder / "outcome.json").exists():
        return json.loads((folder / "outcome.json").read_text())
    cfg = ModelConfig(**{**TINY_MODEL, **settings.model}, d_vocab=ByteTokenizer.vocab_size,
                      reparam=reparam, seed=seed, name=f"collapse-{reparam}-{seed}")  # fmt: skip
    train_cfg = TrainConfig(
        steps=settings.steps, batch_size=settings.batch_size, seq_len=settings.seq_len,
        lr=settings.lr, warmup_steps=settings.warmup_steps, seed=seed, eval_every=0,
        checkpoint_every=max(1, settings.steps // 4), checkpoint_dir=str(folder / "checkpoints"),
    )  # fmt: skip
    tracker = EntropyTracker(probe_batch(settings.seq_len), every=settings.every)
    last_step = [0]
    step_counter = EveryN(lambda trainer, step, loss: last_step.__setitem__(0, step), every=1)
    diverged_at = None
    try:
        result = train(Model(cfg), None, train_cfg, callbacks=[tracker, step_counter])
        seconds, final = result.seconds, result.losses[-1]
    except FloatingPointError as err:  # divergence is an outcome of this experiment
        diverged_at, seconds, final = last_step[0] + 1, math.nan, math.nan
        print(f"{folder.name}: {err}")
    record = tracker.result(note="" if diverged_at is None else f"diverged near {diverged_at}")
    record.to_json(folder / "record.json")
    outcome = summarize(record, seed, reparam, settings, final, seconds, diverged_at)
    (folder / "outcome.json").write_text(json.dumps(outcome, indent=1))
    return outcome


def summarize(record, seed, reparam, settings, final, seconds, diverged_at) -> dict:
    collapse = find_collapse(record, threshold=settings.threshold)
    return {
        "seed": seed, "reparam": reparam, "final_loss": final, "seconds": seconds,
        "diverged_at": diverged_at, "min_entropy": float(record.entropy.min()),
        "min_entropy_step": int(record.steps[int(record.entropy.flatten(1).min(1).values
                                                 .argmin())]),
        "collapse": None if collapse is None else dataclasses.asdict(collapse),
        "min_layer_mean_entropy": float(record.entropy.mean(-1).min()),
        "max_sigma": float(record.sigma.max()), "settings": dataclasses.asdict(settings),
    }  # fmt: skip


def run_experiment(
    out: str | Path,
    seeds: list[int],
    settings: ExperimentSettings | None = None,
    reparams: tuple[str, ...] = ("none", "sigma_reparam"),
) -> list[dict]:
    """Every (reparam, seed) run; returns their outcomes (also in `DIR/outcomes.json`)."""
    settings = settings or ExperimentSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [run_one(out, seed, reparam, settings) for reparam in reparams for seed in seeds]
    (out / "outcomes.json").write_text(json.dumps(outcomes, indent=1))
    (out / "outcomes.md").write_text(outcomes_table(outcomes))
    return outcomes


def outcomes_table(outcomes: list[dict]) -> str:
    """Markdown table: per run the final loss, collapse step/head, minimum entropy."""
    lines = ["| reparam | seed | final loss | collapse (step, layer.head) | loss spike | "
             "min head entropy (step) | min layer mean | max sigma |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for o in outcomes:
        c = o["collapse"]
        where = "none" if c is None else f"step {c['step']}, {c['layer']}.{c['head']}"
        spike = "-" if c is None else ("yes" if c["loss_spike"] else "no")
        final = "diverged" if o["diverged_at"] else f"{o['final_loss']:.3f}"
        lines.append(f"| {o['reparam']} | {o['seed']} | {final} | {where} | {spike} | "
                     f"{o['min_entropy']:.2g} ({o['min_entropy_step']}) | "
                     f"{o['min_layer_mean_entropy']:.3f} | "
                     f"{o['max_sigma']:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def load_records(out: str | Path) -> dict[str, Result]:
    """`{run folder name: EntropyTrainingResult}` of an experiment folder."""
    return {p.parent.name: Result.from_json(p) for p in sorted(Path(out).glob("*/record.json"))}
