"""The shared runner every `compute` goes through: input checks, batching, device, no_grad.

`prepare_tokens` turns text or token ids into checked `[batch, pos]` ids plus a boolean
padding mask; `run_batches` calls a function on slices of them with the model in eval mode
(its previous mode restored afterwards), gradients off, inputs on the model's device and a
progress bar. `corpus_tokens` cuts the embedded validation corpus into equal windows, the
default data of the registered analyses.

Example:
    >>> tokens, mask = prepare_tokens(model, ["the old dog", "a cat"])
    >>> sums = run_batches(model, tokens, lambda t, m: m.sum(), batch_size=8, mask=mask)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from jaxtyping import Bool, Int
from torch import Tensor
from tqdm.auto import tqdm

T = TypeVar("T")


def prepare_tokens(
    model: Any,
    data: Int[Tensor, "batch pos"] | str | list[str],
    attention_mask: Int[Tensor, "batch pos"] | None = None,
) -> tuple[Int[Tensor, "batch pos"], Bool[Tensor, "batch pos"]]:
    """Checked token ids `[batch, pos]` and a boolean mask (True = real token).

    Text is tokenized with the model's tokenizer (one row per string, right-padded, masked);
    ids are checked against the vocabulary and the context length with messages naming the
    bad position. Without a mask every position counts.
    """
    if isinstance(data, list) and not all(isinstance(t, str) for t in data):
        raise TypeError("data must be a token tensor, a string or a non-empty list of strings")
    tokens, mask = model.tokens_and_mask([data] if isinstance(data, str) else data,
                                         attention_mask)  # fmt: skip
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask
    return tokens, mask.to(tokens.device)


def model_device(model: Any) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def run_batches(
    model: Any,
    tokens: Int[Tensor, "batch pos"],
    fn: Callable[[Tensor, Tensor], T],
    batch_size: int,
    desc: str = "analysis",
    mask: Bool[Tensor, "batch pos"] | None = None,
) -> list[T]:
    """`[fn(tokens_batch, mask_batch) for each batch]`, on the model's device, in eval mode,
    without gradients. The model's train/eval mode is restored, even after an error."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask
    device = model_device(model)
    starts = range(0, tokens.shape[0], batch_size)
    was_training = model.training
    model.eval()
    try:
        outputs = []
        with torch.no_grad():
            for start in tqdm(starts, desc=desc, unit="batch", disable=len(starts) <= 1):
                batch = slice(start, start + batch_size)
                outputs.append(fn(tokens[batch].to(device), mask[batch].to(device)))
        return outputs
    finally:
        model.train(was_training)


def corpus_tokens(
    model: Any, n_sequences: int = 32, seq_len: int = 128, split: str = "val"
) -> Int[Tensor, "batch pos"]:
    """`n_sequences` windows of `seq_len` tokens (BOS + consecutive corpus tokens, no
    padding) from the embedded corpus, tokenized by the model's tokenizer."""
    from workbench.core.collect import text_windows
    from workbench.data import load_corpus

    if n_sequences < 1 or seq_len < 2:
        raise ValueError(f"need n_sequences >= 1 and seq_len >= 2, got {n_sequences}, {seq_len}")
    # The corpus is ASCII, at most one token per character: 8x the needed length is ample.
    text = load_corpus(split)[: 8 * n_sequences * (seq_len - 1)]
    tokens, mask = text_windows(model._need_tokenizer(), text, seq_len)
    full = len(tokens) if mask is None else int(mask.all(1).sum())
    if full < n_sequences:
        raise ValueError(f"the {split} corpus is too short for {n_sequences} x {seq_len} tokens")
    return tokens[:n_sequences]
