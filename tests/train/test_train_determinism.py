"""Deterministic CPU training with 2 threads: identical runs, and a resumed run equal to an
uninterrupted one, bit for bit.

The sizes matter: an embedding gradient of batch x seq x d_model >= 32768 values is where
torch's CPU index accumulation goes parallel (and, before the fix, differed between two runs
in 3 out of 3 tries at these settings: docs/reliability.md)."""

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.train import Callback, TrainConfig, train

MODEL = ModelConfig(n_layers=1, d_model=64, n_heads=2, n_ctx=64)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _cfg(tmp_path=None, **overrides) -> TrainConfig:
    values = dict(steps=4, batch_size=16, seq_len=64, warmup_steps=1, eval_every=2,
                  eval_batches=1)  # fmt: skip
    if tmp_path is not None:
        values.update(checkpoint_dir=str(tmp_path), checkpoint_every=2)
    return TrainConfig(**{**values, **overrides})


def _assert_bitwise_equal(a: Model, b: Model) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_two_runs_with_two_threads_end_bit_identical(two_threads, small_text):
    assert torch.get_num_threads() == 2
    first, second = Model(MODEL), Model(MODEL)
    result_a = train(first, small_text, _cfg(), progress=False)
    result_b = train(second, small_text, _cfg(), progress=False)
    _assert_bitwise_equal(first, second)
    assert result_a.losses == result_b.losses and result_a.eval_losses == result_b.eval_losses
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is given back


def test_a_resumed_run_equals_an_uninterrupted_one_with_two_threads(
    two_threads, small_text, tmp_path
):
    straight = Model(MODEL)
    train(straight, small_text, _cfg(tmp_path / "straight"), progress=False)

    class Stop(Callback):
        def on_step_end(self, trainer, step, loss):
            if step == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(Model(MODEL), small_text, _cfg(tmp_path / "cut"), callbacks=[Stop()], progress=False)
    resumed = Model(MODEL)
    with torch.no_grad():  # other initial weights: all must come from disk
        for param in resumed.parameters():
            param.add_(1.0)
    result = train(resumed, small_text, _cfg(tmp_path / "cut"), progress=False)
    assert result.steps == 4
    _assert_bitwise_equal(straight, resumed)


def test_deterministic_false_opts_out_and_restores_the_setting(small_text):
    seen = []

    class Record(Callback):
        def on_step_end(self, trainer, step, loss):
            seen.append(torch.are_deterministic_algorithms_enabled())

    train(Model(MODEL), small_text, _cfg(steps=1, eval_every=0), callbacks=[Record()],
          progress=False)  # fmt: skip
    cfg = _cfg(steps=1, eval_every=0, deterministic=False)
    train(Model(MODEL), small_text, cfg, callbacks=[Record()], progress=False)
    assert seen == [True, False]
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory  # torch's default, given back
