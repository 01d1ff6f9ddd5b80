"""`workbench programs train|decompile`, the browser and the tour notebook."""

import json
import runpy
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from workbench.cli import build_parser
from workbench.data.rasp import make_task
from workbench.programs.browser import program_browser
from workbench.programs.model import ProgramConfig, ProgramModel

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "transformer_programs.ipynb"


def _programs_cli(argv):
    # the lead's parser if it already hooks us in, else a parser with only our subcommands
    import argparse

    from workbench.programs.cli import add_subcommands

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


def test_programs_cli_train_then_decompile(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--layers", "1", "--heads", "1", "--mlps", "1", "--epochs", "2", "--n-examples", "300"]
    _programs_cli(["programs", "train", "--task", "hist", *flags, "--out", str(out)])
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["data"] == {"n_examples": 300, "seed": 0}
    verified = json.loads((out / "hist_program.verify.json").read_text())
    assert verified["agreement"] == 1.0 and verified["n_examples"] == 30
    _programs_cli(["programs", "decompile", str(out), "--out", str(tmp_path / "p.py")])
    assert "program == network on 100.00%" in capsys.readouterr().out
    program = runpy.run_path(str(tmp_path / "p.py"))
    assert len(program["run"](["<s>", 1, 2, 2])) == 4
    with pytest.raises(SystemExit):
        _programs_cli(["programs", "train", "--task", "srot", "--out", str(out)])


def test_programs_cli_is_reachable_from_workbench_parser():
    parser = build_parser()
    args = parser.parse_args(["programs", "decompile", "ckpt", "--out", "p.py"])
    assert args.checkpoint == "ckpt"


def test_programs_browser_traces_and_escapes():
    torch.manual_seed(0)
    task = make_task("sort", n_examples=100)
    browser = program_browser(ProgramModel(ProgramConfig.for_task(task, n_layers=2)))
    table = browser.run_and_trace("<s> 3 1 2 </s>")
    assert "<th style='text-align:left'>outputs</th>" in table and "&lt;s&gt;" in table
    assert "not in the vocabulary" in browser.run_and_trace("<s> <script>")
    assert "<script>" not in browser.run_and_trace("<s> <script>")
    browser.picker.value = list(browser.heads)[-1]
    assert browser.matrix.children[0].title.startswith(browser.picker.value)


@pytest.mark.slow
def test_programs_notebook_runs_and_verifies(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "program == network on 100.00%" in text
