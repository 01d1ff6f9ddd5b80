"""Tokens per second of `workbench collect` at 1 and 2 ranks (one thread each), same corpus.

Each configuration runs as its own `torchrun --standalone` job (a fresh process group on a
free port), so the numbers include start-up of the collection but not of Python. Prints
tokens/s per world size, the speed-up, and the reduce's share of the time (reported by the
job itself). Target: >= 1.7x with 2 ranks on 2 cores.

Usage: python benchmarks/collect_scaling.py [--sequences 96] [--seq-len 256]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine  # noqa: E402

LINE = re.compile(r"(\d+) tokens on (\d+) rank\(s\): collect ([\d.]+) s, reduce ([\d.]+) s")


def corpus(folder: Path, sequences: int, seq_len: int) -> Path:
    from workbench.data import load_corpus

    path = folder / "corpus.txt"
    path.write_text(load_corpus("val")[: sequences * (seq_len - 1)])
    return path


def run(world: int, data: Path, out: Path, seq_len: int) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={world}", "-m", "workbench", "collect", "--model", "default",
           "--data", str(data), "--stats", "attn.entropy", "mlp.nonzero_frac",
           "--seq-len", str(seq_len), "--batch-size", "8", "--every", "1000",
           "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    match = LINE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"no summary line in the output:\n{done.stdout}\n{done.stderr}")
    tokens, _, collect_s, reduce_s = match.groups()
    seconds = float(collect_s) + float(reduce_s)
    return {"tokens": int(tokens), "seconds": seconds, "reduce_s": float(reduce_s),
            "tok_s": int(tokens) / seconds}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sequences", type=int, default=96)
    p.add_argument("--seq-len", type=int, default=256)
    args = p.parse_args()
    print(f"machine: {machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        data = corpus(Path(tmp), args.sequences, args.seq_len)
        rows = {world: run(world, data, Path(tmp) / f"w{world}", args.seq_len) for world in (1, 2)}
    for world, row in rows.items():
        share = 100 * row["reduce_s"] / row["seconds"]
        print(
            f"{world} rank(s): {row['tokens']} tokens in {row['seconds']:.2f} s = "
            f"{row['tok_s']:.0f} tok/s; reduce {row['reduce_s'] * 1e3:.1f} ms ({share:.2f}%)"
        )
    print(f"speed-up with 2 ranks: {rows[2]['tok_s'] / rows[1]['tok_s']:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
