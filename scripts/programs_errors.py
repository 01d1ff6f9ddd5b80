"""Where a trained Transformer Program errs: test token accuracy by input length.

The discretized network of RUN_DIR is run on its task's test split (regenerated from the seed
and size stored in the checkpoint); one line per input length (BOS/EOS included) with the
number of labelled positions, the accuracy, and the accuracy at each labelled position.

Usage: python scripts/programs_errors.py RUN_DIR
"""

from __future__ import annotations

import sys
from collections import defaultdict

import torch

from workbench.programs import load_checkpoint
from workbench.programs.model import encode
from workbench.programs.train import task_of_run


def accuracy_by_length(run: str) -> dict[int, list[tuple[int, bool]]]:
    """Input length -> (position, correct) for every labelled test position."""
    model, meta = load_checkpoint(run)
    task = task_of_run(meta)
    batch = encode(model.cfg, task.test)
    with torch.no_grad():
        correct = model.predict(batch) == batch.labels
    out: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for row, length in enumerate(batch.valid.sum(1).tolist()):
        for pos in (batch.labels[row] != -100).nonzero().flatten().tolist():
            out[length].append((pos, bool(correct[row, pos])))
    return out


def main(run: str) -> None:
    print("length  positions  accuracy  by position")
    for length, cells in sorted(accuracy_by_length(run).items()):
        by_pos: dict[int, list[bool]] = defaultdict(list)
        for pos, ok in cells:
            by_pos[pos].append(ok)
        per_pos = " ".join(f"{100 * sum(v) / len(v):.0f}" for _, v in sorted(by_pos.items()))
        acc = 100 * sum(ok for _, ok in cells) / len(cells)
        print(f"{length:6d}  {len(cells):9d}  {acc:7.2f}%  {per_pos}")


if __name__ == "__main__":
    main(sys.argv[1])
