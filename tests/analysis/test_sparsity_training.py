"""SparsityTracker: the record against float64 sparsity from hook_post on the final weights,
resume equals an uninterrupted run, JSON round trip."""

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis.result import Result
from workbench.analysis.sparsity_training import SparsityTracker, SparsityTrainingResult
from workbench.train import TrainConfig, train
from workbench.train.callbacks import Callback


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, seed=0, mlp="relu")
    return Model(ModelConfig(**{**fields, **overrides}))


PROBE = torch.randint(3, 259, (2, 16), generator=torch.Generator().manual_seed(0))
MASK = torch.ones(2, 16, dtype=torch.bool)
MASK[1, 10:] = False


def config(tmp_path, steps=12) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=4, seq_len=32, lr=3e-3, warmup_steps=0,
                       eval_every=0, checkpoint_every=6, checkpoint_dir=str(tmp_path))  # fmt: skip


def test_tracker_matches_hook_post_on_final_weights(tmp_path) -> None:
    model = tiny()
    tracker = SparsityTracker(PROBE, every=4, attention_mask=MASK)
    result = train(model, None, config(tmp_path), callbacks=[tracker], progress=False)
    record = tracker.result()
    assert record.steps.tolist() == [4, 8, 12]
    assert record.loss[-1].item() == pytest.approx(result.losses[11])
    model.eval()
    _, cache = model.run_with_cache(PROBE, attention_mask=MASK,
                                    names_filter=lambda n: n.endswith("mlp.hook_post"))  # fmt: skip
    for layer in range(2):
        on = (cache[f"blocks.{layer}.mlp.hook_post"].double() > 0)[MASK]  # [real, d_mlp]
        torch.testing.assert_close(record.nonzero_frac[-1, layer].double(),
                                   on.double().mean(), atol=1e-6, rtol=0)  # fmt: skip
        dead = (on.sum(0) == 0).double().mean()
        torch.testing.assert_close(record.dead_frac[-1, layer].double(), dead)
    assert record.exact_zeros and record.metric_label == "nonzero fraction (|a| > 0)"


class StopAt(Callback):
    every = 1

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, step, loss) -> None:
        if step == self.step:
            raise KeyboardInterrupt


def test_resumed_run_records_the_same_curve(tmp_path) -> None:
    whole = SparsityTracker(PROBE, every=3)
    train(tiny(), None, config(tmp_path / "a"), callbacks=[whole], progress=False)
    first = SparsityTracker(PROBE, every=3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), None, config(tmp_path / "b"), callbacks=[first, StopAt(7)], progress=False)
    resumed = SparsityTracker(PROBE, every=3)
    train(tiny(), None, config(tmp_path / "b"), callbacks=[resumed, StopAt(-1)], progress=False)
    assert resumed.steps == whole.steps == [3, 6, 9, 12]
    assert torch.equal(resumed.result().nonzero_frac, whole.result().nonzero_frac)
    assert resumed.losses == whole.losses


def test_gelu_needs_threshold_and_json_round_trip(tmp_path) -> None:
    cfg = TrainConfig(steps=2, batch_size=2, seq_len=16, eval_every=0)
    with pytest.raises(ValueError, match="mlp_threshold"):
        train(tiny(mlp="gelu"), None, cfg, callbacks=[SparsityTracker(PROBE, every=1)],
              progress=False)  # fmt: skip
    tracker = SparsityTracker(PROBE, every=1, mlp_threshold=0.05)
    train(tiny(mlp="gelu"), None, cfg, callbacks=[tracker], progress=False)
    record = tracker.result()
    assert record.metric_label == "thresholded fraction (|a| > 0.05)"
    loaded = Result.from_json(record.to_json(tmp_path / "r.json"))
    assert isinstance(loaded, SparsityTrainingResult)
    assert torch.equal(loaded.nonzero_frac, record.nonzero_frac) and loaded.threshold == 0.05


def test_emergence_view_and_figure_show_the_record(tmp_path) -> None:
    tracker = SparsityTracker(PROBE, every=2)
    train(tiny(), None, config(tmp_path, steps=4), callbacks=[tracker], progress=False)
    record = tracker.result()
    box = record.widget()
    assert box.curve.array.shape == (2, 2)
    torch.testing.assert_close(torch.tensor(box.curve.array.copy()), record.nonzero_frac.T)
    fig = record.figure()
    assert "nonzero fraction (|a| > 0)" in fig.layout.title.text
    torch.testing.assert_close(
        torch.tensor(fig.data[0].y), 100 * record.nonzero_frac[:, 0].double()
    )
