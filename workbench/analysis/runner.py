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

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from jaxtyping import Bool, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.core.inputs import check_tokens

T = TypeVar("T")


def _max_len(model: Any) -> int | None:
    pos_embed = getattr(model, "pos_embed", None)
    if pos_embed is not None and hasattr(pos_embed, "max_len"):
        return pos_embed.max_len
    return getattr(getattr(model, "cfg", None), "n_ctx", None)


def _texts_to_tokens(model: Any, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Tokenize each text alone, then right-pad; the mask says which positions are real."""
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("data must be a token tensor, a string or a non-empty list of strings")
    rows = [model.to_tokens(text)[0] for text in texts]
    width = max(len(row) for row in rows)
    pad_id = getattr(getattr(model, "tokenizer", None), "pad_id", 0)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = row
        mask[i, : len(row)] = True
    return tokens, mask


def _check_mask(mask: Tensor, tokens: Tensor) -> Bool[Tensor, "batch pos"]:
    if not isinstance(mask, Tensor):
        raise TypeError(f"attention_mask must be a tensor, got {type(mask).__name__}")
    mask = mask[None] if mask.dim() == 1 else mask
    if mask.shape != tokens.shape:
        raise ValueError(
            f"attention_mask shape {tuple(mask.shape)} != tokens shape {tuple(tokens.shape)}"
        )
    if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
        raise ValueError("attention_mask must hold only 0/1 (or booleans)")
    mask = mask.bool()
    empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"attention_mask hides every position of sequence(s) {empty[:5]}")
    return mask


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
    if isinstance(data, str):
        data = [data]
    if isinstance(data, list):
        if attention_mask is not None:
            raise ValueError("attention_mask is made from the texts; pass it only with token ids")
        tokens, mask = _texts_to_tokens(model, data)
    else:
        tokens, mask = data, attention_mask
    tokens = check_tokens(tokens, model.cfg.d_vocab, _max_len(model))
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else _check_mask(mask, tokens)
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
    from workbench.data import load_corpus

    if n_sequences < 1 or seq_len < 2:
        raise ValueError(f"need n_sequences >= 1 and seq_len >= 2, got {n_sequences}, {seq_len}")
    body = seq_len - 1
    text = load_corpus(split)
    ids = model.to_tokens(text[: 8 * n_sequences * body], prepend_bos=False)[0]
    if len(ids) < n_sequences * body:
        raise ValueError(f"the {split} corpus is too short for {n_sequences} x {seq_len} tokens")
    bos = model.to_tokens("", prepend_bos=True)[0, :1]
    windows = ids[: n_sequences * body].view(n_sequences, body)
    return torch.cat([bos.expand(n_sequences, 1), windows], dim=1)
