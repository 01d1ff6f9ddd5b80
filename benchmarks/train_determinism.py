"""What deterministic CPU training costs: steps/s of the trainer on the default model's config
(`workbench.models.DEFAULT_CONFIG`, batch 16 x 128 bytes as assets/make_default_model.py),
with `TrainConfig(deterministic=True)` (the default) and `False`, and with the embedding as it
was before (`W_E[tokens]`, whose backward accumulates in a thread-dependent order). Each
variant runs `--repeats` times, interleaved, so that load from other processes spreads over
all of them; prints the median steps/s and whether two runs ended bit-identical.

Usage: python benchmarks/train_determinism.py [--threads 2] [--steps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from workbench import Model, ModelConfig
from workbench.core import model as model_module
from workbench.data import load_corpus
from workbench.models import DEFAULT_CONFIG
from workbench.train import TrainConfig, train

FIXED_EMBED = model_module.Embed.forward


def indexing_embed(self, tokens):  # the embedding before the fix
    return self.W_E[tokens]


VARIANTS = {  # name -> (embedding forward, TrainConfig.deterministic)
    "before: W_E[tokens], deterministic off": (indexing_embed, False),
    "F.embedding, deterministic=False": (FIXED_EMBED, False),
    "F.embedding, deterministic=True (default)": (FIXED_EMBED, True),
}


def run(variant: str, steps: int, text: str) -> tuple[float, dict]:
    embed_forward, deterministic = VARIANTS[variant]
    model_module.Embed.forward = embed_forward
    try:
        model = Model(ModelConfig(**DEFAULT_CONFIG))
        cfg = TrainConfig(steps=steps, batch_size=16, seq_len=128, warmup_steps=2, eval_every=0,
                          deterministic=deterministic)  # fmt: skip
        result = train(model, text, cfg, progress=False)
    finally:
        model_module.Embed.forward = FIXED_EMBED
    return steps / result.seconds, model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = load_corpus("train")
    speeds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    states: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name in VARIANTS:
            speed, state = run(name, args.steps, text)
            speeds[name].append(speed)
            states[name].append(state)
    print(f"{args.threads} threads, {args.steps} steps, {args.repeats} runs each (median):")
    for name in VARIANTS:
        first = states[name][0]
        same = all(all(torch.equal(first[k], s[k]) for k in first) for s in states[name][1:])
        print(f"  {name:44s} {statistics.median(speeds[name]):6.2f} steps/s  "
              f"runs bit-identical: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
