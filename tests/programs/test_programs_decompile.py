"""Train tiny Transformer Programs, decompile them and check program == discretized network."""

import json
import subprocess
import sys

import pytest
import torch

from workbench.core.checkpoint import CheckpointError
from workbench.data.rasp import Task, make_task
from workbench.programs.decompile import decompile, write_program
from workbench.programs.model import ProgramConfig, ProgramModel, encode
from workbench.programs.train import load_checkpoint, save_checkpoint, train_program
from workbench.programs.verify import verify

HOSTILE = ["'", '"', "\\", "\n", '"""', "def", "None", "import os", "{}", 0, -3]


@pytest.fixture(scope="module")
def copy_run():
    torch.set_num_threads(1)
    task = Task.from_function("copy", lambda xs: xs, vocab=["a", "b", "c"], max_len=4,
                              n_examples=300, seed=0)  # fmt: skip
    cfg = ProgramConfig.for_task(task, n_layers=1, n_cat_heads=1, n_num_heads=0, n_num_mlps=0)
    return train_program(task, cfg, epochs=30, batch_size=64, eval_every=10, progress=False)


def test_programs_tiny_run_learns_copy(copy_run):
    # copying the current token is reachable by reading `tokens` in the output table
    assert copy_run.test_accuracy == 1.0
    assert copy_run.history[0]["loss"] > copy_run.history[-1]["loss"]


def test_programs_decompiled_equals_network(copy_run, tmp_path):
    path = write_program(copy_run.model, tmp_path / "copy_program.py")
    report = verify(copy_run.model, path, copy_run.task.test, progress=False)
    assert report.agreement == 1.0, report.disagreements
    assert report.program_accuracy == report.network_accuracy == copy_run.test_accuracy
    # standalone: runs in a fresh interpreter with nothing but Python
    out = subprocess.run([sys.executable, "-I", "-c",
                          f"import runpy; m = runpy.run_path({str(path)!r}); "
                          "print(m['run'](['<s>', 'b', 'a']))"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == str(copy_run.model.predict_labels(["<s>", "b", "a"]))


def test_programs_checkpoint_roundtrip(copy_run, tmp_path):
    save_checkpoint(copy_run, tmp_path / "ckpt")
    model, meta = load_checkpoint(tmp_path / "ckpt")
    assert meta["test_accuracy"] == copy_run.test_accuracy
    assert decompile(model) == decompile(copy_run.model)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")
    # the one checkpoint format: a manifest, and a changed file is refused, naming it
    manifest = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    assert manifest["model_config"] == copy_run.model.cfg.to_dict()
    config = tmp_path / "ckpt" / "config.json"
    config.write_text(config.read_text().replace('"test_accuracy": ', '"test_accuracy": 1', 1))
    with pytest.raises(CheckpointError, match=r"ckpt/config\.json has \d+ bytes"):
        load_checkpoint(tmp_path / "ckpt")


@pytest.mark.parametrize("num_mlp_inputs", [1, 2])
def test_programs_multilayer_random_model_matches_program(tmp_path, num_mlp_inputs):
    """An untrained 2-layer model with every module kind: arbitrary predicates and tables
    exercise the decompiler far more than a trained one."""
    torch.manual_seed(0)
    task = make_task("dyck2", n_examples=200)
    cfg = ProgramConfig.for_task(task, n_layers=2, n_cat_heads=2, n_num_heads=2, causal=True,
                                 num_mlp_inputs=num_mlp_inputs)  # fmt: skip
    model = ProgramModel(cfg)
    reads = {len(m.choices()) for layer in model.layers for m in layer.num_mlps}
    assert reads == {num_mlp_inputs}
    for p in model.parameters():  # sharp random choices everywhere
        torch.nn.init.normal_(p, std=3.0)
    report = verify(model, write_program(model, tmp_path / "p.py"), task.test, progress=False)
    assert report.agreement == 1.0, report.disagreements


def test_programs_hostile_vocabulary(tmp_path):
    torch.manual_seed(1)
    task = Task.from_function("rev", lambda xs: xs[::-1], vocab=HOSTILE, max_len=5,
                              n_examples=400)  # fmt: skip
    cfg = ProgramConfig.for_task(task, n_layers=2, n_cat_heads=2, n_num_heads=1)
    model = ProgramModel(cfg)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=3.0)
    source = decompile(model, header='a """quoted\\ header"')
    namespace: dict = {}
    exec(compile(source, "hostile.py", "exec"), namespace)
    assert 'a """quoted\\ header"' in namespace["__doc__"]
    assert "import os\n" not in source and "\nimport os" not in source
    path = write_program(model, tmp_path / "hostile.py")
    report = verify(model, path, task.test + task.train[:100], progress=False)
    assert report.agreement == 1.0, report.disagreements
    assert report.n_examples == len(task.test) + 100


def test_programs_encode_rejects_unknown_tokens():
    task = make_task("sort", n_examples=100)
    cfg = ProgramConfig.for_task(task)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode(cfg, [(("<s>", 9), (None, 9))])
