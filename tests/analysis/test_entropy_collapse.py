"""`workbench entropy-collapse`: both arms per seed, records and outcomes, finished runs
skipped on a second call."""

import json

import torch

from workbench.analysis.entropy_collapse import load_records
from workbench.analysis.entropy_training import find_collapse
from workbench.cli import main


def test_cli_runs_both_arms_and_skips_finished_runs(tmp_path, capsys) -> None:
    args = ["entropy-collapse", "--out", str(tmp_path), "--seeds", "0", "--steps", "6",
            "--every", "2"]  # fmt: skip
    assert main(args) == 0
    outcomes = json.loads((tmp_path / "outcomes.json").read_text())
    assert [(o["reparam"], o["seed"]) for o in outcomes] == [("none", 0), ("sigma_reparam", 0)]
    records = load_records(tmp_path)
    assert sorted(records) == ["none-seed0", "sigma_reparam-seed0"]
    for outcome in outcomes:
        record = records[f"{outcome['reparam']}-seed0"]
        assert record.steps.tolist() == [2, 4, 6]
        assert outcome["min_entropy"] == float(record.entropy.min())
        collapse = find_collapse(record, threshold=0.1)
        assert (outcome["collapse"] is None) == (collapse is None)
    assert "| sigma_reparam | 0 |" in capsys.readouterr().out
    stamp = (tmp_path / "none-seed0" / "record.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (tmp_path / "none-seed0" / "record.json").stat().st_mtime_ns == stamp
    assert torch.equal(load_records(tmp_path)["none-seed0"].entropy, records["none-seed0"].entropy)
