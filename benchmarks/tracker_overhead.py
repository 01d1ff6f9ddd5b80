"""Overhead of a training-curve tracker callback: wall time with the tracker / without it.

Shared by `entropy_tracker.py` and `sparsity_tracker.py`. Trains the default model's
architecture (3 layers, d_model 128, 4 heads; batch 16 x 128 tokens, one thread) for
`--steps` steps, alternating runs with and without the tracker (`--every`, default 25; probe
4 x 128 tokens), and prints each run's seconds and the ratio of the medians. On a shared
machine whole-run times drift with the load, so each tracked run also times the tracker's
own calls: overhead = tracker seconds / (run seconds - tracker seconds), measured within the
same run. Target: <= 5%.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench import Model, ModelConfig
from workbench.analysis.entropy_collapse import probe_batch
from workbench.models import DEFAULT_CONFIG
from workbench.train import TrainConfig, train


def timed(tracker_class: type) -> type:
    """`tracker_class` with the seconds spent in its calls added up (`.seconds`)."""

    class Timed(tracker_class):
        seconds = 0.0

        def on_step_end(self, trainer, step, loss) -> None:
            started = time.perf_counter()
            super().on_step_end(trainer, step, loss)
            self.seconds += time.perf_counter() - started

    return Timed


def one_run(tracker: type | None, steps: int, every: int) -> tuple[float, float]:
    """(run seconds, seconds inside the tracker); `tracker` None: no callback."""
    model = Model(ModelConfig(**DEFAULT_CONFIG))
    callbacks = [] if tracker is None else [tracker(probe_batch(128), every=every)]
    cfg = TrainConfig(steps=steps, batch_size=16, seq_len=128, lr=1e-3, eval_every=0)
    seconds = train(model, None, cfg, callbacks=callbacks, progress=False).seconds
    return seconds, callbacks[0].seconds if callbacks else 0.0


def main(tracker_class: type, description: str, steps: int, repeats: int) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=repeats)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tracker = timed(tracker_class)
    one_run(tracker, 5, args.every)  # warm-up: corpus loading and first-call costs
    without, with_tracker, inside = [], [], []
    for i in range(args.repeats):
        without.append(one_run(None, args.steps, args.every)[0])
        seconds, tracker_seconds = one_run(tracker, args.steps, args.every)
        with_tracker.append(seconds)
        inside.append(tracker_seconds / (seconds - tracker_seconds))
        print(f"repeat {i}: without {without[-1]:.2f} s, with {seconds:.2f} s "
              f"(tracker {tracker_seconds:.2f} s = {inside[-1]:.1%} of training)")  # fmt: skip
    ratio = statistics.median(with_tracker) / statistics.median(without)
    print(
        f"{args.steps} steps, every={args.every}: median ratio with/without = {ratio:.3f}; "
        f"median tracker overhead within tracked runs = {statistics.median(inside):.1%}"
    )
