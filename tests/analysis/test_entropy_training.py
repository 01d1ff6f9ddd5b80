"""EntropyTracker (records, resumes), find_collapse, and entropy_vs_length."""

import math

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis.entropy_bound import qk_matrices
from workbench.analysis.entropy_length import entropy_vs_length
from workbench.analysis.entropy_training import (
    EntropyTracker,
    EntropyTrainingResult,
    find_collapse,
)
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.train import TrainConfig, train
from workbench.train.callbacks import Callback


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0)
    return Model(ModelConfig(**{**fields, **overrides}))


PROBE = torch.randint(3, 259, (2, 16), generator=torch.Generator().manual_seed(0))


def config(tmp_path, steps=12) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=4, seq_len=32, lr=3e-3, warmup_steps=0,
                       eval_every=0, checkpoint_every=6, checkpoint_dir=str(tmp_path))  # fmt: skip


def test_tracker_records_probe_entropy_loss_and_sigma(tmp_path) -> None:
    model = tiny()
    tracker = EntropyTracker(PROBE, every=4)
    result = train(model, None, config(tmp_path), callbacks=[tracker], progress=False)
    record = tracker.result()
    assert record.steps.tolist() == [4, 8, 12]
    assert record.loss[-1].item() == pytest.approx(result.losses[11])
    assert record.window_max_loss[1].item() == pytest.approx(max(result.losses[4:8]))
    # the last record against a float64 reference on the final weights
    model.eval()
    _, cache = model.run_with_cache(PROBE, names_filter=lambda n: n.endswith("hook_pattern"))
    for layer in range(2):
        p = cache["pattern", layer].double()
        expected = -(p * p.log()).nan_to_num().sum(-1).mean((0, 2))
        torch.testing.assert_close(record.entropy[-1, layer].double(), expected, atol=1e-4,
                                   rtol=0)  # fmt: skip
        svals = torch.linalg.svdvals(qk_matrices(model, layer))[:, 0]
        torch.testing.assert_close(record.sigma[-1, layer].double(), svals, atol=1e-5, rtol=1e-5)


class StopAt(Callback):
    every = 1

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, step, loss) -> None:
        if step == self.step:
            raise KeyboardInterrupt


def test_resumed_run_records_the_same(tmp_path) -> None:
    whole = EntropyTracker(PROBE, every=3)
    train(tiny(), None, config(tmp_path / "a"), callbacks=[whole], progress=False)
    first = EntropyTracker(PROBE, every=3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), None, config(tmp_path / "b"), callbacks=[first, StopAt(7)], progress=False)
    resumed = EntropyTracker(PROBE, every=3)
    train(tiny(), None, config(tmp_path / "b"), callbacks=[resumed, StopAt(-1)], progress=False)
    assert resumed.steps == whole.steps == [3, 6, 9, 12]
    assert torch.equal(resumed.result().entropy, whole.result().entropy)
    assert resumed.losses == whole.losses


def test_sigma_reparam_training_is_unchanged_by_the_tracker(tmp_path) -> None:
    """The tracker runs in eval mode: sigmaReparam's power iteration is not advanced."""
    plain = train(tiny(reparam="sigma_reparam"), None, config(tmp_path / "a", steps=6),
                  progress=False)  # fmt: skip
    tracked = train(tiny(reparam="sigma_reparam"), None, config(tmp_path / "b", steps=6),
                    callbacks=[EntropyTracker(PROBE, every=2)], progress=False)  # fmt: skip
    assert plain.losses == tracked.losses


def synthetic(entropy: list[list[float]], loss: list[float]) -> EntropyTrainingResult:
    n = len(loss)
    values = torch.tensor(entropy)[:, None, :]  # [record, layer 1, head]
    return EntropyTrainingResult(
        steps=torch.arange(1, n + 1) * 10, loss=torch.tensor(loss),
        window_max_loss=torch.tensor(loss), entropy=values, sigma=torch.ones_like(values),
        every=10, metadata=ResultMetadata(model_name="synthetic", config_hash="-"),
    )  # fmt: skip


def test_find_collapse_names_step_head_and_spike() -> None:
    record = synthetic([[2.0, 2.1], [1.5, 1.9], [0.05, 1.8], [0.01, 1.7]],
                       [5.0, 3.0, 3.9, 3.1])  # fmt: skip
    collapse = find_collapse(record, threshold=0.1)
    assert (collapse.step, collapse.layer, collapse.head) == (30, 0, 0)
    assert collapse.loss_spike and collapse.spike_step == 30
    calm = synthetic([[2.0, 2.1], [0.05, 1.9]], [5.0, 3.0])
    assert not find_collapse(calm, threshold=0.1).loss_spike
    assert find_collapse(calm, threshold=0.01) is None
    with pytest.raises(ValueError, match="threshold"):
        find_collapse(calm, threshold=0)


def test_training_record_json_round_trip(tmp_path) -> None:
    record = synthetic([[2.0, 2.1], [0.05, 1.9]], [5.0, 3.0])
    back = Result.from_json(record.to_json(tmp_path / "r.json"))
    assert torch.equal(back.entropy, record.entropy) and back.every == 10


def test_entropy_vs_length_matches_reference() -> None:
    model = tiny(position="alibi", n_ctx=16).eval()  # ALiBi: no length limit
    tokens = torch.randint(3, 259, (1, 40), generator=torch.Generator().manual_seed(4))
    result = entropy_vs_length(model, tokens, [8, 40])
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    for layer in range(2):
        p = cache["pattern", layer][0].double()
        h = -(p * p.log()).nan_to_num().sum(-1)  # [head, pos]; causal: prefix == shorter run
        torch.testing.assert_close(result.entropy[1, layer].double(), h.mean(-1), atol=1e-4,
                                   rtol=0)  # fmt: skip
        torch.testing.assert_close(result.entropy[0, layer].double(), h[:, :8].mean(-1),
                                   atol=1e-4, rtol=0)  # fmt: skip
        logs = torch.log(torch.arange(2, 41, dtype=torch.float64))
        torch.testing.assert_close(result.normalized_entropy[1, layer].double(),
                                   (h[:, 1:] / logs).mean(-1), atol=1e-4, rtol=0)  # fmt: skip
    assert not math.isnan(float(result.entropy_late.sum()))


def test_entropy_vs_length_bad_inputs() -> None:
    model = tiny()  # learned positions, context 64
    with pytest.raises(ValueError, match="exceeds the model's context \\(64\\)"):
        entropy_vs_length(model, torch.zeros(1, 100, dtype=torch.long), [32, 100])
    with pytest.raises(ValueError, match="fewer than the longest length"):
        entropy_vs_length(model, torch.zeros(1, 10, dtype=torch.long), [8, 32])
    with pytest.raises(ValueError, match="increasing"):
        entropy_vs_length(model, torch.zeros(1, 40, dtype=torch.long), [32, 16])
    with pytest.raises(ValueError, match="needs attention weights"):
        entropy_vs_length(tiny(attention="mamba"), torch.zeros(1, 8, dtype=torch.long), [4])
