"""`workbench sparsity-sweep`: the Lazy Neuron claims at small scale (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from workbench.cli_args import nonnegative_int, output_dir, positive_float, positive_int


def cmd_sparsity_sweep(args: argparse.Namespace) -> None:
    """ReLU models over depth x width, plus top-k vs ReLU; finished runs are skipped."""
    import torch

    from workbench.analysis.sparsity_sweep import SweepSettings, run_sweep, sweep_table

    torch.set_num_threads(args.threads)
    settings = SweepSettings(
        depths=tuple(args.depths), widths=tuple(args.widths), steps=args.steps, lr=args.lr,
        batch_size=args.batch_size, seq_len=args.seq_len, every=args.every,
        topk=args.topk or None, seed=args.seed, val_sequences=args.val_sequences,
    )  # fmt: skip
    result = run_sweep(args.out, settings, progress=not args.quiet)
    print(sweep_table(result))
    if args.figure:
        result.export(Path(args.out) / "sweep.svg", style="paper", width="double")


def add_subcommands(subparsers: Any) -> None:
    sweep = subparsers.add_parser(
        "sparsity-sweep",
        help="train small ReLU models over depth x width (and top-k vs ReLU), track sparsity",
    )
    sweep.add_argument("--out", type=output_dir, required=True, help="folder (resumes)")
    sweep.add_argument("--depths", type=positive_int, nargs="+", default=[1, 2, 4])
    sweep.add_argument("--widths", type=positive_int, nargs="+", default=[32, 64, 128])
    for flag, kind, default in (
        ("--steps", positive_int, 300),
        ("--lr", positive_float, 3e-3),
        ("--batch-size", positive_int, 16),
        ("--seq-len", positive_int, 64),
        ("--every", positive_int, 20),
        ("--topk", nonnegative_int, 16),
        ("--seed", nonnegative_int, 0),
        ("--val-sequences", positive_int, 32),
        ("--threads", positive_int, 1),
    ):
        sweep.add_argument(flag, type=kind, default=default)
    sweep.add_argument("--figure", action="store_true", help="also write DIR/sweep.svg")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    sweep.set_defaults(func=cmd_sparsity_sweep)
