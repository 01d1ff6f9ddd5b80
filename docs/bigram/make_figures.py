"""Regenerate the stored default-model result and the figures and numbers of docs/bigram.md
(run from the repository root), after runs of `workbench bigram` on the default model:

    workbench bigram --out RUNS/lam10 --lam 10 --lr 0.05 --beta-growth 1.01 \\
        --batch-size 16 --max-steps 1000 --checkpoint-every 50     # (and --lam 1, --lam 100)
    python docs/bigram/make_figures.py --main RUNS/lam10 --sweep RUNS/lam1 RUNS/lam100

Writes assets/bigram/default_result.json (the main run, marked as a stored run for the
report), docs/bigram/*.png|svg and docs/bigram/numbers.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import workbench.analysis.bigram  # noqa: F401  (registers BigramResult)
from workbench.analysis.result import Result
from workbench.export import export_figures
from workbench.export.bigram import (
    ablation_figure,
    alignment_figure,
    density_figure,
    surprisal_figure,
)

OUT = Path(__file__).resolve().parent
ASSET = OUT.parents[1] / "assets" / "bigram" / "default_result.json"


def numbers(result) -> dict:
    return {
        "steps": result.steps, "converged": result.converged,
        "lam": result.metadata.options["lam"], "kept_total": result.kept_total,
        "kept_of_all_parameters": result.kept_of_all_parameters,
        "kept_per_layer": result.kept_per_layer.tolist(),
        "kept_per_matrix": dict(zip(result.matrix_names, result.kept_per_matrix.tolist(),
                                    strict=True)),
        "pearson_r": result.pearson_r, "n_correlated": result.n_correlated,
        "bigram_ce": result.bigram_ce, "ablation": result.ablation,
        "alignment": result.alignment.tolist(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main", type=Path, required=True, help="run folder of the main run")
    parser.add_argument("--sweep", type=Path, nargs="*", default=[], help="other lambda runs")
    args = parser.parse_args()
    result = Result.from_json(args.main / "result.json")
    options = result.metadata.options
    note = (f"workbench bigram --lam {options['lam']:g} --lr {options['lr']:g} --beta-growth "
            f"{options['beta_growth']:g} --batch-size {options['batch_size']}; "
            f"{result.steps} steps on a 2-core CPU, see docs/bigram.md")  # fmt: skip
    metadata = dataclasses.replace(result.metadata, options={**options, "stored_run": note})
    stored = dataclasses.replace(result, metadata=metadata)
    stored.to_json(ASSET)
    jobs = []
    for name, fig in {
        "overview": stored.figure(), "alignment": alignment_figure(stored),
        "density": density_figure(stored), "surprisal": surprisal_figure(stored),
        "ablation": ablation_figure(stored),
    }.items():  # fmt: skip
        jobs += [(fig, OUT / f"{name}.svg", metadata.to_dict()),
                 (fig, OUT / f"{name}.png", metadata.to_dict())]  # fmt: skip
    export_figures(jobs, width="double")
    sweep = [numbers(Result.from_json(run / "result.json")) for run in args.sweep]
    data = {"main": numbers(stored), "sweep": sorted(sweep, key=lambda r: r["lam"])}
    (OUT / "numbers.json").write_text(json.dumps(data, indent=1))
    print(json.dumps(data["main"], indent=1))


if __name__ == "__main__":
    main()
