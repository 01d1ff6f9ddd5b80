"""`workbench collect`: corpus statistics in one process or under `torchrun`.

Example:
    $ workbench collect --model default --data val --stats attn.entropy --out runs/s
    $ torchrun --standalone --nproc-per-node 2 -m workbench collect ... --out runs/s
    $ workbench collect --merge runs/s      # offline reduce of the partial files
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from workbench.cli_args import nonnegative_float, output_dir, positive_int, prepare_output_dir


def cmd_collect(args: argparse.Namespace) -> None:
    from workbench.dist import collect_distributed, init_distributed, merge_partials
    from workbench.dist.collect import SUMMARY_FILE

    if args.merge:
        summary = merge_partials(args.merge)
        path = summary.save(Path(args.merge) / SUMMARY_FILE)
        print(f"merged {summary.tokens} tokens -> {path}")
        return
    missing = [flag for flag in ("model", "data", "stats", "out") if not getattr(args, flag)]
    if missing:
        raise ValueError(f"collect needs --{', --'.join(missing)} (or --merge DIR)")
    out = prepare_output_dir(args.out)
    rank, world = init_distributed()
    model = load_model(args.model)
    from workbench.dist import load_token_corpus

    tokens, mask = load_token_corpus(model, args.data, args.seq_len)
    summary = collect_distributed(
        model, tokens, mask, args.stats, out, batch_size=args.batch_size, every=args.every,
        mlp_threshold=args.mlp_threshold, progress=rank == 0 or world == 1,
    )  # fmt: skip
    if rank == 0:
        timing = summary.meta["timing"]
        print(f"{summary.tokens} tokens on {world} rank(s): collect {timing['collect_s']:.1f} s, "
              f"reduce {timing['reduce_s']:.3f} s -> {out / SUMMARY_FILE}")  # fmt: skip


def load_model(name: str):
    from workbench.models import load_named

    model = load_named(name)
    if model.tokenizer is None:
        raise ValueError(f"model {name!r} has no tokenizer: collect needs one to read text")
    return model.eval()


def add_subcommands(subparsers: Any) -> None:
    p = subparsers.add_parser("collect", help="statistics over a corpus (one process or torchrun)")
    p.add_argument("--model", help="default | minilm | a checkpoint folder")
    p.add_argument("--data", help="a text file, a folder of .txt files, or train | val")
    p.add_argument("--stats", nargs="+", help="e.g. attn.entropy mlp.nonzero_frac")
    p.add_argument("--out", type=output_dir, help="folder for partials and the summary (resumes)")
    p.add_argument("--merge", metavar="DIR", help="merge the partial summaries in DIR")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--seq-len", type=positive_int, default=256, help="tokens per sequence + BOS")
    p.add_argument("--every", type=positive_int, default=10, help="a partial every N batches")
    p.add_argument("--mlp-threshold", type=nonnegative_float, help="for GELU/GLU MLP statistics")
    p.set_defaults(func=cmd_collect)
