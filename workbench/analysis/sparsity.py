"""Activation sparsity per MLP layer (Li et al. 2023, "The Lazy Neuron Phenomenon", ICLR 2023).

The paper's metric: for each token entering an MLP, the fraction of nonzero entries of the
post-activation, averaged over tokens, per layer. Here, per layer, over every real token:
the mean and std of that fraction, its exact distribution over tokens (`active_hist[l, c]`
= tokens on which exactly `c` neurons fire, so quantiles are exact, with no token list kept),
and per neuron the exact number of tokens on which it fires (`fire_count`): dead neurons
never fire, always-on neurons fire on every token. Everything comes from `collect_stats`
(fused MLP kernels, padding excluded, never a `[tokens, d_mlp]` tensor for the corpus).

A neuron fires when |activation| > threshold. ReLU-family MLPs (exact zeros) use threshold 0,
the paper's "nonzero"; GELU, SiLU and GLU MLPs have no exact zeros and need an explicit
`mlp_threshold`; the result then reports a *thresholded* fraction and says so in its
`metric_label` (which every figure and view shows).

Example:
    >>> result = compute(model)                          # embedded validation corpus
    >>> result.nonzero_frac                              # [layer], fraction of d_mlp
    >>> result.n_dead, result.n_always_on                # [layer] neuron counts
    >>> result = compute(model, "the old dog sat")       # + result.per_position [layer, pos]
    >>> compute(minilm, texts, mlp_threshold=0.01)       # GELU: thresholded, labelled
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.analysis.entropy import single_text_tokens
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens
from workbench.core.collect import collect_stats
from workbench.core.summary import StatsSummary

STATS = ("mlp.nonzero_frac", "mlp.fire_count")
QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SparsityResult(Result):
    """Per-layer activation sparsity over real tokens, per-neuron firing counts; for a single
    text also the number of firing neurons per token (`per_position`)."""

    nonzero_frac: Float[Tensor, "layer"]
    nonzero_frac_std: Float[Tensor, "layer"]
    active_hist: Int[Tensor, "layer count"]  # count = 0..d_mlp firing neurons on a token
    quantile_levels: list[float]
    quantiles: Float[Tensor, "layer quantile"]  # of the per-token fraction (exact)
    fire_count: Int[Tensor, "layer d_mlp"]
    n_tokens: int
    threshold: float
    exact_zeros: bool
    per_position: Int[Tensor, "layer pos"] | None = None
    str_tokens: list[str] | None = None

    @property
    def d_mlp(self) -> int:
        return int(self.fire_count.shape[1])

    @property
    def firing_frequency(self) -> Float[Tensor, "layer d_mlp"]:
        """Fraction of the corpus's tokens on which each neuron fires."""
        return self.fire_count.double() / max(self.n_tokens, 1)

    @property
    def dead(self) -> Bool[Tensor, "layer d_mlp"]:
        return self.fire_count == 0

    @property
    def always_on(self) -> Bool[Tensor, "layer d_mlp"]:
        return self.fire_count == self.n_tokens

    @property
    def n_dead(self) -> Int[Tensor, "layer"]:
        return self.dead.sum(1)

    @property
    def n_always_on(self) -> Int[Tensor, "layer"]:
        return self.always_on.sum(1)

    @property
    def metric_label(self) -> str:
        """What the fraction counts, for every figure title and axis."""
        return metric_label(self.threshold, self.exact_zeros)


def metric_label(threshold: float, exact_zeros: bool) -> str:
    if exact_zeros and threshold == 0:
        return "nonzero fraction (|a| > 0)"
    return f"thresholded fraction (|a| > {threshold:g})"


def exact_histogram_quantiles(
    hist: Int[Tensor, "layer count"], levels: tuple[float, ...], d_mlp: int
) -> Float[Tensor, "layer quantile"]:
    """Quantiles of the per-token fraction `c / d_mlp` from exact counts: the smallest `c`
    whose cumulative share reaches the level (numpy's "inverted_cdf" method)."""
    cumulative = hist.double().cumsum(1)
    total = cumulative[:, -1:].clamp(min=1)
    target = torch.tensor(levels, dtype=torch.float64)[None, :] * total
    index = torch.searchsorted(cumulative.contiguous(), target.contiguous())
    return (index.clamp(max=d_mlp).double() / d_mlp).float()


class _CountingActive:
    """`model` whose `run_with_stats` also folds each batch's per-token firing counts (real
    tokens only) into an exact `[layer, d_mlp + 1]` histogram, beside `collect_stats`."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.hist: Tensor | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run_with_stats(self, tokens: Tensor, stats, attention_mask=None, mlp_threshold=None):
        result = self._model.run_with_stats(tokens, stats, attention_mask=attention_mask,
                                            mlp_threshold=mlp_threshold)  # fmt: skip
        d_mlp = result["mlp.fire_count", 0].shape[-1]
        real = None if result.token_mask is None else result.token_mask.cpu()
        counts = []
        for layer in range(result.n_layers):
            frac = result["mlp.nonzero_frac", layer].cpu().double()
            frac = frac.flatten() if real is None else frac[real]
            # The kernels' fraction is (integer count) / d_mlp in float32: rounding recovers it.
            active = (frac * d_mlp).round().long()
            counts.append(torch.bincount(active, minlength=d_mlp + 1))
        batch_hist = torch.stack(counts)
        self.hist = batch_hist if self.hist is None else self.hist + batch_hist
        return result


def firing_threshold(model: Any, mlp_threshold: float | None) -> tuple[float, bool]:
    """(threshold, exact_zeros): threshold 0 for ReLU-family MLPs; otherwise the caller's,
    required (the model's error names the layer and suggests a value)."""
    offered = model.supported_stats()["mlp"]
    without = [f"blocks.{i}" for i in model.layers_without_mlp()]
    if without:
        raise ValueError(f"activation sparsity needs MLPs; {', '.join(without)} have none")
    if not set(s.partition(".")[2] for s in STATS) <= set(offered):
        raise ValueError(
            f"this model's MLPs offer no firing statistics (they offer {sorted(offered) or 'none'})"
        )
    try:
        model.check_mlp_threshold(None)
        exact_zeros = True
    except ValueError:
        exact_zeros = False
    model.check_mlp_threshold(mlp_threshold)  # raises for no-exact-zero MLPs without one
    return (0.0 if mlp_threshold is None else float(mlp_threshold)), exact_zeros


def from_summary(
    summary: StatsSummary,
    active_hist: Int[Tensor, "layer count"],
    *,
    exact_zeros: bool,
    options: dict[str, Any] | None = None,
    data_description: str = "",
    per_position: Tensor | None = None,
    str_tokens: list[str] | None = None,
) -> SparsityResult:
    """The result of a `collect_stats` summary of `STATS` and the exact per-token histogram."""
    missing = [name for name in STATS if name not in summary.names]
    if missing:
        raise ValueError(f"the summary lacks {missing} (it holds {summary.names})")
    fire_count = summary.fire_counts["mlp.fire_count"]
    if int(active_hist[0].sum()) != summary.tokens:
        raise ValueError(
            f"the histogram counts {int(active_hist[0].sum())} tokens, the summary {summary.tokens}"
        )
    threshold = summary.meta.get("mlp_threshold")
    threshold = 0.0 if threshold is None else float(threshold)
    fingerprints = "+".join(part["fingerprint"] for part in summary.meta.get("data", []))
    metadata = ResultMetadata(
        model_name=str(summary.meta.get("model")),
        config_hash=str(summary.meta.get("config_hash")),
        options={
            **(options or {}),
            "threshold": threshold,
            "exact_zeros": exact_zeros,
            "metric": metric_label(threshold, exact_zeros),
        },  # fmt: skip
        data_fingerprint=fingerprints or None,
        n_tokens=summary.tokens,
        data_description=data_description,
    )
    return SparsityResult(
        nonzero_frac=summary.mean("mlp.nonzero_frac").float(),
        nonzero_frac_std=summary.std("mlp.nonzero_frac").float(),
        active_hist=active_hist,
        quantile_levels=list(QUANTILE_LEVELS),
        quantiles=exact_histogram_quantiles(active_hist, QUANTILE_LEVELS, fire_count.shape[1]),
        fire_count=fire_count.clone(),
        n_tokens=summary.tokens,
        threshold=threshold,
        exact_zeros=exact_zeros,
        per_position=per_position,
        str_tokens=str_tokens,
        metadata=metadata,
    )


def active_per_position(
    model: Any, tokens: Int[Tensor, "1 pos"], mlp_threshold: float | None
) -> Int[Tensor, "layer pos"]:
    """Number of firing neurons at each position of one text, per layer."""
    stats = model.run_with_stats(tokens, ["mlp.nonzero_frac", "mlp.fire_count"],
                                 mlp_threshold=mlp_threshold)  # fmt: skip
    d_mlp = stats["mlp.fire_count", 0].shape[-1]
    return (stats["mlp.nonzero_frac"][:, 0].cpu().double() * d_mlp).round().long()


def compute(
    model: Any,
    data: Int[Tensor, "batch pos"] | str | list[str] | None = None,
    *,
    mlp_threshold: float | None = None,
    batch_size: int = 8,
    seq_len: int | None = None,
    max_tokens: int | None = None,
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    progress: bool = True,
) -> SparsityResult:
    """Activation sparsity of `model` on `data` (default: 16 x 128 tokens of the embedded
    validation corpus). A single string without `seq_len` is one sequence and also gives
    `per_position` (firing neurons per token); with `seq_len` it is cut into windows.
    `mlp_threshold`: required for MLPs without exact zeros (GELU, SiLU, GLU)."""
    threshold, exact_zeros = firing_threshold(model, mlp_threshold)  # refuse before tokenizing
    description, per_position, str_tokens = "given token ids", None, None
    if data is None:
        n_ctx = model.pos_embed.max_len or 128
        data = corpus_tokens(model, n_sequences=16, seq_len=min(128, n_ctx))
        description = "embedded validation corpus"
    elif isinstance(data, str) and seq_len is None:
        data = single_text_tokens(model, data)
        per_position = active_per_position(model, data, mlp_threshold)
        str_tokens, description = model.to_str_tokens(data[0]), "one text"
    elif isinstance(data, str | list):
        description = "given text" if isinstance(data, str) else f"{len(data)} given texts"
    counting = _CountingActive(model)
    summary = collect_stats(
        counting, data, list(STATS), batch_size=batch_size, seq_len=seq_len,
        max_tokens=max_tokens, attention_mask=attention_mask, mlp_threshold=mlp_threshold,
        progress=progress,
    )  # fmt: skip
    options = {"batch_size": batch_size, "seq_len": seq_len, "max_tokens": max_tokens}
    return from_summary(
        summary, counting.hist, exact_zeros=exact_zeros, options=options,
        per_position=per_position, str_tokens=str_tokens,
        data_description=f"{description}, {summary.sequences} sequences, {summary.tokens} tokens",
    )  # fmt: skip


def report_section(report: Any, result: SparsityResult) -> None:
    """Heading, prose, the per-layer figure and a table."""
    report.add_markdown(
        "## Activation sparsity (Li et al. 2023, The Lazy Neuron Phenomenon)\n"
        f"Per MLP layer, the {result.metric_label} of neurons firing on each token, averaged "
        f"over {result.n_tokens} tokens ({result.metadata.data_description}), from "
        "`collect_stats`. Dead neurons never fire on these tokens; always-on neurons fire on "
        "every one. The paper reports 3.0% nonzero for T5-Base and 6.3% for ViT-B/16."
    )
    report.add_result(
        result, caption=f"Per-layer MLP {result.metric_label}, quantiles over tokens."
    )
    median = result.quantile_levels.index(0.5)
    rows = [
        (layer, f"{100 * float(result.nonzero_frac[layer]):.2f}%",
         f"{100 * float(result.quantiles[layer, median]):.2f}%",
         int(result.n_dead[layer]), int(result.n_always_on[layer]))
        for layer in range(len(result.nonzero_frac))
    ]  # fmt: skip
    header = ["layer", f"mean {result.metric_label}", "median over tokens", "dead neurons",
              "always-on neurons"]  # fmt: skip
    report.add_table(rows, header=header)


register_analysis("activation_sparsity", compute, report_section)
