"""`collect_stats`: statistics over a corpus, streamed batch by batch into a `StatsSummary`.

Never a `[query, key]` tensor, never the activations of the whole corpus: each batch goes
through `Model.run_with_stats` (instrumented kernels, padding excluded) and is folded into
mergeable accumulators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import torch
from jaxtyping import Bool, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.core.padding import check_attention_mask, encode_batch
from workbench.core.summary import Accumulator, StatsSummary, accumulate, bins_for

Batch = tuple[Int[Tensor, "batch pos"], Bool[Tensor, "batch pos"] | None]


def collect_stats(
    model,
    data: Tensor | str | Sequence[str],
    stats: Sequence[str],
    *,
    batch_size: int = 8,
    seq_len: int | None = None,
    max_tokens: int | None = None,
    attention_mask: Tensor | None = None,
    mlp_threshold: float | None = None,
    progress: bool = True,
) -> StatsSummary:
    """Accumulate `stats` of `model` over `data` (token ids `[n, pos]`, a list of texts, or
    one long text cut into windows of `seq_len` tokens, default the model's context or 256).

    `max_tokens` stops after that many real tokens, at a sequence boundary (the summary
    records what was seen). Padding is never counted.

    Example:
        >>> summary = collect_stats(model, texts, ["attn.entropy", "mlp.nonzero_frac"])
        >>> summary.mean("attn.entropy").shape  # [layer, head]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    model.stats_request(stats, mlp_threshold)  # bad names fail before any batch runs
    batches, total = batches_of(model, data, batch_size, seq_len, attention_mask)
    budget = total if max_tokens is None else min(total, max_tokens)
    summary, digest = None, hashlib.sha256()
    bar = tqdm(total=budget, desc="collect_stats", unit="tok", disable=not progress)
    for tokens, mask in batches:
        tokens, mask = within_budget(tokens, mask, budget - (summary.tokens if summary else 0))
        if tokens is None:
            break
        seen = summary.tokens if summary else 0
        summary = fold_batch(model, summary, tokens, mask, stats, mlp_threshold)
        digest.update(tokens.numpy().tobytes())
        digest.update(b"" if mask is None else mask.numpy().tobytes())
        bar.update(summary.tokens - seen)
    bar.close()
    if summary is None:
        raise ValueError("No data: the corpus is empty")
    summary.meta["data"] = [{"fingerprint": digest.hexdigest()[:16], "tokens": summary.tokens,
                             "sequences": summary.sequences}]  # fmt: skip
    return summary


def fold_batch(
    model,
    summary: StatsSummary | None,
    tokens: Tensor,
    mask: Tensor | None,
    stats,
    mlp_threshold: float | None,
) -> StatsSummary:
    """One batch through `run_with_stats`, folded into `summary` (made on the first batch):
    what `collect_stats` and every rank of a distributed collection do per batch."""
    result = model.run_with_stats(tokens, stats, attention_mask=mask, mlp_threshold=mlp_threshold)
    summary = summary or empty_summary(model, result, stats, mlp_threshold)
    accumulate(summary, result, result.token_mask, model.cfg.n_layers)
    summary.tokens += int(tokens.numel() if mask is None else mask.sum())
    summary.sequences += len(tokens)
    return summary


def within_budget(tokens: Tensor, mask: Tensor | None, left: int) -> Batch | tuple[None, None]:
    """The leading sequences of the batch whose real tokens fit in what is left."""
    if left <= 0:
        return None, None
    lengths = mask.sum(1) if mask is not None else torch.full((len(tokens),), tokens.shape[1])
    keep = int((lengths.cumsum(0) <= left).sum())
    if keep == 0:
        return None, None
    return tokens[:keep], None if mask is None else mask[:keep]


def empty_summary(model, result, stats: Sequence[str], mlp_threshold) -> StatsSummary:
    accs, counts = {}, {}
    n_layers = model.cfg.n_layers
    for name in result.names:
        first = result[name, 0]
        if name == "mlp.fire_count":
            counts[name] = torch.zeros((n_layers, *first.shape), dtype=torch.int64)
        else:  # [batch, *unit, pos] -> unit
            accs[name] = Accumulator.empty(n_layers, tuple(first.shape[1:-1]), bins_for(name))
    cfg = model.cfg
    meta = {"model": cfg.name, "config_hash": cfg.config_hash(), "stats": list(stats),
            "mlp_threshold": mlp_threshold, "n_layers": n_layers}  # fmt: skip
    return StatsSummary(accs, counts, 0, 0, meta)


def batches_of(
    model, data, batch_size: int, seq_len: int | None, attention_mask: Tensor | None
) -> tuple[Iterator[Batch], int]:
    """Batches of (tokens, mask) and the total number of real tokens."""
    if isinstance(data, Tensor):
        tokens = data[None] if data.dim() == 1 else data
        mask = None if attention_mask is None else check_attention_mask(attention_mask, tokens)
        return tensor_batches(tokens, mask, batch_size)
    if attention_mask is not None:
        raise ValueError("attention_mask goes with token ids; texts bring their own")
    if not isinstance(data, str) and not list(data):
        raise ValueError("No data: the list of texts is empty")
    tokenizer = model._need_tokenizer()
    if isinstance(data, str):
        length = seq_len or min(model.pos_embed.max_len or 256, 256)
        return tensor_batches(*text_windows(tokenizer, data, length), batch_size)
    texts = list(data)
    # Each text is tokenized once: the batches are built up front and checked from their masks.
    batches = [encode_batch(tokenizer, texts[i : i + batch_size])
               for i in range(0, len(texts), batch_size)]  # fmt: skip
    lengths = torch.cat([mask.sum(1) for _, mask in batches])
    check_lengths(model, lengths)
    return iter(batches), int(lengths.sum())


def tensor_batches(tokens: Tensor, mask: Tensor | None, batch_size: int):
    total = int(tokens.numel() if mask is None else mask.sum())
    slices = range(0, len(tokens), batch_size)
    return ((tokens[i : i + batch_size], None if mask is None else mask[i : i + batch_size])
            for i in slices), total  # fmt: skip


def text_windows(tokenizer, text: str, seq_len: int) -> Batch:
    """One long text as windows of `seq_len` tokens, each starting with BOS; the last window
    is shorter (padded, with its mask) unless the text fills it."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2 (BOS + a token), got {seq_len}")
    ids = tokenizer.encode(text, add_bos=False)
    if not ids:
        raise ValueError("No data: the text is empty")
    step = seq_len - 1
    rows = [[tokenizer.bos_id, *ids[i : i + step]] for i in range(0, len(ids), step)]
    tokens = torch.zeros(len(rows), seq_len, dtype=torch.long)
    mask = torch.zeros(len(rows), seq_len, dtype=torch.bool)
    for i, row in enumerate(rows):
        tokens[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), True
    return tokens, None if bool(mask.all()) else mask


def check_lengths(model, lengths: Tensor) -> None:
    """Every text fits the model's context; the error names the first that does not."""
    limit = model.pos_embed.max_len
    too_long = (lengths > limit).nonzero() if limit is not None else []
    if len(too_long):
        i = int(too_long[0])
        raise ValueError(
            f"text {i} has {int(lengths[i])} tokens, more than the model's context ({limit}); "
            "cut it or pass one long string to collect_stats, which cuts it into windows"
        )
