"""Attention statistics kernels on CPU: chunked path vs the materializing reference.

For each kind and length T: the wall time (median of `--repeats`) and the peak resident
memory of one `attention_forward` call with all the kind's statistics, batch 1, 8 heads,
d_head 64, fp32, causal, one thread. Every (kind, T, backend) runs in a fresh subprocess so
that memory freed by one measurement cannot hide the next one's peak. Also prints the
largest single tensor the call allocates (probe: `TorchDispatchMode`), which for the
reference is the [B, H, T, T] pattern and for the chunked path a [B, H, chunk, chunk] tile.

Usage: python benchmarks/attention_stats_kernels.py [--lengths 1024 2048 4096]
       [--kinds softmax sigmoid clipped] [--chunk 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine, median_seconds, peak_memory_mib  # noqa: E402

HEADS, D_HEAD = 8, 64


def inputs(kind: str, t: int):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, t, D_HEAD, generator=g) for _ in range(3))
    return q, k, v


def largest_tensor_mib(call) -> float:
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class Probe(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for leaf in tree_leaves(out):
                if isinstance(leaf, torch.Tensor):
                    Probe.largest = max(Probe.largest, leaf.untyped_storage().nbytes())
            return out

    with Probe():
        call()
    return Probe.largest / 2**20


def measure_one(kind: str, t: int, backend: str, chunk: int, repeats: int) -> dict:
    """Runs inside the subprocess."""
    from workbench.kernels.attention import KINDS, attention_forward

    torch.set_num_threads(1)
    q, k, v = inputs(kind, t)
    stats = KINDS[kind].statistics

    def call():
        return attention_forward(
            q, k, v, kind=kind, causal=True, stats=stats, backend=backend, chunk=chunk
        )

    memory = peak_memory_mib(call)  # first call: nothing cached by the allocator yet
    seconds = median_seconds(call, repeats=repeats, warmup=0)
    return {"ms": seconds * 1e3, "peak_mib": memory, "largest_mib": largest_tensor_mib(call)}


def run_subprocess(kind: str, t: int, backend: str, args) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, str(t), backend]
    cmd += ["--chunk", str(args.chunk), "--repeats", str(args.repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    p.add_argument("--kinds", nargs="+", default=["softmax", "sigmoid", "clipped"])
    p.add_argument("--chunk", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--one", nargs=3, metavar=("KIND", "T", "BACKEND"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        kind, t, backend = args.one
        print(json.dumps(measure_one(kind, int(t), backend, args.chunk, args.repeats)))
        return
    from tqdm.auto import tqdm

    torch.set_num_threads(1)  # as in each measurement, so machine() reports it
    print(f"# {machine()}; B=1 H={HEADS} d={D_HEAD} fp32 causal")
    print("| kind | T | reference ms | chunked ms | speed-up | reference MiB | chunked MiB "
          "| largest tensor ref / chunked MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    jobs = [(kind, t) for kind in args.kinds for t in args.lengths]
    for kind, t in tqdm(jobs, desc="kernels", leave=False):
        ref = run_subprocess(kind, t, "reference", args)
        got = run_subprocess(kind, t, "chunked", args)
        tqdm.write(
            f"| {kind} | {t} | {ref['ms']:.0f} | {got['ms']:.0f} | {ref['ms'] / got['ms']:.1f}x "
            f"| {ref['peak_mib']:.0f} | {got['peak_mib']:.0f} "
            f"| {ref['largest_mib']:.0f} / {got['largest_mib']:.1f} |"
        )


if __name__ == "__main__":
    main()
