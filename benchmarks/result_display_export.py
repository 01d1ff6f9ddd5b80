"""Time of a result's notebook display (live and static) and of exporting 10 figures,
one `export_figure` call each vs one `export_figures` batch (one Chromium session).

Usage: python benchmarks/result_display_export.py [--figures 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import plotly.graph_objects as go
import torch
from torch import Tensor

import workbench
from workbench.analysis import Result, ResultMetadata
from workbench.export import export_figure, export_figures, figure
from workbench.widgets import Heatmap, view


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class BenchScores(Result):
    scores: Tensor


@view.register(BenchScores)
def _view(result: BenchScores) -> Heatmap:
    return Heatmap(result.scores, title="scores")


@figure.register(BenchScores)
def _figure(result: BenchScores) -> go.Figure:
    return go.Figure(go.Heatmap(z=result.scores.tolist()))


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = BenchScores(scores=torch.rand(3, 4), metadata=ResultMetadata(model_name="m",
                         config_hash="h"))  # fmt: skip
    result._repr_mimebundle_()  # warm-up: widget module, imports
    for mode in (False, True):
        workbench.display_static(mode)
        times = _timed(result._repr_mimebundle_, args.repeats)
        print(f"display ({'static' if mode else 'live'}): " + ", ".join(f"{t:.3f}" for t in times))
    figs = [go.Figure(go.Scatter(x=[0, 1, 2], y=[i, i + 1, 2 * i])) for i in range(args.figures)]
    out = Path(tempfile.mkdtemp())
    one_by_one = _timed(
        lambda: [export_figure(f, out / f"a{i}.svg") for i, f in enumerate(figs)], 1
    )[0]
    batch = _timed(lambda: export_figures([(f, out / f"b{i}.svg") for i, f in enumerate(figs)]), 1)
    n = args.figures
    print(f"export {n} SVGs one by one: {one_by_one:.2f} s ({one_by_one / n:.2f} s per figure)")
    print(f"export {n} SVGs as a batch: {batch[0]:.2f} s ({batch[0] / n:.2f} s per figure)")


if __name__ == "__main__":
    main()
