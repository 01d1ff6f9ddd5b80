"""The trainer: it learns, its schedule, clipping, decay, callbacks, checkpoints and errors."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from workbench.core import checkpoint as checkpoint_module
from workbench.data import TokenDataset, bigram_probs, byte_bigram_counts, generate_corpus
from workbench.train import Callback, EveryN, LossHistory, TrainConfig, Trainer, train
from workbench.train import state as state_module
from workbench.train.state import flatten_optimizer, unflatten_optimizer


def test_a_bigram_model_learns_down_to_the_corpus_bigram_entropy(tiny):
    text = generate_corpus(200_000, seed=9)
    cut = int(len(text) * 0.95)  # what train() holds out for evaluation
    probs = bigram_probs(byte_bigram_counts(text[:cut], add_bos=False))
    val_counts = byte_bigram_counts(text[cut:], add_bos=False).double()
    bigram_nats = float(-(val_counts * probs.clamp_min(1e-12).log()).sum() / val_counts.sum())
    cfg = TrainConfig(
        steps=200, batch_size=16, seq_len=64, lr=2e-2, warmup_steps=10, weight_decay=0.0,
        eval_every=100, eval_batches=8,
    )  # fmt: skip
    result = train(tiny(), text, cfg, progress=False)
    assert result.losses[0] == pytest.approx(math.log(259), abs=0.1)
    assert [s for s, _ in result.eval_losses] == [100, 200]
    final = result.eval_losses[-1][1]
    # an embedding + linear model *is* a bigram model: it approaches, and cannot beat, the bound
    assert bigram_nats - 0.05 < final < bigram_nats + 0.15
    assert result.tokens_seen == 200 * 16 * 64 and result.tokens_per_second > 0


def test_schedule_warmup_then_cosine_to_the_floor():
    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert [cfg.lr_at(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert cfg.lr_at(10) == pytest.approx(1.0)
    assert cfg.lr_at(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cfg.lr_at(110) == pytest.approx(0.1)
    decay = [cfg.lr_at(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert TrainConfig(steps=5, warmup_steps=0, lr=2.0).lr_at(0) == 2.0


def test_trainer_applies_the_scheduled_lr_and_clips_gradients(tiny, small_text):
    seen = []

    def record(trainer, step, loss):
        grads = [p.grad for p in trainer.model.parameters()]
        seen.append(
            (
                trainer.last_lr,
                trainer.last_grad_norm,
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])),
            )
        )

    cfg = TrainConfig(steps=6, batch_size=4, seq_len=32, lr=1e-2, warmup_steps=2, grad_clip=0.01,
                      eval_every=0)  # fmt: skip
    train(tiny(), small_text, cfg, callbacks=[EveryN(record)], progress=False)
    assert [lr for lr, _, _ in seen] == pytest.approx([cfg.lr_at(s) for s in range(6)])
    for _, norm_before, norm_after in seen:
        assert norm_before > 0.01 and float(norm_after) == pytest.approx(0.01, rel=1e-4)


def test_weight_decay_only_on_matrices(tiny, small_text):
    trainer = Trainer(tiny(), small_text, TrainConfig(steps=1, eval_every=0, weight_decay=0.3),
                      progress=False)  # fmt: skip
    decay, no_decay = trainer.optimizer.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert {p.dim() for p in decay["params"]} == {2}
    assert {p.dim() for p in no_decay["params"]} == {1}


def test_callbacks_every_eval_and_checkpoint(tiny, small_text, tmp_path):
    events = []

    class Recorder(Callback):
        every = 3

        def on_step_end(self, trainer, step, loss):
            events.append(("step", step))

        def on_eval(self, trainer, step, eval_loss):
            events.append(("eval", step))

        def on_checkpoint(self, trainer, step, path):
            events.append(("ckpt", step, Path(path).name))

    history = LossHistory()
    cfg = TrainConfig(steps=7, batch_size=4, seq_len=32, warmup_steps=1, eval_every=4,
                      checkpoint_every=3, checkpoint_dir=str(tmp_path), eval_batches=1)  # fmt: skip
    result = train(tiny(), small_text, cfg, callbacks=[Recorder(), history], progress=False)
    assert events == [
        ("step", 3), ("ckpt", 3, "step_00000003"), ("eval", 4), ("step", 6),
        ("ckpt", 6, "step_00000006"), ("eval", 7), ("ckpt", 7, "step_00000007"),
    ]  # fmt: skip
    assert history.losses == result.losses and history.steps == list(range(1, 8))
    assert history.eval_losses == [loss for _, loss in result.eval_losses]


def test_old_checkpoints_are_pruned_and_latest_points_to_the_newest(tiny, small_text, tmp_path):
    cfg = TrainConfig(
        steps=8,
        batch_size=2,
        seq_len=16,
        warmup_steps=1,
        eval_every=0,
        checkpoint_every=2,
        checkpoint_dir=str(tmp_path),
    )  # keeps 2 by default
    result = train(tiny(), small_text, cfg, progress=False)
    assert state_module.saved_steps(tmp_path) == [6, 8]
    assert result.checkpoint == tmp_path / "step_00000008"
    assert sorted(p.name for p in result.checkpoint.iterdir()) == [
        "manifest.json", "model.safetensors", "optimizer.safetensors", "rng.safetensors",
        "trainer.json",
    ]  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_damaged_latest_pointer_or_step_folder_is_refused(tiny, small_text, tmp_path):
    cfg = TrainConfig(steps=4, batch_size=2, seq_len=16, warmup_steps=1, eval_every=0,
                      checkpoint_every=2, checkpoint_dir=str(tmp_path))  # fmt: skip
    train(tiny(), small_text, cfg, progress=False)
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"latest\.json is corrupt"):
        state_module.latest_checkpoint(tmp_path)
    (tmp_path / "latest.json").unlink()  # without a pointer: the newest step folder
    assert state_module.latest_checkpoint(tmp_path).name == "step_00000004"
    (tmp_path / "step_00000004" / "trainer.json").write_text("{")
    with pytest.raises(ValueError, match=r"step_00000004/trainer\.json has 1 bytes"):
        train(tiny(), small_text, cfg, progress=False)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(
    tiny, small_text, tmp_path, monkeypatch
):
    cfg = TrainConfig(steps=4, batch_size=2, seq_len=16, warmup_steps=1, eval_every=0,
                      checkpoint_every=2, checkpoint_dir=str(tmp_path))  # fmt: skip
    real_write = checkpoint_module.write_file
    calls = []

    def failing_write(path, data):
        calls.append(path)
        if len(calls) == 7:  # second checkpoint (4 files + manifest each), second file
            Path(path).write_bytes(b"partial")
            raise OSError("disk full")
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, "write_file", failing_write)
    with pytest.raises(OSError, match="disk full"):
        train(tiny(), small_text, cfg, progress=False)
    assert state_module.saved_steps(tmp_path) == [2]
    assert state_module.latest_checkpoint(tmp_path).name == "step_00000002"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.setattr(checkpoint_module, "write_file", real_write)
    assert train(tiny(), small_text, cfg, progress=False).steps == 4


def test_optimizer_state_survives_flattening(tiny, small_text):
    trainer = Trainer(tiny(), small_text, TrainConfig(steps=3, eval_every=0, seq_len=16),
                      progress=False)  # fmt: skip
    trainer.run()
    original = trainer.optimizer.state_dict()
    tensors, rest = flatten_optimizer(original)
    rebuilt = unflatten_optimizer(tensors, rest)
    assert rebuilt["param_groups"] == original["param_groups"]
    for key, values in original["state"].items():
        for name, value in values.items():
            assert torch.equal(rebuilt["state"][key][name], value)


def test_the_real_workbench_model_trains_and_resumes_identically(small_text, tmp_path):
    from workbench import Model, ModelConfig
    from workbench.core.checkpoint import load_model

    model_cfg = ModelConfig(n_layers=1, d_model=32, n_heads=2, n_ctx=32)
    cfg = TrainConfig(
        steps=6,
        batch_size=2,
        seq_len=32,
        warmup_steps=1,
        eval_every=3,
        eval_batches=1,
        checkpoint_dir=str(tmp_path / "a"),
        checkpoint_every=3,
    )
    straight_model = Model(model_cfg)
    straight = train(straight_model, small_text, cfg, progress=False)
    assert straight.losses[-1] < straight.losses[0]

    class Stop(Callback):
        def on_step_end(self, trainer, step, loss):
            if step == 4:
                raise KeyboardInterrupt

    cfg_b = TrainConfig(**{**cfg.to_dict(), "checkpoint_dir": str(tmp_path / "b")})
    with pytest.raises(KeyboardInterrupt):
        train(Model(model_cfg), small_text, cfg_b, callbacks=[Stop()], progress=False)
    resumed_model = Model(model_cfg)
    resumed = train(resumed_model, small_text, cfg_b, progress=False)
    assert resumed.losses == straight.losses and resumed.eval_losses == straight.eval_losses
    for a, b in zip(straight_model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(a, b)
    # the trainer's checkpoint folder is also a model checkpoint for the core loader
    loaded = load_model(resumed.checkpoint)
    tokens = torch.tensor([[256, 84, 104, 101]])
    assert torch.equal(loaded(tokens), resumed_model.eval()(tokens))


def test_progress_bar_runs_without_warnings(tiny, small_text):
    cfg = TrainConfig(steps=3, batch_size=2, seq_len=16, warmup_steps=1, eval_every=0, log_every=1)
    assert train(tiny(), small_text, cfg, progress=True).steps == 3


class _BadShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def forward(self, tokens):
        return self.w.expand(tokens.shape[0], 3)


class _SmallOutput(nn.Module):
    """Reads every byte but predicts only 100 classes."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(259, 8)
        self.out = nn.Linear(8, 100)

    def forward(self, tokens):
        return self.out(self.embed(tokens))


def test_clear_errors(tiny, small_text):
    quick = TrainConfig(steps=2, batch_size=2, seq_len=16, warmup_steps=0, eval_every=0)
    with pytest.raises(ValueError, match=r"logits \[batch, pos, d_vocab\]"):
        train(_BadShape(), small_text, quick, progress=False)
    with pytest.raises(ValueError, match="vocabulary smaller than the data"):
        train(tiny(d_vocab=100), small_text, quick, progress=False)
    with pytest.raises(ValueError, match="outside the model's vocabulary of 100"):
        train(_SmallOutput(), small_text, quick, progress=False)
    data = TokenDataset(small_text, seq_len=16, batch_size=2)
    with pytest.raises(ValueError, match="val_data"):
        train(tiny(), data, TrainConfig(steps=2, seq_len=16, batch_size=2, warmup_steps=0))
    with pytest.raises(ValueError, match="seq_len=16"):
        train(tiny(), data, TrainConfig(steps=2, seq_len=32, batch_size=2, eval_every=0))
    with pytest.raises(ValueError, match="checkpoint_dir"):
        TrainConfig(checkpoint_every=5)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)
    model = tiny()
    with torch.no_grad():
        model.unembed.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 1"):
        train(model, small_text, quick, progress=False)
