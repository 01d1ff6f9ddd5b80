"""Regenerate the numbers and figures of docs/entropy.md (run from the repository root).

    python docs/entropy/make_figures.py --collapse-runs RUNS   # after `workbench
        entropy-collapse --out RUNS ...`; writes docs/entropy/*.png|svg and numbers.json

Steps: (1) entropy of the default model on the validation corpus; (2) Theorem 3.1 bound vs
measured on random, trained and MiniLM models; (3) two tiny models (ALiBi, rotary) trained
on 128-token windows, entropy at 128 ... 16k tokens; (4) the collapse experiment's records.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis import entropy
from workbench.analysis.entropy_bound import compute_bound
from workbench.analysis.entropy_collapse import load_records
from workbench.analysis.entropy_length import entropy_vs_length
from workbench.data import load_corpus
from workbench.data.tokenizer import ByteTokenizer
from workbench.export import export_figures
from workbench.export.entropy import collapse_comparison_figure
from workbench.train import TrainConfig, train

OUT = Path(__file__).resolve().parent


def bound_rows(jobs: list) -> list[dict]:
    rows = []
    default, _ = workbench.load_default()
    models = {
        "random init_range=0.002": Model(ModelConfig(init_range=0.002, seed=0)),
        "random init_range=0.02": Model(ModelConfig(init_range=0.02, seed=0)),
        "random init_range=0.2": Model(ModelConfig(init_range=0.2, seed=0)),
        "default (trained)": default,
        "MiniLM-L6 (trained)": workbench.load_minilm(),
    }
    for name, model in models.items():
        probe = "The quick brown fox jumps over the lazy dog." if "MiniLM" in name else None
        if probe is None and model.tokenizer is None:
            probe = ByteTokenizer().to_tokens(load_corpus("val")[:127])
        result = compute_bound(model.eval(), probe)
        s = result.sigma * result.sigma_x[:, None]
        rows.append({"model": name, "T": int(result.measured.shape[-1]),
                     "sigma": [float(result.sigma.min()), float(result.sigma.max())],
                     "sigma_x": [float(result.sigma_x.min()), float(result.sigma_x.max())],
                     "s": [float(s.min()), float(s.max())],
                     "bound_mean": [float(result.bound_mean.min()), float(result.bound_mean.max())],
                     "measured_mean": [float(result.measured_mean.min()),
                                       float(result.measured_mean.max())],
                     "violations": result.violations})  # fmt: skip
        if name.startswith("random init_range=0.002") or name.startswith("default"):
            tag = "random" if name.startswith("random") else "default"
            jobs.append((result.figure(), OUT / f"bound_{tag}.svg"))
    return rows


def length_rows(jobs: list, lengths: list[int]) -> dict:
    tokens = ByteTokenizer().to_tokens(load_corpus("val")[: lengths[-1] + 10])
    rows = {}
    for position in ("alibi", "rotary"):
        cfg = ModelConfig(d_model=64, n_layers=2, n_heads=4, d_mlp=256, n_ctx=128,
                          position=position, seed=0, name=f"tiny-{position}")  # fmt: skip
        model = Model(cfg)
        train(model, None, TrainConfig(steps=400, batch_size=16, seq_len=128, lr=3e-3,
                                       eval_every=0, warmup_steps=40))  # fmt: skip
        use = lengths if position == "alibi" else [n for n in lengths if n <= 4096]
        result = entropy_vs_length(model.eval(), tokens, use)
        rows[position] = {"lengths": use, "entropy_per_layer": result.entropy.mean(-1).tolist(),
                          "late_per_layer": result.entropy_late.mean(-1).tolist(),
                          "normalized_per_layer": result.normalized_entropy.mean(-1).tolist(),
                          "seconds": result.seconds.tolist()}  # fmt: skip
        jobs.append((result.figure(), OUT / f"length_{position}.svg"))
    return rows


def collapse_part(runs: Path, jobs: list) -> list:
    records = load_records(runs)
    shutil.copy(runs / "outcomes.md", OUT / "collapse_outcomes.md")
    shutil.copy(runs / "outcomes.json", OUT / "collapse_outcomes.json")
    for name in ("none-seed0", "sigma_reparam-seed0"):
        records[name].to_json(OUT / f"record_{name}.json")
        jobs.append((records[name].figure(), OUT / f"training_{name}.svg"))
    jobs.append((collapse_comparison_figure(records), OUT / "collapse_comparison.svg"))
    return json.loads((runs / "outcomes.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collapse-runs", type=Path, required=True)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 1024, 4096, 16384])
    args = parser.parse_args()
    torch.set_num_threads(1)
    jobs: list = []
    default, _ = workbench.load_default()
    result = entropy.compute(default)
    jobs.append((result.figure(), OUT / "default_heatmap.svg"))
    numbers = {"default": {"entropy": result.entropy.tolist(),
                           "normalized": result.normalized_entropy.tolist()}}  # fmt: skip
    numbers["bound"] = bound_rows(jobs)
    numbers["collapse"] = collapse_part(args.collapse_runs, jobs)
    numbers["length"] = length_rows(jobs, args.lengths)
    (OUT / "numbers.json").write_text(json.dumps(numbers, indent=1))
    pngs = [(fig, path.with_suffix(".png")) for fig, path in jobs]
    export_figures(jobs + pngs, width="double")
    print(json.dumps(numbers["bound"], indent=1))


if __name__ == "__main__":
    main()
