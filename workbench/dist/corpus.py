"""The corpus of a collection, tokenized once, in a fixed order, before any sharding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from workbench.core.collect import text_windows

EMBEDDED = ("train", "val")


def load_token_corpus(
    model, source: str | Path, seq_len: int
) -> tuple[Int[Tensor, "n pos"], Bool[Tensor, "n pos"] | None]:
    """Sequences of `seq_len` tokens (BOS first) from a text file, a folder of `.txt` files
    (in name order; every file starts new windows) or the embedded corpus (`train`/`val`)."""
    tokenizer = model._need_tokenizer()
    texts = corpus_texts(source)
    parts = [text_windows(tokenizer, text, seq_len) for text in texts]
    tokens = torch.cat([t for t, _ in parts])
    masks = [m if m is not None else torch.ones_like(t, dtype=torch.bool) for t, m in parts]
    mask = torch.cat(masks)
    return tokens, None if bool(mask.all()) else mask


def corpus_texts(source: str | Path) -> list[str]:
    if str(source) in EMBEDDED:
        from workbench.data import load_corpus

        return [load_corpus(str(source))]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".txt" and p.is_file())
        if not files:
            raise ValueError(f"{path} holds no .txt files")
        return [read_text(f) for f in files]
    if path.is_file():
        return [read_text(path)]
    raise FileNotFoundError(
        f"No corpus {source!r}: give a text file, a folder of .txt files, or one of {EMBEDDED}"
    )


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err})") from err
    if not text:
        raise ValueError(f"{path} is empty")
    return text


def corpus_fingerprint(tokens: Tensor, mask: Tensor | None) -> str:
    """sha256 of the tokenized corpus: the same text and tokenizer give the same value."""
    digest = hashlib.sha256(str(tuple(tokens.shape)).encode())
    digest.update(tokens.to(torch.int64).numpy().tobytes())
    if mask is not None:
        digest.update(mask.numpy().tobytes())
    return digest.hexdigest()[:16]


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank r's contiguous slice [start, stop) of n sequences (sizes differ by at most 1)."""
    return rank * n // world, (rank + 1) * n // world
