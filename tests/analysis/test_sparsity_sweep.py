"""`workbench sparsity-sweep` at a tiny size: files, a float64 check of a run's final sparsity
from its last checkpoint, the top-k bound, resume (finished runs skipped), view and figure."""

import json

import torch

from workbench.analysis.result import Result
from workbench.analysis.sparsity_sweep import SparsitySweepResult, val_windows
from workbench.cli import main
from workbench.core.checkpoint import load_model
from workbench.train.state import latest_checkpoint

ARGS = ["--depths", "1", "--widths", "16", "32", "--steps", "4", "--every", "2", "--topk", "4",
        "--seq-len", "16", "--batch-size", "2", "--val-sequences", "4", "--quiet"]  # fmt: skip
RUNS = ("relu-L1-d16", "relu-L1-d32", "topk4-L1-d32")


def test_tiny_sweep_resumes_and_matches_checkpoints(tmp_path, capsys) -> None:
    assert main(["sparsity-sweep", "--out", str(tmp_path), *ARGS]) == 0
    assert "| relu-L1-d32 | 1 | 32 | 128 |" in capsys.readouterr().out
    outcomes = {run: json.loads((tmp_path / run / "outcome.json").read_text()) for run in RUNS}
    # the final sparsity of a run against float64 hook_post of its last checkpoint's weights
    model = load_model(latest_checkpoint(tmp_path / "relu-L1-d32" / "checkpoints")).eval()
    tokens = val_windows(4, 16)
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_post")
    expected = (cache["blocks.0.mlp.hook_post"].double() > 0).double().mean()
    assert abs(outcomes["relu-L1-d32"]["nonzero_frac"][0] - float(expected)) < 1e-6
    assert outcomes["topk4-L1-d32"]["mean_nonzero_frac"] <= 4 / 128 + 1e-9  # at most k fire
    stamps = {run: (tmp_path / run / "outcome.json").stat().st_mtime_ns for run in RUNS}
    assert main(["sparsity-sweep", "--out", str(tmp_path), *ARGS]) == 0  # all finished: skipped
    assert stamps == {run: (tmp_path / run / "outcome.json").stat().st_mtime_ns for run in RUNS}
    result = Result.from_json(tmp_path / "sweep.json")
    assert isinstance(result, SparsitySweepResult) and result.names == list(RUNS)
    assert result.steps.tolist() == [2, 4] and result.curves.shape == (3, 2)
    box = result.widget()
    assert box.size.array.shape == (1, 2)  # one depth, two widths
    torch.testing.assert_close(torch.tensor(box.size.array[0].copy()), result.nonzero_frac[:2])
    fig = result.figure()
    assert "nonzero fraction (|a| > 0)" in fig.layout.title.text
