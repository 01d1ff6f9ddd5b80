"""`workbench programs train|decompile`: train a Transformer Program on a RASP task, write
the checkpoint, the decompiled program and its verification against the network.

Example:
    $ workbench programs train --task sort --layers 3 --heads 8 --mlps 4 --out runs/sort
    $ workbench programs decompile runs/sort --out sort_program.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from workbench.cli_args import (
    existing_dir,
    nonnegative_int,
    output_dir,
    output_file,
    positive_float,
    positive_int,
    prepare_output_dir,
)
from workbench.core.checkpoint import atomic_write
from workbench.data.rasp import DEFAULT_DYCK_SAMPLER, TASK_NAMES, make_task, paper_max_len

CAUSAL_TASKS = ("dyck1", "dyck2")


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, default=repr)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def header_text(meta: dict[str, Any], report: Any = None) -> str:
    cfg = meta["config"]
    text = (
        f"Layers {cfg['n_layers']}, categorical heads {cfg['n_cat_heads']}, numerical heads "
        f"{cfg['n_num_heads']}, categorical MLPs {cfg['n_cat_mlps']}, numerical MLPs "
        f"{cfg['n_num_mlps']} per layer; trained {meta['training']['epochs']} epochs on "
        f"{meta['training']['n_train']} examples (seed {meta['training']['seed']}).\n"
        f"Discretized network: validation accuracy {100 * meta['val_accuracy']:.2f}%, "
        f"test accuracy {100 * meta['test_accuracy']:.2f}%."
    )
    if report is not None:
        text += f"\nVerification on the test set: {report.summary()}."
    return text


def decompile_checkpoint(folder: str | Path, out: str | Path, check: bool = True) -> Path:
    """Write `out` (the program) from a checkpoint; with `check`, verify it on the task's
    test split (regenerated from the seed and size stored in the checkpoint) and write
    `<out>.verify.json` beside it."""
    from workbench.programs.decompile import write_program
    from workbench.programs.train import load_checkpoint, task_of_run
    from workbench.programs.verify import verify

    model, meta = load_checkpoint(folder)
    out = write_program(model, out, header_text(meta))
    if check and meta.get("training", {}).get("data"):
        task = task_of_run(meta)
        report = verify(model, out, task.test)
        write_program(model, out, header_text(meta, report))  # same program, results in header
        _write_json(out.with_suffix(".verify.json"), report.__dict__)
        print(report.summary())
        for case in report.disagreements[:5]:
            print("  disagreement:", case)
    return out


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from workbench.programs.model import ProgramConfig
    from workbench.programs.train import save_checkpoint, train_program

    prepare_output_dir(args.out)
    torch.set_num_threads(args.threads)
    max_len = args.max_len or paper_max_len(args.task)
    task = make_task(args.task, n_examples=args.n_examples, seed=args.seed, max_len=max_len)
    cfg = ProgramConfig.for_task(
        task,
        n_layers=args.layers,
        n_cat_heads=args.heads,
        n_num_heads=args.heads if args.num_heads is None else args.num_heads,
        n_cat_mlps=args.mlps,
        n_num_mlps=args.mlps if args.num_mlps is None else args.num_mlps,
        causal=args.task in CAUSAL_TASKS,
        num_mlp_inputs=args.num_mlp_inputs,
        mlp_hidden=args.mlp_hidden,
        attention_scores=args.attention_scores,
    )
    run = train_program(
        task,
        cfg,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lr=args.lr,
        loss_per=args.loss_per,
    )
    run.settings["data"] = {"n_examples": args.n_examples, "seed": args.seed, "max_len": max_len}
    if args.task in CAUSAL_TASKS:  # recorded so later sampler changes keep this run's data
        run.settings["data"]["dyck_sampler"] = DEFAULT_DYCK_SAMPLER
    out = save_checkpoint(run, args.out)
    print(f"{task.name}: val {100 * run.val_accuracy:.2f}%, test {100 * run.test_accuracy:.2f}% "
          f"({run.seconds:.0f} s) -> {out}")  # fmt: skip
    decompile_checkpoint(out, out / f"{task.name}_program.py")


def cmd_decompile(args: argparse.Namespace) -> None:
    prepare_output_dir(str(Path(args.out).parent))
    path = decompile_checkpoint(args.checkpoint, args.out, check=not args.no_verify)
    print(f"wrote {path}")


def add_subcommands(subparsers: Any) -> None:
    """Register `programs train` and `programs decompile` on the `workbench` parser."""
    programs = subparsers.add_parser("programs", help="Transformer Programs: train, decompile")
    sub = programs.add_subparsers(dest="programs_command", required=True)
    train = sub.add_parser("train", help="train a Transformer Program on a RASP task")
    train.add_argument("--task", required=True, choices=TASK_NAMES)
    train.add_argument("--out", type=output_dir, required=True, help="checkpoint folder")
    for flag, kind, default, text in (
        ("--layers", positive_int, 1, "layers"),
        ("--heads", nonnegative_int, 2, "categorical heads per layer"),
        ("--mlps", nonnegative_int, 1, "categorical MLPs per layer"),
        ("--epochs", positive_int, 250, "epochs"),
        ("--n-examples", positive_int, 20_000, "unique examples (10%% test, 10%% of the rest val)"),
        ("--seed", nonnegative_int, 0, "seed of data and training"),
        ("--batch-size", positive_int, 512, "batch size"),
        ("--threads", positive_int, 1, "torch threads"),
        ("--mlp-hidden", positive_int, 32, "hidden units of every MLP"),
    ):
        train.add_argument(flag, type=kind, default=default, help=text)
    train.add_argument(
        "--num-mlp-inputs",
        type=int,
        choices=(1, 2),
        default=2,
        help="numerical variables each numerical MLP reads (1 or 2)",
    )
    train.add_argument(
        "--max-len",
        type=positive_int,
        help="longest input in positions, BOS/EOS included (default: the paper's, 8; Dyck 16)",
    )
    train.add_argument(
        "--num-heads", type=nonnegative_int, help="numerical heads per layer (default --heads)"
    )
    train.add_argument(
        "--num-mlps", type=nonnegative_int, help="numerical MLPs per layer (default --mlps)"
    )
    train.add_argument(
        "--lr", type=positive_float, default=5e-2, help="Adam learning rate (paper: 5e-2)"
    )
    train.add_argument(
        "--loss-per",
        choices=("sequence", "token"),
        default="token",
        help="average the loss over all labelled tokens of a batch (default), or within each "
        "sequence, then over the batch (the paper's code; weighs short sequences more)",
    )
    train.add_argument(
        "--attention-scores",
        choices=("linear", "log"),
        default="linear",
        help="soft categorical attention while training: match probability with BOS at 0.5 "
        "(default), or log match probability with BOS at log P(no key matches)",
    )
    train.set_defaults(func=cmd_train)
    dec = sub.add_parser("decompile", help="checkpoint -> standalone Python program")
    dec.add_argument("checkpoint", type=existing_dir, help="folder written by `programs train`")
    dec.add_argument("--out", type=output_file, required=True, help="program file to write")
    dec.add_argument("--no-verify", action="store_true", help="skip the test-set verification")
    dec.set_defaults(func=cmd_decompile)
