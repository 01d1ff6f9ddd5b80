"""`workbench programs train|decompile`, the browser and the tour notebook."""

import json
import runpy
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from workbench.cli import build_parser
from workbench.data.rasp import make_task
from workbench.programs.browser import program_browser, selected_keys
from workbench.programs.dataflow import dataflow_svg
from workbench.programs.model import ProgramConfig, ProgramModel
from workbench.programs.spec import extract
from workbench.programs.train import task_of_run

ROOT = Path(__file__).parents[2]
NOTEBOOK = ROOT / "notebooks" / "transformer_programs.ipynb"


def _programs_cli(argv):
    args = build_parser().parse_args(argv)
    args.func(args)


def test_programs_cli_train_then_decompile(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--layers", "1", "--heads", "1", "--mlps", "1", "--epochs", "2", "--n-examples", "300"]
    _programs_cli(["programs", "train", "--task", "hist", *flags, "--out", str(out)])
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["data"] == {"n_examples": 300, "seed": 0, "max_len": 8}
    assert task_of_run(meta).test == make_task("hist", n_examples=300).test
    # runs from before max_len was recorded regenerate with their config's (9 for hist)
    old = {"config": {**meta["config"], "max_len": 9}, "training": {"data": {"n_examples": 300}}}
    assert task_of_run(old).max_len == 9
    # Dyck runs from before the paper's sampler regenerate with the earlier one
    dyck = {
        "config": {**meta["config"], "task": "dyck1", "max_len": 16},
        "training": old["training"],
    }
    assert task_of_run(dyck).test == make_task("dyck1", 300, dyck_sampler="prefix").test
    _programs_cli(["programs", "train", "--task", "dyck1", *flags, "--out", str(tmp_path / "d")])
    dyck = json.loads((tmp_path / "d" / "config.json").read_text())
    assert dyck["training"]["data"]["dyck_sampler"] == "paper"
    assert task_of_run(dyck).test == make_task("dyck1", 300).test
    verified = json.loads((out / "hist_program.verify.json").read_text())
    assert verified["agreement"] == 1.0 and verified["n_examples"] == 30
    _programs_cli(["programs", "decompile", str(out), "--out", str(tmp_path / "p.py")])
    assert "program == network on 100.00%" in capsys.readouterr().out
    program = runpy.run_path(str(tmp_path / "p.py"))
    assert len(program["run"](["<s>", 1, 2, 2])) == 4
    with pytest.raises(SystemExit):
        _programs_cli(["programs", "train", "--task", "srot", "--out", str(out)])


def test_programs_errors_script_breaks_test_accuracy_down_by_length(tmp_path):
    out = tmp_path / "run"
    flags = ["--layers", "1", "--heads", "1", "--mlps", "1", "--epochs", "2", "--n-examples", "300"]
    _programs_cli(["programs", "train", "--task", "sort", *flags, "--loss-per", "sequence",
                   "--lr", "0.01", "--out", str(out)])  # fmt: skip
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["loss_per"] == "sequence" and meta["training"]["lr"] == 0.01
    script = runpy.run_path(str(ROOT / "scripts" / "programs_errors.py"))
    cells = [ok for row in script["accuracy_by_length"](out).values() for _, ok in row]
    assert abs(sum(cells) / len(cells) - meta["test_accuracy"]) < 1e-12


def test_programs_cli_is_reachable_from_workbench_parser(tmp_path):
    parser = build_parser()  # the checkpoint folder must exist: checked while parsing
    args = parser.parse_args(["programs", "decompile", str(tmp_path), "--out", "p.py"])
    assert args.checkpoint == str(tmp_path)


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


def test_programs_browser_selected_keys_reproduce_head_outputs():
    torch.manual_seed(1)
    task = make_task("sort", n_examples=100)
    browser = program_browser(ProgramModel(ProgramConfig.for_task(task, n_layers=2)))
    tokens = ["<s>", 3, 1, 2, 2, "</s>"]
    variables = browser.namespace["trace"](tokens)
    chosen = selected_keys(browser.namespace, browser.spec, variables)
    heads = [m for m in browser.spec.modules if m.kind == "attention"]
    assert len(chosen) == len(heads) == 2 * 2  # 2 layers x 2 categorical heads
    for head in heads:
        keys = chosen[f"{head.name}: key position"]
        assert all(0 <= k < len(tokens) for k in keys)
        copied = [variables[head.reads["value"]][k] for k in keys]
        assert copied == variables[head.name]
    assert "key position" in browser.run_and_trace("<s> 3 1 2 2 </s>")


def test_programs_dataflow_graph_has_an_edge_per_read():
    torch.manual_seed(0)
    task = make_task("hist", n_examples=100)
    spec = extract(ProgramModel(ProgramConfig.for_task(task, n_layers=2)))
    root = ElementTree.fromstring(dataflow_svg(spec))
    ns = "{http://www.w3.org/2000/svg}"
    titles = [line.find(f"{ns}title").text for line in root.iter(f"{ns}line")]
    expected = [f"{role}: {src} -> {m.name}" for m in spec.modules for role, src in m.reads.items()]
    assert titles == expected
    assert len(list(root.iter(f"{ns}rect"))) == 2 + len(spec.modules)


@pytest.mark.slow
def test_programs_notebook_runs_and_verifies(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "program == network on 100.00%" in text
