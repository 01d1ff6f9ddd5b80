"""`collect_stats` vs a plain forward on the same batches, and its memory as T grows.

1. Time: `collect_stats(model, tokens, ["attn.entropy", "mlp.nonzero_frac"])` against
   `model(tokens)` (SDPA, no statistics) over the same batches at T = 1024. Target <= 1.3x.
2. Memory: peak RSS of `collect_stats` on one sequence at T = 1k, 4k, 16k (each in a fresh
   subprocess). It must grow linearly with T, not quadratically; a materialized [T, T]
   pattern per head at 16k would be 1 GiB per head.

Models: "small" (4 layers, 8 heads, d_model 256, d_mlp 1024) and "gpt2-small dims" (2
layers of GPT-2 small's width: 12 heads of 64, d_model 768, d_mlp 3072; the ratio does not
depend on the depth); rotary positions (any length), ReLU MLP. One thread.

Usage: python benchmarks/collect_stats.py [--batches 4] [--lengths 1024 4096 16384]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine, paired_ratio, peak_memory_mib  # noqa: E402

NAMES = ["attn.entropy", "mlp.nonzero_frac"]


SIZES = {
    "small": dict(d_model=256, n_layers=4, n_heads=8, d_mlp=1024),
    "gpt2-small dims": dict(d_model=768, n_layers=2, n_heads=12, d_mlp=3072),
}


def build(size: str = "small"):
    from workbench import Model, ModelConfig

    cfg = ModelConfig(**SIZES[size], d_vocab=1000, n_ctx=32768, position="rotary", seed=0)
    return Model(cfg).eval()


def time_ratio(batches: int, seq: int, batch_size: int, size: str) -> dict:
    import workbench as wb

    model = build(size)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 1000, (batches * batch_size, seq), generator=gen)

    def plain():
        with torch.no_grad():
            for i in range(0, len(tokens), batch_size):
                model(tokens[i : i + batch_size])

    def collect():
        return wb.collect_stats(model, tokens, NAMES, batch_size=batch_size, progress=False)

    t_collect, t_plain, ratio = paired_ratio(collect, plain, repeats=5)
    return {"T": seq, "tokens": tokens.numel(), "forward_s": t_plain, "collect_s": t_collect,
            "ratio": ratio}  # fmt: skip


def memory_one(seq: int) -> dict:
    """Runs in a subprocess: peak memory of collect_stats on one sequence of length seq."""
    import workbench as wb

    torch.set_num_threads(1)
    model = build()
    tokens = torch.randint(0, 1000, (1, seq), generator=torch.Generator().manual_seed(0))
    mib = peak_memory_mib(lambda: wb.collect_stats(model, tokens, NAMES, progress=False))
    return {"T": seq, "peak_mib": mib}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # subprocess entry
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.one:
        print(json.dumps(memory_one(args.one)))
        return
    print(f"machine: {machine()}")
    for size in SIZES:
        timing = time_ratio(args.batches, 1024, args.batch_size, size)
        print(
            f"{size}: T=1024, {timing['tokens']} tokens: forward {timing['forward_s']:.2f} s, "
            f"collect_stats {timing['collect_s']:.2f} s, ratio {timing['ratio']:.2f}x "
            "(median of 5 alternating pairs; target <= 1.3x)"
        )
    rows = []
    for seq in args.lengths:
        out = subprocess.run([sys.executable, __file__, "--one", str(seq)], capture_output=True,
                             text=True, check=True)  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"T={seq:6d}: peak {rows[-1]['peak_mib']:.0f} MiB")
    first = rows[0]
    for row in rows[1:]:
        growth = row["peak_mib"] / max(first["peak_mib"], 1e-9)
        print(f"  T x{row['T'] // first['T']}: memory x{growth:.1f} (quadratic would be "
              f"x{(row['T'] // first['T']) ** 2})")  # fmt: skip


if __name__ == "__main__":
    main()
