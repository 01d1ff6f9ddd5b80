"""Check a decompiled program against the discretized network it came from: both run on every
example of a split; their predictions must agree at every position (labelled or not).

Example:
    >>> report = verify(model, "sort_program.py", task.test)
    >>> report.agreement, report.network_accuracy, report.program_accuracy
    (1.0, 0.9702, 0.9702)
"""

from __future__ import annotations

import importlib.util
import types
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from workbench.data.rasp import Example
from workbench.programs.model import ProgramModel, encode


@dataclass
class VerifyReport:
    n_examples: int
    n_positions: int
    agreement: float  # fraction of positions where program == network
    network_accuracy: float  # over labelled positions
    program_accuracy: float
    disagreements: list[dict] = field(default_factory=list)  # first few, with their inputs

    def summary(self) -> str:
        return (
            f"{self.n_examples} examples, {self.n_positions} positions: program == network on "
            f"{100 * self.agreement:.2f}%; accuracy network {100 * self.network_accuracy:.2f}%, "
            f"program {100 * self.program_accuracy:.2f}%"
        )


def load_program(path: str | Path) -> types.ModuleType:
    """Import a generated program file as a module (it needs nothing but Python)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"program_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verify(
    model: ProgramModel,
    program: str | Path | types.ModuleType,
    examples: list[Example],
    keep: int = 20,
    progress: bool = True,
) -> VerifyReport:
    """Run network (discretized, float64) and program on `examples`; compare."""
    module = program if isinstance(program, types.ModuleType) else load_program(program)
    labels = list(model.cfg.labels)
    network = model.predict(encode(model.cfg, examples))
    agree = positions = correct_net = correct_prog = labelled = 0
    bad: list[dict] = []
    for row, (xs, ys) in enumerate(tqdm(examples, desc="verify", disable=not progress)):
        prog = module.run(list(xs))
        net = [labels[i] for i in network[row, : len(xs)].tolist()]
        for p, n, y in zip(prog, net, ys, strict=True):
            positions += 1
            agree += p == n
            if y is not None:
                labelled += 1
                correct_net += n == y
                correct_prog += p == y
        if prog != net and len(bad) < keep:
            bad.append({"input": list(xs), "program": prog, "network": net})
    return VerifyReport(
        n_examples=len(examples),
        n_positions=positions,
        agreement=agree / max(positions, 1),
        network_accuracy=correct_net / max(labelled, 1),
        program_accuracy=correct_prog / max(labelled, 1),
        disagreements=bad,
    )
