"""Attention entropy per head against context length.

For each length L, the first L tokens of one text go through `run_with_stats` as one
sequence (streamed kernels: memory O(L), never an `[L, L]` tensor). Per layer and head:
the mean entropy over all L queries, the mean over the queries of the second half (each sees
at least L/2 keys, so they show how attention spreads when much context is visible), and
the mean normalized entropy `H_i / log(i + 1)` (queries with one key left out).

Example:
    >>> result = entropy_vs_length(model, load_corpus("val"), [256, 1024, 4096])
    >>> result.entropy.shape        # [length, layer, head]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.analysis.entropy import entropy_stats, normalize_entropy, visible_keys
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class EntropyLengthResult(Result):
    lengths: Int[Tensor, "length"]
    entropy: Float[Tensor, "length layer head"]
    entropy_late: Float[Tensor, "length layer head"]
    normalized_entropy: Float[Tensor, "length layer head"]
    seconds: Float[Tensor, "length"]


def length_tokens(model: Any, text_or_tokens: str | Tensor, longest: int) -> Int[Tensor, "1 pos"]:
    """The tokens of the text (BOS first), checked to be at least `longest` long."""
    if isinstance(text_or_tokens, str):
        tokens = model.to_tokens(text_or_tokens)
    else:
        tokens = text_or_tokens[None] if text_or_tokens.dim() == 1 else text_or_tokens
    if tokens.shape[0] != 1:
        raise ValueError(f"entropy_vs_length takes one sequence, got {tokens.shape[0]}")
    if tokens.shape[1] < longest:
        raise ValueError(
            f"the text has {tokens.shape[1]} tokens, fewer than the longest length {longest}"
        )
    return tokens


def entropy_vs_length(
    model: Any, text_or_tokens: str | Int[Tensor, "1 pos"], lengths: Sequence[int]
) -> EntropyLengthResult:
    """Entropy statistics of the first L tokens for each L in `lengths` (increasing)."""
    entropy_stats(model)  # refuses models without attention entropy
    lengths = [int(n) for n in lengths]
    if not lengths or any(n < 2 for n in lengths) or sorted(set(lengths)) != lengths:
        raise ValueError(f"lengths must be increasing integers >= 2, got {lengths}")
    limit = model.pos_embed.max_len
    if limit is not None and lengths[-1] > limit:
        raise ValueError(f"length {lengths[-1]} exceeds the model's context ({limit})")
    tokens = length_tokens(model, text_or_tokens, lengths[-1])
    rows = [_one_length(model, tokens[:, :n]) for n in tqdm(lengths, desc="entropy vs length")]
    meta = ResultMetadata.from_model(
        model, tokens=tokens[:, : lengths[-1]], options={"lengths": lengths},
        data_description=f"first L of {lengths[-1]} tokens of one text",
    )  # fmt: skip
    return EntropyLengthResult(
        lengths=torch.tensor(lengths),
        **{k: torch.stack([r[k] for r in rows]) for k in ("entropy", "entropy_late",
                                                          "normalized_entropy")},
        seconds=torch.tensor([r["seconds"] for r in rows]), metadata=meta,
    )  # fmt: skip


def _one_length(model: Any, tokens: Tensor) -> dict[str, Tensor]:
    import time

    started = time.perf_counter()
    entropy = model.run_with_stats(tokens, ["attn.entropy"])["attn.entropy"].double().cpu()
    seconds = time.perf_counter() - started
    entropy = entropy[:, 0]  # [layer, head, pos]
    n = tokens.shape[1]
    n_keys = visible_keys(None, (1, n), model.cfg.causal)
    normalized = normalize_entropy(entropy[:, None], n_keys)[:, 0]
    if model.cfg.causal:  # query 0 sees one key: no normalized entropy (0 / log 1)
        normalized = normalized[..., 1:]
    return {
        "entropy": entropy.mean(-1).float(),
        "entropy_late": entropy[..., n // 2 :].mean(-1).float(),
        "normalized_entropy": normalized.mean(-1).float(),
        "seconds": seconds,
    }
