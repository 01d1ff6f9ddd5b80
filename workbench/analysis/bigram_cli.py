"""`workbench bigram`: find a model's bigram subnetwork with periodic checkpoints, resume.

The run folder holds `checkpoints/step_<8 digits>/` (scores and AdamW state as safetensors,
step, beta, settings and history as JSON; the project's checkpoint format with manifest and
hashes), `latest.json`, and at the end `masks.safetensors` (the binary masks) and
`result.json` (a `BigramResult`). Running the same command again continues from the latest
checkpoint; Ctrl-C writes one before it exits. Another model, data or setting is refused.

Example:
    $ workbench bigram --out runs/bigram --lam 1 --lr 0.05 --max-steps 3000
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from workbench.cli_args import (
    nonnegative_float,
    nonnegative_int,
    output_dir,
    positive_float,
    positive_int,
)

CHECKPOINTS = "checkpoints"


def run_identity(model: Any, tokens: Tensor) -> dict[str, Any]:
    from workbench.analysis.fingerprint import fingerprint_tokens

    cfg = model.cfg
    config_hash = cfg.config_hash() if hasattr(cfg, "config_hash") else None
    return {"model": getattr(cfg, "name", None), "config_hash": config_hash,
            "data": fingerprint_tokens(tokens)}  # fmt: skip


def resume_if_saved(trainer: Any, root: Path, identity: dict[str, Any]) -> None:
    from workbench.core.checkpoint import read_checkpoint
    from workbench.train.state import latest_checkpoint

    folder = latest_checkpoint(root)
    if folder is None:
        return
    checkpoint = read_checkpoint(folder)
    saved = checkpoint.json("run.json")
    if saved != identity:
        diff = {k: f"{saved.get(k)} -> {v}" for k, v in identity.items() if saved.get(k) != v}
        raise ValueError(f"{folder} belongs to another run ({diff}); use a new --out folder")
    trainer.load_state(checkpoint.files, source=str(folder))


def run_search(
    model: Any,
    out: str | Path,
    tokens: Tensor,
    settings: Any,
    checkpoint_every: int = 100,
    keep: int = 2,
    progress: bool = True,
    on_step: Callable[[Any], None] | None = None,
) -> Any:
    """The `MaskTrainer` after a resumable search in `out` (continues a saved run)."""
    from workbench.analysis.bigram_masks import MaskTrainer
    from workbench.analysis.bigram_targets import BigramTable
    from workbench.train.state import prune_checkpoints, write_checkpoint_dir

    root = Path(out) / CHECKPOINTS
    table = BigramTable.from_tokens(tokens, model.cfg.d_vocab)
    trainer = MaskTrainer(model, table, tokens, settings)
    identity = run_identity(model, tokens)
    resume_if_saved(trainer, root, identity)

    def save() -> None:
        write_checkpoint_dir(root, trainer.step, {**trainer.state_files(), "run.json": identity})
        prune_checkpoints(root, trainer.step, keep)

    def after_step(t: Any) -> None:
        if t.step % checkpoint_every == 0:
            save()
        if on_step is not None:
            on_step(t)

    try:
        trainer.run(progress=progress, on_step=after_step)
    except KeyboardInterrupt:
        save()
        raise
    save()
    return trainer


def cmd_bigram(args: argparse.Namespace) -> None:
    import torch

    from workbench.analysis.bigram import default_windows, measure
    from workbench.analysis.bigram_masks import MaskSettings, check_causal, maskable_weights
    from workbench.cli_args import prepare_output_dir
    from workbench.core.checkpoint import save_state
    from workbench.models import load_named

    torch.set_num_threads(args.threads)
    model = load_named(args.model)
    check_causal(model)  # before any data or folder work
    maskable_weights(model)
    settings = MaskSettings(
        lam=args.lam, lr=args.lr, batch_size=args.batch_size, max_steps=args.max_steps,
        beta_growth=args.beta_growth, seed=args.seed,
    )  # fmt: skip
    out = prepare_output_dir(args.out)
    tokens = default_windows(model, "train", args.train_windows, args.seq_len)
    held_out = default_windows(model, "val", args.held_out_windows, args.seq_len)
    trainer = run_search(model, out, tokens, settings, checkpoint_every=args.checkpoint_every)
    save_state({n: m.cpu() for n, m in trainer.binary_masks().items()}, out / "masks.safetensors")
    result = measure(trainer, held_out, data_description="embedded corpus: train / val windows")
    result.to_json(out / "result.json")
    print(f"steps {result.steps} (converged: {result.converged}); kept "
          f"{100 * result.kept_total:.3f}% of block weights; r = {result.pearson_r:.3f}; "
          f"wrote {out / 'result.json'}")  # fmt: skip


def add_subcommands(subparsers: Any) -> None:
    bigram = subparsers.add_parser(
        "bigram", help="find a causal model's bigram subnetwork (Chang & Bergen 2025), resumable"
    )
    bigram.add_argument("--out", type=output_dir, required=True, help="run folder (resumes)")
    bigram.add_argument("--model", default="default", help="default | a checkpoint folder")
    for flag, kind, default in (
        ("--lam", nonnegative_float, 10.0),
        ("--lr", positive_float, 5e-5),
        ("--batch-size", positive_int, 32),
        ("--max-steps", positive_int, 15_000),
        ("--beta-growth", positive_float, 1.001),
        ("--seed", nonnegative_int, 0),
        ("--checkpoint-every", positive_int, 100),
        ("--train-windows", positive_int, 256),
        ("--held-out-windows", positive_int, 32),
        ("--seq-len", positive_int, 64),
        ("--threads", positive_int, 1),
    ):
        bigram.add_argument(flag, type=kind, default=default)
    bigram.set_defaults(func=cmd_bigram)
