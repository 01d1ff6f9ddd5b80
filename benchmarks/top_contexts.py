"""Top activating contexts over 10^5 and 10^6 tokens: wall time and peak memory.

A tiny ReLU model (d_model 64, 2 layers, d_mlp 256) reads random token batches generated one
at a time (16 x 128 tokens each), so nothing but the running top-k state (`[layer, d_mlp, k]`
values, keys and windows) can grow with the corpus; peak resident memory above the start
level is read from the kernel (see common.py). Memory must not grow with the corpus.

Usage: python benchmarks/top_contexts.py [--tokens 100000 1000000] [--k 16] [--window 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import machine, peak_memory_mib  # noqa: E402

from workbench import Model, ModelConfig  # noqa: E402
from workbench.analysis.top_contexts import TopContexts, update_from_batch  # noqa: E402

BATCH, SEQ_LEN = 16, 128


def collect(model: Model, n_tokens: int, k: int, window: int) -> TopContexts:
    cfg = model.cfg
    state = TopContexts.empty(cfg.n_layers, cfg.d_mlp, k, window)
    generator = torch.Generator().manual_seed(0)
    for _ in range(-(-n_tokens // (BATCH * SEQ_LEN))):
        tokens = torch.randint(3, cfg.d_vocab, (BATCH, SEQ_LEN), generator=generator)
        update_from_batch(model, state, tokens)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = ModelConfig(d_model=64, n_layers=2, n_heads=2, d_mlp=256, d_vocab=259, n_ctx=SEQ_LEN,
                      mlp="relu", seed=0)  # fmt: skip
    model = Model(cfg).eval()
    collect(model, BATCH * SEQ_LEN, args.k, args.window)  # warm-up
    print(machine())
    print(f"model d_model 64, 2 layers, d_mlp 256; k={args.k}, window +-{args.window}; "
          f"batches of {BATCH} x {SEQ_LEN}")  # fmt: skip
    state_mib = None
    for n_tokens in args.tokens:
        start = time.perf_counter()
        holder: dict = {}
        peak = peak_memory_mib(lambda n=n_tokens, holder=holder: holder.setdefault(
            "s", collect(model, n, args.k, args.window)))  # fmt: skip
        seconds = time.perf_counter() - start
        state = holder["s"]
        state_mib = sum(t.numel() * t.element_size()
                        for t in (state.values, state.keys, state.windows)) / 2**20  # fmt: skip
        print(f"{state.tokens:>9} tokens: {seconds:6.1f} s ({state.tokens / seconds:,.0f} tok/s), "
              f"peak memory +{peak:.1f} MiB")  # fmt: skip
    print(f"running state: {state_mib:.2f} MiB (independent of the corpus)")


if __name__ == "__main__":
    main()
