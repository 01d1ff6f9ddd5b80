"""Print the results table of docs/programs.md from training runs.

For each task, the run with the best validation accuracy is reported (as the paper does
over seeds), with every run of that task listed after it. Each run folder is what
`workbench programs train --out RUN_DIR` wrote (config.json and <task>_program.verify.json).

Usage: python scripts/programs_table.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from workbench.data.rasp import DEFAULT_DYCK_SAMPLER, paper_max_len
from workbench.programs.model import ProgramConfig
from workbench.programs.train import recorded_data

DEFAULTS = ProgramConfig(vocab=(), labels=(), max_len=0)

# Friedman, Wettig & Chen 2023, Table 1: test accuracy and layers/heads/MLPs of the best run.
# Heads and MLPs there count categorical + numerical ones: the authors' released scripts
# (scripts/rasp.sh, rasp_sort.sh) split them evenly, e.g. sort H8 M4 = 4+4 heads, 2+2 MLPs.
PAPER = {
    "reverse": (99.79, "3/8/2"),
    "hist": (100.00, "1/4/2"),
    "double_hist": (98.40, "3/4/2"),
    "sort": (99.83, "3/8/4"),
    "most_freq": (75.69, "3/8/4"),
    "dyck1": (99.30, "3/8/2"),
    "dyck2": (99.09, "3/4/4"),
}


def load(run: Path) -> dict:
    meta = json.loads((run / "config.json").read_text())
    task = meta["config"]["task"]
    verified = json.loads((run / f"{task}_program.verify.json").read_text())
    return {**meta, "task": task, "verify": verified, "run": run.name}


def recipe(r: dict) -> str:
    """How the run differs from the paper's recipe: the loss averaging, the inputs of a
    numerical MLP, and the input length, Dyck sampler, learning rate, soft attention scores
    and MLP width when they are not the paper's / the defaults."""
    t = r["training"]
    cfg = ProgramConfig.from_dict(r["config"])  # fills fields older configs lack
    # runs made before `--loss-per` existed averaged the loss per token
    parts = [t.get("loss_per", "token"), f"num MLP {cfg.num_mlp_inputs}-in"]
    data = recorded_data(r)  # older runs' length and Dyck sampler filled in
    if data["max_len"] != paper_max_len(r["task"]):
        parts.append(f"{data['max_len']} positions")
    if data.get("dyck_sampler", DEFAULT_DYCK_SAMPLER) != DEFAULT_DYCK_SAMPLER:
        parts.append(f"{data['dyck_sampler']} sampler")
    if t["lr"] != 5e-2:
        parts.append(f"lr {t['lr']:g}")
    if cfg.attention_scores != DEFAULTS.attention_scores:
        parts.append(f"{cfg.attention_scores} attn")
    if cfg.mlp_hidden != DEFAULTS.mlp_hidden:
        parts.append(f"hidden {cfg.mlp_hidden}")
    return ", ".join(parts)


def short_size(c: dict) -> str:
    """Layers / heads / MLPs per layer, counting categorical + numerical as the paper does."""
    heads, mlps = c["n_cat_heads"] + c["n_num_heads"], c["n_cat_mlps"] + c["n_num_mlps"]
    return f"{c['n_layers']}/{heads}/{mlps}"


def row(r: dict, all_runs: list[dict]) -> str:
    c, t = r["config"], r["training"]
    paper_acc, paper_size = PAPER[r["task"]]
    size = f"{short_size(c)} ({c['n_cat_heads']}+{c['n_num_heads']}, "
    size += f"{c['n_cat_mlps']}+{c['n_num_mlps']})"
    agree = f"{100 * r['verify']['agreement']:.2f}% of {r['verify']['n_positions']}"
    seeds = ", ".join(
        f"s{x['training']['seed']} {short_size(x['config'])} {x['training']['epochs']}ep "
        f"{recipe(x)}: "
        f"{100 * x['test_accuracy']:.1f}"
        for x in sorted(all_runs, key=lambda x: x["training"]["seed"])
    )
    return (
        f"| {r['task']} | {paper_size} | {paper_acc:.2f} | {size} | {t['epochs']} | "
        f"{recipe(r)} | {t['seed']} | {100 * r['val_accuracy']:.2f} | "
        f"{100 * r['test_accuracy']:.2f} | {agree} | {r['seconds'] / 60:.1f} min | {seeds} |"
    )


def main(paths: list[str]) -> None:
    runs = [load(Path(p)) for p in paths]
    print(
        "| task | paper L/H/M | paper test acc | our L/H/M (heads, MLPs: categorical+numerical) | "
        "epochs | recipe (loss per; numerical MLP inputs; other changes) | "
        "seed | "
        "val acc | test acc | program == network (positions) | train time | all runs "
        "(seed, L/H/M, epochs, recipe: test acc) |"
    )
    print("|---" * 12 + "|")
    for task in PAPER:
        mine = [r for r in runs if r["task"] == task]
        if mine:
            print(row(max(mine, key=lambda r: r["val_accuracy"]), mine))


if __name__ == "__main__":
    main(sys.argv[1:])
