"""The programs committed under docs/programs/ run on their own and score what their
verification reports say, on the test split regenerated from their run's data settings."""

import json
import runpy
from pathlib import Path

import pytest

from workbench.programs.train import task_of_run

PUBLISHED = Path(__file__).parents[2] / "docs" / "programs"


@pytest.mark.parametrize("task_name", ["hist", "sort"])
def test_published_program_scores_its_recorded_accuracy(task_name):
    program = runpy.run_path(str(PUBLISHED / f"{task_name}_program.py"))
    report = json.loads((PUBLISHED / f"{task_name}_program.verify.json").read_text())
    run = json.loads((PUBLISHED / f"{task_name}_run.json").read_text())
    task = task_of_run(run)
    right = total = 0
    for tokens, labels in task.test:
        predicted = program["run"](list(tokens))
        scored = [(p, y) for p, y in zip(predicted, labels, strict=True) if y is not None]
        right += sum(p == y for p, y in scored)
        total += len(scored)
    assert report["agreement"] == 1.0 and not report["disagreements"]
    assert right / total == pytest.approx(report["program_accuracy"], abs=1e-12)
    assert report["program_accuracy"] == pytest.approx(run["test_accuracy"], abs=1e-12)
