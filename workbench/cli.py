"""The `workbench` command: `info`, `demo`, `report`, `train`, `entropy-collapse`,
`sparsity-sweep`, `bigram`, `programs ...`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from workbench.cli_args import (
    OneLineErrorParser,
    existing_file,
    nonnegative_float,
    nonnegative_int,
    output_dir,
    positive_float,
    positive_int,
    prepare_output_dir,
    read_json_file,
    report_error,
)

# Errors a user can cause with arguments or files (bad values, missing or unreadable paths).
# Anything else is a bug in workbench and keeps its traceback.
USER_ERRORS = (ValueError, OSError, NotImplementedError)


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
    print_layers(model)
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


def print_layers(model) -> None:
    """Each layer's variants (one line when all layers agree) and, for a hybrid, the
    statistics that only some layers give."""
    cfg = model.cfg
    rows = [cfg.layer_variants(layer) for layer in range(cfg.n_layers)]
    if all(row == rows[0] for row in rows):
        print("layers: all " + " ".join(f"{k}={v}" for k, v in rows[0].items()))
        return
    per_layer = model.layer_stats()
    common = model.supported_stats()
    for layer, row in enumerate(rows):
        only = sorted(f"{f}.{s}" for f in per_layer[layer] for s in per_layer[layer][f] - common[f])
        extra = f"  (+ {', '.join(only)})" if only else ""
        print(f"layer {layer}: " + " ".join(f"{k}={v}" for k, v in row.items()) + extra)


def cmd_demo(args: argparse.Namespace) -> None:
    from workbench.core.config import ModelConfig
    from workbench.demo import run_demo
    from workbench.models import default_model_dir

    meta = read_json_file(default_model_dir() / "config.json", "default model config")
    n_ctx = ModelConfig.from_dict(meta["config"]).n_ctx
    if args.tokens > n_ctx:
        raise ValueError(f"--tokens {args.tokens} exceeds the default model's n_ctx ({n_ctx})")
    prepare_output_dir(args.out)
    path = run_demo(args.out, max_tokens=args.tokens)
    print(f"wrote {path}")


def cmd_report(args: argparse.Namespace) -> None:
    from workbench.export.analysis_report import write_analysis_report
    from workbench.models import load_named

    model = load_named(args.model)
    path = write_analysis_report(args.out, model=model, mlp_threshold=args.mlp_threshold)
    print(f"wrote {path}")


def cmd_train(args: argparse.Namespace) -> None:
    from workbench.core.config import ModelConfig
    from workbench.core.schedule import LayerSchedule
    from workbench.models import DEFAULT_CONFIG, train_on_corpus

    # Everything that can be wrong with the arguments is found before the first step.
    if args.config:
        cfg = ModelConfig.from_dict(read_json_file(args.config, "model config"))
    else:
        cfg = ModelConfig(**DEFAULT_CONFIG)
    # None: positions of any length (a per-layer position list takes relative schemes only)
    scheduled = isinstance(cfg.position, LayerSchedule)
    max_len = None if scheduled else cfg.position.build(cfg).max_len
    if max_len is not None and args.seq_len > max_len:
        raise ValueError(f"--seq-len {args.seq_len} exceeds the model's n_ctx ({max_len})")
    prepare_output_dir(args.out)
    train_on_corpus(args)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="workbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="variants, statistics and hook names")
    info.add_argument(
        "--model",
        default="default",
        help="default | minilm | a workbench or Hugging Face checkpoint folder",
    )
    info.add_argument("--all-hooks", action="store_true")
    info.set_defaults(func=cmd_info)

    demo = sub.add_parser("demo", help="tour of the default model + every analysis -> HTML")
    demo.add_argument(
        "--out", type=output_dir, default="out", help="folder for report.html and figures"
    )
    demo.add_argument("--tokens", type=positive_int, default=64, help="length of the sample text")
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="run every registered analysis -> DIR/report.html")
    report.add_argument(
        "--out", type=output_dir, default="out", help="folder for report.html, results, figures"
    )
    report.add_argument("--model", default="default", help="default | minilm | a checkpoint")
    report.add_argument(
        "--mlp-threshold", type=nonnegative_float, default=None,
        help="|activation| above which a neuron fires, for MLPs without exact zeros (GELU, "
        "GLU); without it their MLP statistics are not computed",
    )  # fmt: skip
    report.set_defaults(func=cmd_report)

    train = sub.add_parser("train", help="train a causal LM on the embedded corpus")
    train.add_argument(
        "--out", type=output_dir, required=True, help="checkpoint folder (resumes if present)"
    )
    train.add_argument(
        "--config", type=existing_file, help="ModelConfig as JSON file; default: the default's"
    )
    for flag, kind, default in (
        ("--steps", positive_int, 2000),
        ("--batch-size", positive_int, 32),
        ("--seq-len", positive_int, 128),
        ("--lr", positive_float, 3e-3),
        ("--seed", nonnegative_int, 0),
    ):
        train.add_argument(flag, type=kind, default=default)
    train.set_defaults(func=cmd_train)

    from workbench.dist.cli import add_subcommands as add_collect

    add_collect(sub)
    from workbench.analysis.entropy_cli import add_subcommands as add_entropy

    add_entropy(sub)
    from workbench.analysis.sparsity_cli import add_subcommands as add_sparsity

    add_sparsity(sub)
    from workbench.analysis.bigram_cli import add_subcommands as add_bigram

    add_bigram(sub)
    try:
        from workbench.programs.cli import add_subcommands
    except ImportError:  # the Transformer Programs package is optional at import time
        add_subcommands = None
    if add_subcommands is not None:
        add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; a user error is one line on stderr and exit code 2 (set
    `WORKBENCH_DEBUG=1` for the traceback)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2, already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        args.func(args)
    except USER_ERRORS as err:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        return report_error(err)
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
