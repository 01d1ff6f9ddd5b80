"""Figures and numbers of docs/sparsity.md, from real runs on this machine.

1. The embedded default model on 64 x 256 tokens of the validation corpus: per-layer
   sparsity, its distribution over tokens, dead / always-on neurons, top contexts.
2. MiniLM (GELU, no exact zeros) on validation sentences at three thresholds.
3. A finished `workbench sparsity-sweep` folder (`--sweep-runs DIR`): sparsity vs size and vs
   step, top-k vs ReLU, the emergence curve of its largest ReLU run.

Writes PNG + SVG (+ .json metadata) into docs/sparsity/ and docs/sparsity/numbers.json.

Usage: python docs/sparsity/make_figures.py --sweep-runs /tmp/sparsity_runs/sweep
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import workbench
from workbench.analysis import sparsity
from workbench.analysis.result import Result
from workbench.analysis.sparsity_sweep import SweepSettings, load_sweep
from workbench.analysis.top_contexts import collect_top_contexts
from workbench.data import load_corpus

HERE = Path(__file__).parent


def export(result, name: str) -> None:
    for suffix in ("png", "svg"):
        result.export(HERE / f"{name}.{suffix}", style="paper", width="double")


def per_layer(result) -> dict:
    median = result.quantile_levels.index(0.5)
    return {
        "metric": result.metric_label, "n_tokens": result.n_tokens, "d_mlp": result.d_mlp,
        "mean_pct": [round(100 * v, 2) for v in result.nonzero_frac.tolist()],
        "median_pct": [round(100 * v, 2) for v in result.quantiles[:, median].tolist()],
        "p05_pct": [round(100 * v, 2) for v in result.quantiles[:, 0].tolist()],
        "p95_pct": [round(100 * v, 2) for v in result.quantiles[:, -1].tolist()],
        "dead": result.n_dead.tolist(), "always_on": result.n_always_on.tolist(),
    }  # fmt: skip


def default_model(numbers: dict) -> None:
    model, _ = workbench.load_default()
    tokens = workbench.analysis.corpus_tokens(model, n_sequences=64, seq_len=256)
    started = time.perf_counter()
    result = sparsity.compute(model, tokens, progress=False)
    numbers["default"] = {**per_layer(result), "seconds": round(time.perf_counter() - started, 2)}
    export(result, "default_layers")
    started = time.perf_counter()
    contexts = collect_top_contexts(model, tokens, k=5, window=12, progress=False).result(model)
    numbers["default_top_contexts_seconds"] = round(time.perf_counter() - started, 2)
    examples = []
    for layer in range(model.cfg.n_layers):
        frequency = result.firing_frequency[layer]
        rare = int(torch.where(frequency > 0.005, -frequency, -2.0).argmax())  # rarest live neuron
        for neuron in (int(frequency.argmax()), rare):
            rows = []
            for rank in range(3):
                strs, at = contexts.context(layer, neuron, rank)
                text = "".join(strs[:at]) + "[[" + strs[at] + "]]" + "".join(strs[at + 1 :])
                rows.append({"value": round(float(contexts.values[layer, neuron, rank]), 3),
                             "context": text})  # fmt: skip
            examples.append({"layer": layer, "neuron": neuron,
                             "firing_pct": round(100 * float(frequency[neuron]), 2),
                             "top": rows})  # fmt: skip
    numbers["default_examples"] = examples


def minilm(numbers: dict) -> None:
    model = workbench.load_minilm()
    texts = [line for line in load_corpus("val").split("\n") if len(line) > 40][:128]
    numbers["minilm"] = {}
    for threshold in (0.01, 0.1, 0.17):
        result = sparsity.compute(model, texts, mlp_threshold=threshold, progress=False)
        numbers["minilm"][str(threshold)] = per_layer(result)
        if threshold == 0.17:
            export(result, "minilm_t0.17")


def sweep(numbers: dict, runs: Path) -> None:
    outcomes = json.loads(json.dumps([json.loads(p.read_text())
                                      for p in sorted(runs.glob("*/outcome.json"))]))  # fmt: skip
    fields = outcomes[0]["settings"]
    settings = SweepSettings(**{**fields, "depths": tuple(fields["depths"]),
                                "widths": tuple(fields["widths"])})  # fmt: skip
    result = load_sweep(runs, settings)
    export(result, "sweep")
    numbers["sweep"] = {"settings": fields, "runs": [
        {k: o[k] for k in ("name", "depth", "width", "params", "train_loss", "val_loss",
                           "nonzero_frac", "mean_nonzero_frac", "dead_frac")}
        for o in outcomes]}  # fmt: skip
    largest = f"relu-L{max(settings.depths)}-d{max(settings.widths)}"
    record = Result.from_json(runs / largest / "record.json")
    export(record, "emergence")
    numbers["emergence"] = {"run": largest, "steps": record.steps.tolist(),
                            "nonzero_pct": (100 * record.nonzero_frac).round(decimals=2).tolist(),
                            "dead_pct": (100 * record.dead_frac).round(decimals=2).tolist(),
                            "loss": [round(v, 3) for v in record.loss.tolist()]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-runs", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    numbers: dict = {}
    default_model(numbers)
    minilm(numbers)
    sweep(numbers, args.sweep_runs)
    (HERE / "numbers.json").write_text(json.dumps(numbers, indent=1))
    print(json.dumps({k: v for k, v in numbers.items() if k != "default_examples"}, indent=1))


if __name__ == "__main__":
    main()
