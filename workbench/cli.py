"""The `workbench` command: `info`, `demo`, `report`, `train`, `entropy-collapse`,
`programs ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def cmd_info(args: argparse.Namespace) -> None:
    """Print the registered variants and the hook names of a model."""
    import workbench.variants  # noqa: F401  (registers every variant)
    from workbench.core.registry import REGISTRIES
    from workbench.models import load_named

    for family, registry in REGISTRIES.items():
        print(f"{family}:")
        for name in registry.names():
            print(f"  {name:18s} {registry[name].paper}")
    model = load_named(args.model)
    cfg = model.cfg
    print(f"\nmodel {cfg.name}: {cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads")
    stats = model.supported_stats()
    print("statistics: " + ", ".join(f"{fam}.{s}" for fam in stats for s in sorted(stats[fam])))
    names = model.hook_names()
    shown = (
        names
        if args.all_hooks
        else [n for n in names if not n.startswith("blocks.") or n.startswith("blocks.0.")]
    )
    note = "" if args.all_hooks else ", layer 0 shown; --all-hooks for all"
    print(f"hook points ({len(names)}{note}):")
    for name in shown:
        print(f"  {name}")


def cmd_demo(args: argparse.Namespace) -> None:
    from workbench.demo import run_demo

    path = run_demo(args.out, max_tokens=args.tokens)
    print(f"wrote {path}")


def cmd_report(args: argparse.Namespace) -> None:
    from workbench.export.analysis_report import write_analysis_report
    from workbench.models import load_named

    path = write_analysis_report(args.out, model=load_named(args.model))
    print(f"wrote {path}")


def cmd_train(args: argparse.Namespace) -> None:
    from workbench.models import train_on_corpus

    train_on_corpus(args)


def cmd_entropy_collapse(args: argparse.Namespace) -> None:
    """Zhai et al.'s experiment at small scale: with and without sigmaReparam, same seeds."""
    import json

    import torch

    from workbench.analysis.entropy_collapse import ExperimentSettings, run_experiment

    torch.set_num_threads(args.threads)
    settings = ExperimentSettings(
        steps=args.steps, lr=args.lr, warmup_steps=args.warmup_steps, every=args.every,
        threshold=args.threshold, model=json.loads(args.model_overrides),
    )  # fmt: skip
    outcomes = run_experiment(args.out, seeds=args.seeds, settings=settings)
    from workbench.analysis.entropy_collapse import outcomes_table

    print(outcomes_table(outcomes))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="variants, statistics and hook names")
    info.add_argument("--model", default="default", help="default | minilm | a checkpoint folder")
    info.add_argument("--all-hooks", action="store_true")
    info.set_defaults(func=cmd_info)

    demo = sub.add_parser("demo", help="tour of the default model + every analysis -> HTML")
    demo.add_argument("--out", default="out", help="folder for report.html and figures")
    demo.add_argument("--tokens", type=int, default=64, help="length of the sample text")
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="run every registered analysis -> DIR/report.html")
    report.add_argument("--out", default="out", help="folder for report.html, results, figures")
    report.add_argument("--model", default="default", help="default | minilm | a checkpoint")
    report.set_defaults(func=cmd_report)

    train = sub.add_parser("train", help="train a causal LM on the embedded corpus")
    train.add_argument("--out", required=True, help="checkpoint folder (resumes if present)")
    train.add_argument("--config", help="ModelConfig as JSON file; default: the default model's")
    for flag, kind, default in (
        ("--steps", int, 2000),
        ("--batch-size", int, 32),
        ("--seq-len", int, 128),
        ("--lr", float, 3e-3),
        ("--seed", int, 0),
    ):
        train.add_argument(flag, type=kind, default=default)
    train.set_defaults(func=cmd_train)

    collapse = sub.add_parser(
        "entropy-collapse",
        help="train a tiny model at a high lr with/without sigmaReparam, track attention entropy",
    )
    collapse.add_argument("--out", required=True, help="folder; finished runs are skipped")
    collapse.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    for flag, kind, default in (
        ("--steps", int, 300),
        ("--lr", float, 3e-2),
        ("--warmup-steps", int, 0),
        ("--every", int, 10),
        ("--threshold", float, 0.1),
        ("--threads", int, 1),
    ):
        collapse.add_argument(flag, type=kind, default=default)
    example = '{"norm_placement": "post"}'
    collapse.add_argument("--model-overrides", default="{}",
                          help=f"JSON ModelConfig fields, e.g. '{example}'")  # fmt: skip
    collapse.set_defaults(func=cmd_entropy_collapse)

    try:
        from workbench.programs.cli import add_subcommands
    except ImportError:  # the Transformer Programs package is optional at import time
        add_subcommands = None
    if add_subcommands is not None:
        add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, NotImplementedError) as err:
        print(f"workbench: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
