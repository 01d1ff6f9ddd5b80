"""The `workbench` command, run in-process through its `main(argv)`."""

import json

import pytest

from workbench.cli import main


def test_info_lists_variants_stats_and_hooks(capsys) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "attention:",
        "softmax",
        "rmsnorm",
        "attn.entropy",
        "blocks.0.attn.hook_pattern",
    ):
        assert expected in out
    assert "blocks.1.attn.hook_pattern" not in out  # layer 0 only unless --all-hooks


def test_demo_writes_a_self_contained_report(tmp_path) -> None:
    assert main(["demo", "--out", str(tmp_path), "--tokens", "32"]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "Statistics overview" in html and "Training loss" in html  # registered analyses too
    assert "<script src=" not in html  # plotly.js is inlined: works offline


@pytest.mark.slow
def test_train_then_resume_and_load(tmp_path) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"d_model": 16, "n_layers": 1, "n_heads": 2, "n_ctx": 32}))
    args = ["train", "--out", str(tmp_path / "run"), "--config", str(config), "--steps", "4",
            "--batch-size", "2", "--seq-len", "16"]  # fmt: skip
    assert main(args) == 0
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert len(log["losses"]) == 4
    assert main(["info", "--model", str(tmp_path / "run")]) == 0


def test_errors_are_reported_not_raised(tmp_path, capsys) -> None:
    assert main(["info", "--model", str(tmp_path / "missing")]) == 2
    assert "not a workbench checkpoint" in capsys.readouterr().err
