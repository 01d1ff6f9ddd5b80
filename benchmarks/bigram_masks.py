"""Mask-training step of a bigram subnetwork search: `torch.func.functional_call` with masked
weights (workbench.analysis.bigram_masks) vs a naive implementation that builds a masked
copy of the whole model every step (deep copy, then each masked weight replaced by
`weight * sigmoid(beta * s)`), same model, batch, scores and optimizer, in one run.

Usage: python benchmarks/bigram_masks.py [--steps 10 --batch 16 --seq 64 --threads 2]
(`--model default`: the embedded default model; `--model 512x4`: a random model of that
width and depth). Peak memory is the first step's, in a fresh subprocess per contender (see
common.py), before the allocator caches anything; steps/s is the median of `--steps` steps
per contender, the contenders' steps alternating in one process after a warm-up step each.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine, peak_memory_mib  # noqa: E402

CONTENDERS = ("functional_call", "naive_masked_copy")


def naive_loss(trainer, tokens: torch.Tensor) -> torch.Tensor:
    """The same loss as `MaskTrainer.loss`, through a masked deep copy of the model."""
    masked = copy.deepcopy(trainer.model)
    masks = trainer.soft_masks()
    for name, mask in masks.items():
        module_name, attr = name.rsplit(".", 1)
        module = masked.get_submodule(module_name)
        delattr(module, attr)  # the Parameter goes; a plain (differentiable) tensor replaces it
        setattr(module, attr, trainer.weights[name] * mask)
    logits = masked(tokens)
    ce = trainer.table.cross_entropy(logits[:, :-1], tokens[:, :-1]).mean()
    density = sum(m.sum() for m in masks.values()) / trainer.n_masks
    return ce + trainer.settings.lam * density


def make_model(size: str):
    import workbench

    if size == "default":
        return workbench.load_default()[0]
    d_model, n_layers = (int(x) for x in size.split("x"))
    cfg = workbench.ModelConfig(d_model=d_model, n_layers=n_layers, n_heads=d_model // 32)
    return workbench.Model(cfg, tokenizer=workbench.load_default()[1])


def make_trainer(args):
    from workbench.analysis.bigram import default_windows
    from workbench.analysis.bigram_masks import MaskSettings, MaskTrainer
    from workbench.analysis.bigram_targets import BigramTable

    model = make_model(args.model)
    tokens = default_windows(model, "train", 64, args.seq)
    table = BigramTable.from_tokens(tokens, model.cfg.d_vocab)
    return MaskTrainer(model, table, tokens, MaskSettings(batch_size=args.batch, lr=0.05))


def step_fn(trainer, batch: torch.Tensor, contender: str):
    def step() -> None:
        trainer.optimizer.zero_grad(set_to_none=True)
        if contender == "functional_call":
            loss = trainer.loss(batch)[0]
        else:
            loss = naive_loss(trainer, batch)
        loss.backward()
        trainer.optimizer.step()

    return step


def setup(args):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as MaskTrainer.run does
    trainer = make_trainer(args)
    return trainer, trainer.batch(0)


def child_memory(args, contender: str) -> float:
    """Peak RSS growth of the first step, before the allocator caches anything."""
    trainer, batch = setup(args)
    return peak_memory_mib(step_fn(trainer, batch, contender))


def interleaved_seconds(args) -> dict[str, float]:
    """Median step time of each contender, their steps alternating in one process, so a
    busy machine slows both alike."""
    trainer, batch = setup(args)
    steps = {c: step_fn(trainer, batch, c) for c in CONTENDERS}
    for step in steps.values():
        step()  # warm-up
    times: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    for _ in range(args.steps):
        for contender, step in steps.items():
            start = time.perf_counter()
            step()
            times[contender].append(time.perf_counter() - start)
    return {c: statistics.median(t) for c, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default", help="default | <d_model>x<n_layers>")
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_memory(args, args.child)))
        return
    peaks = {}
    for contender in CONTENDERS:
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--child", contender],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        peaks[contender] = json.loads(out.stdout.strip().splitlines()[-1])
    seconds = interleaved_seconds(args)
    model = make_model(args.model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"machine: {machine()}; model {args.model} ({n_params} parameters), "
          f"batch {args.batch} x {args.seq} tokens, {args.steps} timed steps each")  # fmt: skip
    print("| implementation | steps/s | peak memory of the first step (MiB) |")
    print("| --- | --- | --- |")
    for contender in CONTENDERS:
        print(f"| {contender} | {1 / seconds[contender]:.2f} | {peaks[contender]:.1f} |")


if __name__ == "__main__":
    main()
