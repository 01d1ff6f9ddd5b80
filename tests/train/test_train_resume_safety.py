"""Resume stays inside its run folder and refuses a checkpoint of another model."""

import json
import os
from pathlib import Path

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.cli import main
from workbench.core.checkpoint import CheckpointError
from workbench.train import TrainConfig, train
from workbench.train import state as state_module


def _cfg(folder: Path, **overrides) -> TrainConfig:
    values = dict(steps=4, batch_size=2, seq_len=16, warmup_steps=1, eval_every=0,
                  checkpoint_every=2, checkpoint_dir=str(folder))  # fmt: skip
    return TrainConfig(**{**values, **overrides})


@pytest.fixture
def two_runs(tiny, small_text, tmp_path):
    """Run `mine` stopped at step 2; run `other` (another seed) finished at step 4."""
    mine, other = tmp_path / "a" / "run", tmp_path / "other" / "run"
    train(tiny(), small_text, _cfg(mine, steps=2), progress=False)
    # the same trajectory config as `mine`, so only the folder rules can refuse it
    train(tiny(seed=7), small_text, _cfg(other, steps=2), progress=False)
    return mine, other


POINTERS = {
    "parent path": lambda mine, other: "../../other/run/step_00000002",
    "absolute path": lambda mine, other: str(other / "step_00000002"),
    "not 8 digits": lambda mine, other: "step_2",
    "not a string": lambda mine, other: 2,
}


@pytest.mark.parametrize("pointer", POINTERS, ids=list(POINTERS))
def test_latest_pointing_out_of_the_run_is_refused(two_runs, tiny, small_text, pointer):
    mine, other = two_runs
    (mine / "latest.json").write_text(json.dumps({"step": 2, "dir": POINTERS[pointer](*two_runs)}))
    model = tiny(seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"latest\.json names .* refused"):
        train(model, small_text, _cfg(mine, steps=2), progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_step_folder_linking_out_of_the_run_is_refused(two_runs, tiny, small_text):
    mine, other = two_runs
    os.symlink(other / "step_00000002", mine / "step_00000009")
    (mine / "latest.json").write_text(json.dumps({"step": 9, "dir": "step_00000009"}))
    with pytest.raises(CheckpointError, match=r"step_00000009 .* link out of the run folder"):
        train(tiny(), small_text, _cfg(mine), progress=False)
    (mine / "latest.json").unlink()  # scanning the folder does not follow the link either
    assert state_module.latest_checkpoint(mine).name == "step_00000002"


def test_latest_naming_a_missing_folder_is_refused(two_runs):
    mine, _ = two_runs
    (mine / "latest.json").write_text(json.dumps({"step": 8, "dir": "step_00000008"}))
    with pytest.raises(CheckpointError, match=r"names step_00000008, which does not exist"):
        state_module.latest_checkpoint(mine)


MODEL = ModelConfig(n_layers=1, d_model=16, n_heads=2, n_ctx=32)


def test_resume_refuses_another_model_config_of_the_same_shapes(small_text, tmp_path):
    cfg = _cfg(tmp_path / "run", steps=2)
    train(Model(MODEL), small_text, cfg, progress=False)
    other = Model(MODEL.replace(attention="clipped", mlp="gelu"))
    assert {k: v.shape for k, v in other.state_dict().items()} == {
        k: v.shape for k, v in Model(MODEL).state_dict().items()
    }  # same shapes: only the config can tell them apart
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"another model \(attention: .*softmax.*clipped"):
        train(other, small_text, cfg, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())
    # a plain module cannot resume a workbench Model's run either
    with pytest.raises(CheckpointError, match=r"model config: recorded -> none"):
        train(torch.nn.Sequential(torch.nn.Embedding(259, 8), torch.nn.Linear(8, 259)),
              small_text, cfg, progress=False)  # fmt: skip


@pytest.mark.slow
def test_cli_train_with_another_config_exits_2_naming_the_fields(tmp_path, capsys):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"d_model": 16, "n_layers": 1, "n_heads": 2, "n_ctx": 32}))
    changed = {"attention": "clipped", "mlp": "gelu"}
    second.write_text(json.dumps({**json.loads(first.read_text()), **changed}))
    flags = ["--steps", "2", "--batch-size", "2", "--seq-len", "16"]
    out = str(tmp_path / "M")
    assert main(["train", "--out", out, "--config", str(first), *flags]) == 0
    weights = (tmp_path / "M" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", "--out", out, "--config", str(second), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "attention:" in err and "mlp:" in err and "d_model" not in err
    assert (tmp_path / "M" / "model.safetensors").read_bytes() == weights  # nothing stored
