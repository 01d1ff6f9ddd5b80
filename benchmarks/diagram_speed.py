"""Circuit diagram generation for a 12-layer model (GPT-2 small shapes: d_model 768, 12
heads, d_mlp 3072), on CPU: the trace + extraction (`diagrams.compute`), SVG with every
group open and with the blocks closed, TikZ, and the widget's first layout; against one
plain forward pass at the same length (the trace is one forward pass with shape hooks).

Target (issue #17): the diagram of a 12-layer model in under 2 s on CPU.
Usage: python benchmarks/diagram_speed.py [--seq-len 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from workbench import Model, ModelConfig
from workbench.analysis.diagrams import compute


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (first-call allocations, lazy imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq-len", type=int, default=64, help="64: what compute() traces by default")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    cfg = ModelConfig(d_model=768, n_heads=12, n_layers=12, d_vocab=50257, n_ctx=1024,
                      mlp="gelu", name="gpt2-small-shapes")  # fmt: skip
    model = Model(cfg).eval()
    tokens = torch.arange(args.seq_len)[None]
    result = compute(model, seq_len=args.seq_len)
    from workbench.widgets.diagram import CircuitDiagram  # imports ipywidgets: not timed

    rows = {
        "plain forward pass": lambda: model(tokens),
        "compute (trace + extract)": lambda: compute(model, seq_len=args.seq_len),
        "to_svg, every group open": lambda: result.to_svg(),
        "to_svg, blocks closed (depth 1)": lambda: result.to_svg(depth=1),
        "to_tikz, every group open": lambda: result.to_tikz(),
        "widget (first layout)": lambda: CircuitDiagram(result),
    }
    with torch.no_grad():
        times = {name: median_seconds(fn, args.repeats) for name, fn in rows.items()}
    total = times["compute (trace + extract)"] + times["to_svg, every group open"]
    print(f"{cfg.n_layers} layers, d_model {cfg.d_model}, pos {args.seq_len}, "
          f"{torch.get_num_threads()} threads; median of {args.repeats}")  # fmt: skip
    for name, seconds in times.items():
        print(f"  {name:34s} {seconds * 1000:8.1f} ms")
    print(
        f"  compute + full SVG: {total:.3f} s ({'under' if total < 2 else 'OVER'} the 2 s target)"
    )
    print(f"  {len(list(result.root.walk()))} nodes, total {result.total_flops / 1e9:.1f} GFLOP")


if __name__ == "__main__":
    main()
