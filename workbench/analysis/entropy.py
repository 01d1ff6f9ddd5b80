"""Attention entropy per layer and head (Zhai et al. 2023, "Stabilizing Transformer Training by
Preventing Attention Entropy Collapse", ICML 2023).

Per layer and head, over every real query position of the data: the mean entropy
`H_i = -sum_j A_ij log A_ij` (nats), the mean *normalized* entropy `H_i / log(n_i)` (`n_i` =
keys query `i` sees: `i + 1` in a causal model, the sequence's real length in an encoder;
queries with a single key have no normalized entropy and are left out of that mean), and the
mean max weight, sink mass (weight on key 0) and effective number of keys. Everything comes
from `collect_stats` (instrumented kernels, padding excluded, never a `[query, key]` tensor).
For a single text the per-position entropy `[layer, head, pos]` is kept as well.

Every attention kind that offers `attn.entropy` works (softmax, sigmoid: entropy of its
row-normalised weights, clipped: entropy of its unclipped softmax, as the kernels report it,
gated); statistics a kind does not offer are NaN and absent
from `stats_available`.

Example:
    >>> result = compute(model)                       # the embedded validation corpus
    >>> result.entropy.shape                          # [layer, head], nats
    >>> result = compute(model, "the old dog sat")    # + result.per_position [layer, head, pos]
    >>> summary = collect_entropy_stats(model, texts); summary.save("h.safetensors")
    >>> EntropyResult.from_summary(StatsSummary.load("h.safetensors"))
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens
from workbench.core.collect import collect_stats
from workbench.core.stats import Stats
from workbench.core.summary import StatsSummary

HEAD_STATS = ("entropy", "max_weight", "sink", "n_eff")
NORMALIZED = "attn.normalized_entropy"


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class EntropyResult(Result):
    """Means over real query positions, `[layer, head]`; `per_position` for a single text."""

    entropy: Float[Tensor, "layer head"]
    entropy_std: Float[Tensor, "layer head"]
    entropy_min: Float[Tensor, "layer head"]
    normalized_entropy: Float[Tensor, "layer head"]
    max_weight: Float[Tensor, "layer head"]
    sink: Float[Tensor, "layer head"]
    n_eff: Float[Tensor, "layer head"]
    stats_available: list[str]
    n_queries: int
    n_nonfinite: dict[str, int]
    per_position: Float[Tensor, "layer head pos"] | None = None
    str_tokens: list[str] | None = None
    patterns: Float[Tensor, "layer head query key"] | None = None  # one text of <= 512 tokens

    @classmethod
    def from_summary(
        cls,
        summary: StatsSummary,
        *,
        options: dict[str, Any] | None = None,
        data_description: str = "",
        per_position: Tensor | None = None,
        str_tokens: list[str] | None = None,
        patterns: Tensor | None = None,
    ) -> EntropyResult:
        """The result of a stored `StatsSummary` (from `collect_entropy_stats`, or a plain
        `collect_stats` with `attn.entropy`: its normalized entropy is then NaN, since that
        needs a per-query division the summary no longer has)."""
        if "attn.entropy" not in summary.names:
            raise ValueError(f"the summary has no 'attn.entropy' (it holds {summary.names})")
        shape = summary.mean("attn.entropy").shape
        nan = torch.full(shape, math.nan)

        def mean(name: str) -> Tensor:
            return summary.mean(name).float() if name in summary.names else nan

        available = [s for s in HEAD_STATS if f"attn.{s}" in summary.names]
        nonfinite = summary.nonfinite()
        undefined = nonfinite.pop(NORMALIZED, 0)  # single-key queries: 0 / log 1, by design
        meta = summary.meta
        fingerprints = "+".join(part["fingerprint"] for part in meta.get("data", []))
        metadata = ResultMetadata(
            model_name=str(meta.get("model")),
            config_hash=str(meta.get("config_hash")),
            options={**(options or {}), "undefined_normalized_queries": undefined},
            data_fingerprint=fingerprints or None,
            n_tokens=summary.tokens,
            data_description=data_description,
        )
        return cls(
            entropy=mean("attn.entropy"),
            entropy_std=summary.std("attn.entropy").float(),
            entropy_min=summary.min("attn.entropy").float(),
            normalized_entropy=mean(NORMALIZED),
            **{s: mean(f"attn.{s}") for s in HEAD_STATS[1:]},
            stats_available=available
            + (["normalized_entropy"] if NORMALIZED in summary.names else []),  # fmt: skip
            n_queries=summary.tokens,
            n_nonfinite=nonfinite,
            per_position=per_position,
            str_tokens=str_tokens,
            patterns=patterns,
            metadata=metadata,
        )


def entropy_stats(model: Any) -> list[str]:
    """The statistics this analysis asks `model` for; refuses models with a layer that has
    no attention entropy, naming those layers, their mixer and what they do offer."""
    offered = model.supported_stats()["attn"]
    if "entropy" not in offered:
        raise ValueError(no_entropy_message(model))
    return [f"attn.{s}" for s in HEAD_STATS if s in offered]


def no_entropy_message(model: Any) -> str:
    """Which layers lack attention entropy and why, grouped by mixer: e.g. Mamba and the
    linear-attention mixers have no attention weights but offer `attn.mix_*` (statistics of
    their token-mixing matrix); pool and identity offer none."""
    kinds = model.layer_variant_names()
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for layer, stats in enumerate(model.layer_stats()):
        if "entropy" not in stats["attn"]:
            key = (kinds[layer], tuple(sorted(stats["attn"])))
            groups.setdefault(key, []).append(layer)
    lines = []
    for (kind, stats), layers in groups.items():
        where = _layer_list(layers)
        if any(s.startswith("mix_") for s in stats):
            offers = ", ".join(f"attn.{s}" for s in stats)
            lines.append(f"{where} ({kind}): no attention weights, but the mixing-matrix "
                         f"statistics {offers} (model.run_with_stats)")  # fmt: skip
        elif stats:
            lines.append(f"{where} ({kind}): offers only {', '.join(f'attn.{s}' for s in stats)}")
        elif hasattr(model.blocks[layers[0]].attn, "hook_pattern"):
            lines.append(f"{where} ({kind}): no statistics from run_with_stats (no instrumented "
                         "kernel); its weights are cached at attn.hook_pattern")  # fmt: skip
        else:
            lines.append(f"{where} ({kind}): no attention statistics at all")
    with_entropy = [i for i in range(len(kinds)) if i not in sum(groups.values(), [])]
    tail = f" Layers with attention entropy: {_layer_list(with_entropy)}." if with_entropy else ""
    return (
        "The entropy analysis needs attention weights (attn.entropy) in every layer; "
        + "; ".join(lines)
        + f".{tail} Attention kinds with weights: softmax, sigmoid, clipped, gated, "
        "power_softmax."
    )


def _layer_list(layers: list[int]) -> str:
    return ", ".join(f"blocks.{i}" for i in layers)


def visible_keys(
    mask: Bool[Tensor, "batch pos"] | None, shape: tuple[int, int], causal: bool
) -> Int[Tensor, "batch pos"]:
    """How many keys each query sees: real tokens up to it (causal) or all real tokens."""
    mask = torch.ones(shape, dtype=torch.bool) if mask is None else mask.cpu()
    if causal:
        return mask.long().cumsum(1)
    return mask.long().sum(1, keepdim=True).expand(shape)


def normalize_entropy(
    entropy: Float[Tensor, "... batch head pos"], n_keys: Int[Tensor, "batch pos"]
) -> Float[Tensor, "... batch head pos"]:
    """`H / log(n)` per query; NaN where the query sees one key (0 / 0)."""
    log_n = n_keys.double().log()[:, None, :]  # [batch, 1, pos]
    out = entropy.double() / torch.where(log_n > 0, log_n, math.nan)
    return out.to(entropy.dtype)


class _WithNormalizedEntropy:
    """`model`, whose `run_with_stats` also returns `attn.normalized_entropy`, so that
    `collect_stats` accumulates it next to the kernels' statistics in one pass."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run_with_stats(self, tokens: Tensor, stats, attention_mask=None, mlp_threshold=None):
        result = self._model.run_with_stats(tokens, stats, attention_mask=attention_mask,
                                            mlp_threshold=mlp_threshold)  # fmt: skip
        entropy = result["attn.entropy"]  # [layer, batch, head, pos]
        n_keys = visible_keys(result.token_mask, tuple(tokens.shape), self._model.cfg.causal)
        normalized = normalize_entropy(entropy.cpu(), n_keys)
        values = dict(result.values)
        values.update({(NORMALIZED, layer): normalized[layer] for layer in range(len(entropy))})
        return Stats(values, result.n_layers, result.output, (*result.names, NORMALIZED),
                     result.token_mask, result.mlp_threshold)  # fmt: skip


def collect_entropy_stats(
    model: Any,
    data: Tensor | str | list[str],
    *,
    batch_size: int = 8,
    seq_len: int | None = None,
    max_tokens: int | None = None,
    attention_mask: Tensor | None = None,
    progress: bool = True,
) -> StatsSummary:
    """`collect_stats` of entropy, max weight, sink, n_eff and normalized entropy: a
    mergeable, saveable `StatsSummary` (see `EntropyResult.from_summary`)."""
    return collect_stats(
        _WithNormalizedEntropy(model), data, entropy_stats(model), batch_size=batch_size,
        seq_len=seq_len, max_tokens=max_tokens, attention_mask=attention_mask, progress=progress,
    )  # fmt: skip


PATTERN_MAX_TOKENS = 512  # a [layer, head, T, T] float32 pattern stays under ~1 MB per head


def short_text_patterns(model: Any, tokens: Int[Tensor, "1 pos"]) -> Tensor | None:
    """`[layer, head, query, key]` attention patterns of a text short enough to keep them
    (for the view that shows the clicked head's pattern); None for longer texts."""
    if tokens.shape[1] > PATTERN_MAX_TOKENS:
        return None
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    return torch.stack([cache["pattern", layer][0] for layer in range(model.cfg.n_layers)]).float()


def single_text_tokens(model: Any, text: str) -> Int[Tensor, "1 pos"]:
    """One text as one sequence; longer than the model's context is an error, not a cut."""
    tokens = model.to_tokens(text)
    limit = model.pos_embed.max_len
    if limit is not None and tokens.shape[1] > limit:
        raise ValueError(
            f"the text has {tokens.shape[1]} tokens, more than the model's context ({limit}); "
            "cut it, or pass seq_len=... to compute windows of it (no per-position result)"
        )
    if tokens.shape[1] == 0:
        raise ValueError("No data: the text is empty")
    return tokens


def compute(
    model: Any,
    data: Int[Tensor, "batch pos"] | str | list[str] | None = None,
    *,
    batch_size: int = 8,
    seq_len: int | None = None,
    max_tokens: int | None = None,
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    progress: bool = True,
) -> EntropyResult:
    """Entropy statistics of `model` on `data` (default: 16 x 128 tokens of the embedded
    validation corpus). A single string without `seq_len` is one sequence and also gives
    `per_position`; with `seq_len` it is cut into windows (see `collect_stats`)."""
    stats = entropy_stats(model)  # refuse early, before any tokenizing
    description = "given token ids"
    per_position = str_tokens = patterns = None
    if data is None:
        n_ctx = model.pos_embed.max_len or 128
        data = corpus_tokens(model, n_sequences=16, seq_len=min(128, n_ctx))
        description = "embedded validation corpus"
    elif isinstance(data, str) and seq_len is None:
        data = single_text_tokens(model, data)
        per_position = model.run_with_stats(data, ["attn.entropy"])["attn.entropy"][:, 0]
        per_position = per_position.float().cpu()
        str_tokens = model.to_str_tokens(data[0])
        patterns = short_text_patterns(model, data)
        description = "one text"
    elif isinstance(data, str | list):
        description = "given text" if isinstance(data, str) else f"{len(data)} given texts"
    if isinstance(data, list) and not data:
        raise ValueError("No data: the list of texts is empty")
    summary = collect_entropy_stats(
        model, data, batch_size=batch_size, seq_len=seq_len, max_tokens=max_tokens,
        attention_mask=attention_mask, progress=progress,
    )  # fmt: skip
    options = {"batch_size": batch_size, "seq_len": seq_len, "max_tokens": max_tokens,
               "stats": stats, "causal": bool(model.cfg.causal)}  # fmt: skip
    return EntropyResult.from_summary(
        summary, options=options, per_position=per_position, str_tokens=str_tokens,
        patterns=patterns,
        data_description=f"{description}, {summary.sequences} sequences, {summary.tokens} tokens",
    )  # fmt: skip


def report_section(report: Any, result: EntropyResult) -> None:
    """Heading, prose, the heatmap figure and a per-layer table."""
    report.add_markdown(
        "## Attention entropy (Zhai et al. 2023)\n"
        f"Mean entropy per head (nats) over {result.n_queries} query positions "
        f"({result.metadata.data_description}), from `collect_stats`: the attention kernels "
        "stream the entropy without a `[query, key]` tensor. Normalized entropy divides each "
        "query's entropy by the log of the number of keys it sees (1 = uniform attention)."
    )
    report.add_result(result, caption="Mean attention entropy per layer and head.")
    rows = [
        (layer, float(result.entropy[layer].mean()), float(result.entropy[layer].min()),
         float(result.normalized_entropy[layer].mean()))
        for layer in range(result.entropy.shape[0])
    ]  # fmt: skip
    header = ["layer", "mean entropy (nats)", "lowest head", "mean normalized entropy"]
    report.add_table(rows, header=header)


register_analysis("attention_entropy", compute, report_section)
