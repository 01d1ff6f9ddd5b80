"""Forward time of each token mixer relative to softmax attention, on CPU, at growing T.

A one-layer model (d_model 64, 4 heads, ReLU MLP, no positions), batch 1, no hooks, no
gradient; the median of a few runs after a warm-up. Softmax runs PyTorch SDPA (a fused,
non-materializing kernel); sigmoid and clipped run their chunked instrumented kernels
(no [T, T] tensor) at inference; gated runs SDPA then its gate; power-softmax
materializes the pattern; linear
attention's chunked form and DeltaNet's chunked form are linear in T with [chunk, chunk]
tiles, the parallel linear form is quadratic, and the recurrent forms and Mamba's
reference scan loop over T in Python.

Usage: python benchmarks/variant_speed.py [--lengths 512 2048 8192] [--write-doc docs/variants.md]
`--write-doc` replaces the table between the `variant_speed` markers of that file.
`--set mixers2` times the mixers of issue #23 (retention, GLA, Mamba-2, top-k softmax,
ProbSparse, collapsed, pool, MSSA, Mamba's parallel scan) against softmax instead, into the
`variant_speed_mixers2` markers. Retention, GLA and Mamba-2 run their chunked forms (linear
in T); top-k softmax and ProbSparse materialize the [T, T] scores (eager path); collapsed
attention and MSSA run SDPA (collapsed with d_model-wide queries and keys); the pool mixer
mixes with a fixed window; Mamba's parallel scan takes log2(T) vectorized steps, each over
the whole [T, d_inner, d_state] state (more memory traffic than the sequential loop: it
pays off on parallel hardware, not on one CPU thread; the sequential scan is timed beside
it).

`--windowed` instead measures windowed vs full attention at T=16k (`windowed_attention.py`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_seconds  # noqa: E402

from workbench import Model, ModelConfig  # noqa: E402

MIXERS = {
    "softmax (SDPA)": "softmax",
    "sigmoid": "sigmoid",
    "clipped": "clipped",
    "gated": "gated",
    "power_softmax": "power_softmax",
    "linear (chunked, 64)": {"name": "linear", "mode": "chunked"},
    "linear (parallel)": {"name": "linear", "mode": "parallel"},
    "linear (recurrent)": {"name": "linear", "mode": "recurrent"},
    "deltanet (chunked, 64)": {"name": "deltanet", "chunk": 64},
    "mamba (reference scan)": "mamba",
    "glu_mixer": "glu_mixer",
}
MIXERS2 = {
    "softmax (SDPA)": "softmax",
    "retention (chunked, 64)": "retention",
    "gla (chunked, 64)": "gla",
    "mamba2 (chunked SSD, 64)": "mamba2",
    "topk_softmax (k=8, eager)": "topk_softmax",
    "probsparse (eager)": "probsparse",
    "collapsed (W_QK, W_OV)": "collapsed",
    "mssa": "mssa",
    "pool (3)": "pool",
    "mamba (sequential scan)": "mamba",
    "mamba (parallel scan)": {"name": "mamba", "scan": "parallel"},
}
SETS = {"core": (MIXERS, "variant_speed"), "mixers2": (MIXERS2, "variant_speed_mixers2")}


def time_forward(attention, length: int) -> float:
    cfg = ModelConfig(
        d_model=64, n_layers=1, n_heads=4, d_vocab=256, n_ctx=length, position="none",
        attention=attention, seed=0,
    )  # fmt: skip
    model = Model(cfg).eval()
    tokens = torch.randint(0, 256, (1, length), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        start = time.perf_counter()
        model(tokens)  # warm-up, and a guess of how many repeats we can afford
        once = time.perf_counter() - start
        return median_seconds(lambda: model(tokens), repeats=1 if once > 2 else 3, warmup=0)


def run(lengths: list[int], mixers: dict | None = None) -> dict[str, dict[int, float]]:
    seconds: dict[str, dict[int, float]] = {}
    jobs = [(label, spec, n) for label, spec in (mixers or MIXERS).items() for n in lengths]
    for label, spec, n in tqdm(jobs, desc="variant forward times"):
        seconds.setdefault(label, {})[n] = time_forward(spec, n)
    return seconds


def table(seconds: dict[str, dict[int, float]], lengths: list[int]) -> str:
    base = seconds["softmax (SDPA)"]
    head = "| mixer | " + " | ".join(f"T={n}" for n in lengths) + " |"
    rows = [head, "|---|" + "---|" * len(lengths)]
    for label, times in seconds.items():
        cells = [f"{times[n] / base[n]:.2f}x ({times[n] * 1e3:.0f} ms)" for n in lengths]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write_doc(path: Path, text: str, marker: str = "variant_speed") -> None:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    doc = path.read_text() if path.exists() else f"{start}\n{end}\n"
    if start not in doc:
        doc += f"\n{start}\n{end}\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", doc))


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    if "--windowed" in sys.argv:  # local attention: its own options (--length, --window)
        from windowed_attention import main as windowed

        return windowed([a for a in sys.argv[1:] if a != "--windowed"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write-doc", type=Path, default=None)
    parser.add_argument("--set", choices=sorted(SETS), default="core")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mixers, marker = SETS[args.set]
    load_before = os.getloadavg()[0]
    result = table(run(args.lengths, mixers), args.lengths)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after the run"
    text = (
        f"Forward time relative to softmax attention (SDPA), one layer, d_model 64, 4 heads, "
        f"batch 1, no gradient; machine: {cpu_name()} ({machine()}; {load}; the machine is "
        f"shared, so take the ratios, not the milliseconds).\n\n{result}"
    )
    print(text)
    if args.write_doc is not None:
        write_doc(args.write_doc, text, marker)


if __name__ == "__main__":
    main()
