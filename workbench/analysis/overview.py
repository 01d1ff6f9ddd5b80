"""Statistics overview: the attention and MLP statistics of every layer and head at a glance.

Per layer and head: mean attention entropy (nats, Zhai et al. 2023), mean maximum weight,
mean weight on key 0 ("sink") and mean effective number of keys `1 / sum_j A_ij^2`; per
layer: the mean fraction of MLP neurons above the threshold (Li et al. 2023). Means run over
every query position of every sequence, accumulated in float64. They come from
`model.run_with_stats` (instrumented kernels, no `[query, key]` tensors kept).

Example:
    >>> result = compute(model)              # the embedded validation corpus, 16 x 128 tokens
    >>> result.entropy.shape, result.mlp_nonzero_frac.shape
    (torch.Size([3, 4]), torch.Size([3]))
    >>> result                               # in a notebook: the interactive view
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens, prepare_tokens, run_batches

ATTN_STATS = ("entropy", "max_weight", "sink", "n_eff")


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class StatsOverviewResult(Result):
    """Means over all query positions: `[layer, head]` attention, `[layer]` MLP."""

    entropy: Float[Tensor, "layer head"]
    max_weight: Float[Tensor, "layer head"]
    sink: Float[Tensor, "layer head"]
    n_eff: Float[Tensor, "layer head"]
    mlp_nonzero_frac: Float[Tensor, "layer"]
    n_nonfinite: dict[str, int]


def _batch_sums(model: Any, tokens: Tensor, mask: Tensor, mlp_threshold: float) -> dict:
    if not bool(mask.all()):
        # run_with_stats has no padding mask yet: padded positions would enter the means.
        raise NotImplementedError(
            "the statistics overview does not take padded batches yet; pass equal-length "
            "sequences (collect_stats with padding masks replaces this)"
        )
    names = [f"attn.{s}" for s in ATTN_STATS] + ["mlp.nonzero_frac"]
    stats = model.run_with_stats(tokens, names, mlp_threshold=mlp_threshold)
    sums = {}
    for name in names:
        values = stats[name].double()  # attn: [layer, batch, head, pos]; mlp: [layer, batch, pos]
        dims = (1, 3) if name.startswith("attn.") else (1, 2)
        sums[name] = values.sum(dims).cpu()
        sums[f"{name}:nonfinite"] = int((~torch.isfinite(values)).sum())
    return sums


def compute(
    model: Any,
    data: Int[Tensor, "batch pos"] | str | list[str] | None = None,
    *,
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    batch_size: int = 8,
    n_sequences: int = 16,
    seq_len: int = 128,
    mlp_threshold: float = 0.0,
) -> StatsOverviewResult:
    """Overview of `data` (default: `n_sequences` windows of `seq_len` tokens of the embedded
    validation corpus). Non-finite statistics are not dropped: they make the mean NaN/inf and
    are counted in `n_nonfinite`."""
    description = {type(None): "embedded validation corpus", str: "given text", list: "given texts"}
    description = description.get(type(data), "given token ids")
    if data is None:
        data = corpus_tokens(model, n_sequences=n_sequences, seq_len=min(seq_len, _n_ctx(model)))
    tokens, mask = prepare_tokens(model, data, attention_mask)
    parts = run_batches(
        model,
        tokens,
        lambda t, m: _batch_sums(model, t, m, mlp_threshold),
        batch_size=batch_size,
        desc="stats overview",
        mask=mask,
    )
    n_queries = tokens.shape[0] * tokens.shape[1]
    means = {name: sum(p[name] for p in parts) / n_queries for name in parts[0] if ":" not in name}
    meta = ResultMetadata.from_model(
        model,
        tokens=tokens,
        attention_mask=mask,
        options={"batch_size": batch_size, "mlp_threshold": mlp_threshold, "stats": ATTN_STATS},
        data_description=f"{description}, {tokens.shape[0]} x {tokens.shape[1]} tokens",
    )
    return StatsOverviewResult(
        **{s: means[f"attn.{s}"].float() for s in ATTN_STATS},
        mlp_nonzero_frac=means["mlp.nonzero_frac"].float(),
        n_nonfinite={k: sum(p[f"{k}:nonfinite"] for p in parts) for k in means},
        metadata=meta,
    )


def _n_ctx(model: Any) -> int:
    n_ctx = getattr(getattr(model, "cfg", None), "n_ctx", None)
    return n_ctx if n_ctx else 10**9


def report_section(report: Any, result: StatsOverviewResult) -> None:
    """Heading, prose, the figure and a per-layer table."""
    report.add_markdown(
        "## Statistics overview\n"
        f"Means over {result.metadata.n_tokens} query positions "
        f"({result.metadata.data_description}), from `run_with_stats`: the instrumented "
        "attention kernels never keep a `[query, key]` tensor."
    )
    report.add_result(result, caption="Attention entropy, max weight, sink and n_eff per head.")
    rows = [
        (layer, float(result.entropy[layer].mean()), float(result.mlp_nonzero_frac[layer]))
        for layer in range(result.entropy.shape[0])
    ]
    report.add_table(rows, header=["layer", "mean entropy (nats)", "MLP nonzero fraction"])
    bad = {name: n for name, n in result.n_nonfinite.items() if n}
    if bad:
        report.add_markdown(f"**Non-finite statistics** (they make the means NaN/inf): {bad}")


register_analysis("stats_overview", compute, report_section)
