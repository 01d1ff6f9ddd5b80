"""The Lazy Neuron claims at small scale: ReLU models over a depth x width grid trained on the
project corpus (sparsity vs size, and vs training step), plus a top-k ReLU model against a
plain ReLU model of the same size (loss and sparsity).

Each run writes `DIR/<name>/record.json` (its `SparsityTrainingResult`: the probe curve),
`final.json` (a `SparsityResult` on validation windows) and `outcome.json`; checkpoints in
`DIR/<name>/checkpoints` let an interrupted run resume and finished runs are skipped. Runs are
named `relu-L<depth>-d<width>` and `topk<k>-L<depth>-d<width>`; the top-k run has the size of
the largest grid point.

Example:
    >>> result = run_sweep("runs/sparsity", SweepSettings(depths=(1, 2), widths=(32, 64)))
    >>> result.nonzero_frac                      # [run], mean over layers, validation tokens
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.analysis.sparsity import compute as sparsity_of
from workbench.analysis.sparsity_training import SparsityTracker


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    depths: tuple[int, ...] = (1, 2, 4)
    widths: tuple[int, ...] = (32, 64, 128)
    steps: int = 300
    lr: float = 3e-3
    batch_size: int = 16
    seq_len: int = 64
    every: int = 20
    topk: int | None = 16  # k of the top-k ReLU run; None: no top-k run
    seed: int = 0
    val_sequences: int = 32


@dataclasses.dataclass(frozen=True)
class RunSpec:
    depth: int
    width: int
    mlp: str  # "relu" or "topk_relu"
    k: int | None = None

    @property
    def name(self) -> str:
        kind = "relu" if self.k is None else f"topk{self.k}"
        return f"{kind}-L{self.depth}-d{self.width}"


def grid(settings: SweepSettings) -> list[RunSpec]:
    runs = [RunSpec(d, w, "relu") for d in settings.depths for w in settings.widths]
    if settings.topk is not None:
        runs.append(RunSpec(max(settings.depths), max(settings.widths), "topk_relu", settings.topk))
    return runs


def val_windows(n: int, seq_len: int) -> Int[Tensor, "n pos"]:
    """`n` windows of BOS + `seq_len - 1` byte tokens of the validation corpus."""
    from workbench.data import load_corpus
    from workbench.data.tokenizer import ByteTokenizer

    tokenizer = ByteTokenizer()
    ids = tokenizer.to_tokens(load_corpus("val")[: 2 * n * seq_len], prepend_bos=False)[0]
    if len(ids) < n * (seq_len - 1):
        raise ValueError(f"the validation corpus is too short for {n} x {seq_len} tokens")
    body = ids[: n * (seq_len - 1)].view(n, seq_len - 1)
    return torch.cat([torch.full((n, 1), tokenizer.bos_id), body], dim=1)


def build(spec: RunSpec, settings: SweepSettings) -> Any:
    from workbench.core.config import ModelConfig
    from workbench.core.model import Model
    from workbench.data.tokenizer import ByteTokenizer

    mlp = "relu" if spec.k is None else {"name": "topk_relu", "k": spec.k}
    cfg = ModelConfig(d_model=spec.width, n_layers=spec.depth, n_heads=max(1, spec.width // 32),
                      d_mlp=4 * spec.width, n_ctx=settings.seq_len, mlp=mlp,
                      d_vocab=ByteTokenizer.vocab_size, seed=settings.seed,
                      name=f"sweep-{spec.name}")  # fmt: skip
    return Model(cfg)


def run_one(out: Path, spec: RunSpec, settings: SweepSettings, progress: bool = True) -> dict:
    """Train one grid point (resuming from its checkpoints); write record, final, outcome."""
    from workbench.train import TrainConfig, train

    folder = out / spec.name
    if (folder / "outcome.json").exists():
        return json.loads((folder / "outcome.json").read_text())
    model = build(spec, settings)
    train_cfg = TrainConfig(
        steps=settings.steps, batch_size=settings.batch_size, seq_len=settings.seq_len,
        lr=settings.lr, seed=settings.seed, eval_every=0,
        checkpoint_every=max(1, settings.steps // 4), checkpoint_dir=str(folder / "checkpoints"),
    )  # fmt: skip
    tracker = SparsityTracker(val_windows(4, settings.seq_len), every=settings.every)
    trained = train(model, None, train_cfg, callbacks=[tracker], progress=progress)
    tracker.result().to_json(folder / "record.json")
    val = val_windows(settings.val_sequences, settings.seq_len)
    final = sparsity_of(model.eval(), val, progress=False)
    final.to_json(folder / "final.json")
    with torch.no_grad():
        val_loss = float(model(val, return_type="loss"))
    outcome = {
        "name": spec.name, "depth": spec.depth, "width": spec.width, "mlp": spec.mlp,
        "k": spec.k, "d_mlp": 4 * spec.width,
        "params": sum(p.numel() for p in model.parameters()),
        "train_loss": float(sum(trained.losses[-10:]) / len(trained.losses[-10:])),
        "val_loss": val_loss, "nonzero_frac": final.nonzero_frac.tolist(),
        "mean_nonzero_frac": float(final.nonzero_frac.double().mean()),
        "dead_frac": (final.n_dead.double() / final.d_mlp).tolist(),
        "settings": dataclasses.asdict(settings),
    }  # fmt: skip
    (folder / "outcome.json").write_text(json.dumps(outcome, indent=1))
    return outcome


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SparsitySweepResult(Result):
    """One entry per run (`names`); `curves[run, record]` = probe firing fraction (mean over
    layers) at `steps[record]`; `nonzero_frac` and `val_loss` on validation windows."""

    names: list[str]
    depth: Int[Tensor, "run"]
    width: Int[Tensor, "run"]
    k: Int[Tensor, "run"]  # 0: plain ReLU
    params: Int[Tensor, "run"]
    val_loss: Float[Tensor, "run"]
    train_loss: Float[Tensor, "run"]
    nonzero_frac: Float[Tensor, "run"]
    steps: Int[Tensor, "record"]
    curves: Float[Tensor, "run record"]

    metric_label = "nonzero fraction (|a| > 0)"  # ReLU-family runs only: exact zeros


def load_sweep(out: str | Path, settings: SweepSettings) -> SparsitySweepResult:
    """The finished runs of `settings`' grid in `out` as one result."""
    out = Path(out)
    outcomes = [json.loads((out / s.name / "outcome.json").read_text()) for s in grid(settings)]
    records = [Result.from_json(out / o["name"] / "record.json") for o in outcomes]
    steps = records[0].steps
    if any(not torch.equal(r.steps, steps) for r in records):
        raise ValueError(f"the runs in {out} recorded different steps: mixed settings?")
    meta = ResultMetadata(
        model_name="sparsity sweep",
        config_hash="-",
        options=dataclasses.asdict(settings),
        data_description="trained on the project corpus; final sparsity on validation windows",
    )

    def column(key: str, dtype: torch.dtype) -> Tensor:
        return torch.tensor([o[key] or 0 for o in outcomes], dtype=dtype)

    return SparsitySweepResult(
        names=[o["name"] for o in outcomes], depth=column("depth", torch.long),
        width=column("width", torch.long), k=column("k", torch.long),
        params=column("params", torch.long), val_loss=column("val_loss", torch.float32),
        train_loss=column("train_loss", torch.float32),
        nonzero_frac=column("mean_nonzero_frac", torch.float32), steps=steps,
        curves=torch.stack([r.nonzero_frac.mean(1) for r in records]), metadata=meta,
    )  # fmt: skip


def run_sweep(
    out: str | Path, settings: SweepSettings | None = None, progress: bool = True
) -> SparsitySweepResult:
    """Every grid point (finished ones skipped), then the table in `DIR/sweep.md`."""
    settings = settings or SweepSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = grid(settings)
    for spec in tqdm(runs, desc="sparsity sweep", unit="run", disable=not progress):
        run_one(out, spec, settings, progress=progress)
    result = load_sweep(out, settings)
    result.to_json(out / "sweep.json")
    (out / "sweep.md").write_text(sweep_table(result))
    return result


def sweep_table(result: SparsitySweepResult) -> str:
    """Markdown: per run its size, losses and validation nonzero fraction."""
    lines = ["| run | depth | width | d_mlp | params | train loss | val loss | nonzero % |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for i, name in enumerate(result.names):
        lines.append(f"| {name} | {int(result.depth[i])} | {int(result.width[i])} | "
                     f"{4 * int(result.width[i])} | {int(result.params[i]):,} | "
                     f"{float(result.train_loss[i]):.3f} | {float(result.val_loss[i]):.3f} | "
                     f"{100 * float(result.nonzero_frac[i]):.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
