"""Windowed (local) vs full causal softmax attention at long context, on CPU.

One attention call (batch 1, 4 heads, d_head 16, fp32, one thread): the chunked kernel
with and without a sliding window, with and without the entropy statistic, and PyTorch
SDPA (causal flash path; and with the window as an explicit [T, T] boolean mask, which
is what SDPA needs for a window). Time is one measured call (the median of 3 for calls
under 2 s); memory is the peak resident memory above the inputs during the call.

Usage: python benchmarks/windowed_attention.py [--length 16384] [--window 512]
(also `python benchmarks/variant_speed.py --windowed`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_seconds, peak_memory_mib  # noqa: E402
from workbench.kernels.attention import SoftmaxKernel  # noqa: E402
from workbench.kernels.attention.kind import AttentionCall  # noqa: E402
from workbench.kernels.attention.local import LocalMask  # noqa: E402
from workbench.kernels.attention.scores import visible_mask  # noqa: E402


def cases(q, k, v, window: int) -> dict[str, object]:
    kernel, local = SoftmaxKernel(), LocalMask(window=window)
    n = q.shape[2]

    def chunked(local_mask, stats=()):
        call = AttentionCall(local=local_mask, stats=stats)
        return lambda: kernel.forward(q, k, v, call, backend="chunked")

    def sdpa_window():
        mask = visible_mask(n, n, True, q.device, local=local)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    return {
        "chunked kernel, full causal": chunked(None),
        f"chunked kernel, window {window}": chunked(local),
        "chunked kernel, full causal + entropy": chunked(None, ("entropy",)),
        f"chunked kernel, window {window} + entropy": chunked(local, ("entropy",)),
        "SDPA, full causal (is_causal)": lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=True
        ),
        f"SDPA, window {window} as a [T, T] bool mask": sdpa_window,
    }


def measure(length: int, window: int) -> list[tuple[str, float, float]]:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 4, length, 16, generator=g) for _ in range(3))
    rows = []
    for label, fn in tqdm(cases(q, k, v, window).items(), desc="windowed attention"):
        start = time.perf_counter()
        memory = peak_memory_mib(fn)  # the first call: also a guess of the time
        once = time.perf_counter() - start
        seconds = once if once > 2 else median_seconds(fn, repeats=3, warmup=0)
        rows.append((label, seconds, memory))
    return rows


def table(rows: list[tuple[str, float, float]]) -> str:
    base = rows[0][1]
    out = ["| call | time | vs full chunked | peak memory |", "|---|---|---|---|"]
    for label, seconds, memory in rows:
        out.append(f"| {label} | {seconds:.2f} s | {seconds / base:.2f}x | {memory:.0f} MiB |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=16384)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = measure(args.length, args.window)
    print(f"T={args.length}, window {args.window}, batch 1, 4 heads, d_head 16, fp32; "
          f"{machine()}\n\n{table(rows)}")  # fmt: skip


if __name__ == "__main__":
    main()
