"""The numbers of docs/overview.md: the statistics overview of the default model and of MiniLM.

Usage: python docs/overview/make_numbers.py   (prints markdown tables; one thread)
"""

from __future__ import annotations

import torch

from workbench.adapters import load_minilm
from workbench.analysis import overview
from workbench.models import load_default


def table(result, name: str) -> str:
    rows = [
        f"| {layer} | {result.entropy[layer].mean():.3f} | {result.entropy[layer].min():.3f} - "
        f"{result.entropy[layer].max():.3f} | {result.max_weight[layer].mean():.3f} | "
        f"{result.sink[layer].mean():.3f} | {result.n_eff[layer].mean():.1f} | "
        f"{100 * result.mlp_nonzero_frac[layer]:.1f}% |"
        for layer in range(result.entropy.shape[0])
    ]
    header = (
        f"**{name}** ({result.metadata.n_tokens} tokens, {result.metadata.data_description})\n\n"
        "| layer | entropy (mean over heads) | range over heads | max weight | sink | n_eff | "
        "MLP firing |\n|---|---|---|---|---|---|---|"
    )
    return header + "\n" + "\n".join(rows)


def main() -> None:
    torch.set_num_threads(1)
    print(table(overview.compute(load_default()[0]), "default model"))
    print()
    minilm = overview.compute(load_minilm(), mlp_threshold=0.1)
    print(table(minilm, "MiniLM (GELU; firing = |activation| > 0.1)"))


if __name__ == "__main__":
    main()
