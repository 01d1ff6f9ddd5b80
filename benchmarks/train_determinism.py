"""What deterministic CPU training costs: steps/s of the trainer on the default model's config
(`workbench.models.DEFAULT_CONFIG`, batch 16 x 128 bytes as assets/make_default_model.py),
with `TrainConfig(deterministic=True)` (the default) and `False`, with torch's deterministic
mode as it comes (NaN fill of every `torch.empty` on), and with the embedding as it was before
(`W_E[tokens]`, whose backward accumulates in a thread-dependent order).

Each variant runs `--repeats` times, interleaved, so that load from other processes spreads
over all of them. Every step is timed (the first of each run left out, as warm-up); prints
steps/s from the fastest step (the least disturbed by other processes) and from the median
step, and whether the runs of a variant ended bit-identical.

Usage: python benchmarks/train_determinism.py [--threads 2] [--steps 6] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench import Model, ModelConfig
from workbench.core import model as model_module
from workbench.data import load_corpus
from workbench.models import DEFAULT_CONFIG
from workbench.train import Callback, TrainConfig, train

FIXED_EMBED = model_module.Embed.forward


def indexing_embed(self, tokens):  # the embedding before the fix
    return self.W_E[tokens]


VARIANTS = {  # name -> (embedding forward, TrainConfig.deterministic, torch's own mode)
    "before: W_E[tokens], deterministic off": (indexing_embed, False, False),
    "F.embedding, deterministic=False": (FIXED_EMBED, False, False),
    "F.embedding, deterministic=True (default)": (FIXED_EMBED, True, False),
    "F.embedding, torch deterministic + NaN fill": (FIXED_EMBED, False, True),
}


class StepTimes(Callback):
    def __init__(self) -> None:
        self.stamps = [time.perf_counter()]

    def on_step_end(self, trainer, step, loss) -> None:
        self.stamps.append(time.perf_counter())

    def seconds(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps[1:-1], self.stamps[2:], strict=True)]


def run(variant: str, steps: int, text: str) -> tuple[list[float], dict]:
    embed_forward, deterministic, torch_mode = VARIANTS[variant]
    model_module.Embed.forward = embed_forward
    torch.use_deterministic_algorithms(torch_mode)  # fill_uninitialized_memory: torch's default
    try:
        model, times = Model(ModelConfig(**DEFAULT_CONFIG)), StepTimes()
        cfg = TrainConfig(steps=steps, batch_size=16, seq_len=128, warmup_steps=2, eval_every=0,
                          deterministic=deterministic)  # fmt: skip
        train(model, text, cfg, callbacks=[times], progress=False)
    finally:
        model_module.Embed.forward = FIXED_EMBED
        torch.use_deterministic_algorithms(False)
    return times.seconds(), model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = load_corpus("train")
    step_seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    states: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name in VARIANTS:
            seconds, state = run(name, args.steps, text)
            step_seconds[name] += seconds
            states[name].append(state)
    print(f"{args.threads} threads, {args.repeats} runs of {args.steps} steps each; steps/s from")
    print(f"  {'':46s} {'fastest':>8s} {'median':>8s}  runs bit-identical")
    for name in VARIANTS:
        first = states[name][0]
        same = all(all(torch.equal(first[k], s[k]) for k in first) for s in states[name][1:])
        fastest, median = 1 / min(step_seconds[name]), 1 / statistics.median(step_seconds[name])
        print(f"  {name:46s} {fastest:8.2f} {median:8.2f}  {same}")


if __name__ == "__main__":
    main()
