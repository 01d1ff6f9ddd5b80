"""`workbench entropy-collapse`: Zhai et al.'s experiment at small scale (resumable)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workbench.cli_args import nonnegative_int, output_dir, positive_float, positive_int


def cmd_entropy_collapse(args: argparse.Namespace) -> None:
    """With and without sigmaReparam, same seeds; finished runs are skipped."""
    import torch

    from workbench.analysis.entropy_collapse import (
        ExperimentSettings,
        outcomes_table,
        run_experiment,
    )

    try:
        overrides = json.loads(args.model_overrides)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-overrides is not valid JSON ({err})") from err
    if not isinstance(overrides, dict):
        raise ValueError("--model-overrides must be a JSON object of ModelConfig fields")
    torch.set_num_threads(args.threads)
    settings = ExperimentSettings(
        steps=args.steps, lr=args.lr, warmup_steps=args.warmup_steps, every=args.every,
        threshold=args.threshold, model=overrides,
    )  # fmt: skip
    print(outcomes_table(run_experiment(args.out, seeds=args.seeds, settings=settings)))


def add_subcommands(subparsers: Any) -> None:
    collapse = subparsers.add_parser(
        "entropy-collapse",
        help="train a tiny model at a high lr with/without sigmaReparam, track attention entropy",
    )
    collapse.add_argument("--out", type=output_dir, required=True, help="folder (resumes)")
    collapse.add_argument("--seeds", type=nonnegative_int, nargs="+", default=[0, 1, 2])
    for flag, kind, default in (
        ("--steps", positive_int, 300),
        ("--lr", positive_float, 3e-2),
        ("--warmup-steps", nonnegative_int, 0),
        ("--every", positive_int, 10),
        ("--threshold", positive_float, 0.1),
        ("--threads", positive_int, 1),
    ):
        collapse.add_argument(flag, type=kind, default=default)
    example = '{"norm_placement": "post"}'
    collapse.add_argument("--model-overrides", default="{}",
                          help=f"JSON ModelConfig fields, e.g. '{example}'")  # fmt: skip
    collapse.set_defaults(func=cmd_entropy_collapse)
