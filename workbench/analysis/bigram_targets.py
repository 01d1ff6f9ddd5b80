"""Sparse bigram tables: P(b | a) = c(a, b) / c(a) from a token corpus (Chang & Bergen 2025,
"Bigram Subnetworks", arXiv 2504.15471).

Only the pairs that occur are stored: sorted pair codes `a * d_vocab + b` with their counts,
plus CSR row pointers, so a 50k vocabulary costs memory in the number of distinct pairs, not
50k x 50k. A context `a` that is never followed by a token in the corpus (it never occurs, or
only at the end of a sequence) falls back to the unigram distribution of next tokens; a corpus
without any pair falls back to the uniform distribution.

`cross_entropy(logits, contexts)` scores model logits against the target rows of a batch
without a dense `[d_vocab, d_vocab]` (only the batch's `[tokens, d_vocab]` log-softmax).

Example:
    >>> table = BigramTable.from_tokens(torch.tensor([[1, 2, 1, 3]]), d_vocab=4)
    >>> table.prob(torch.tensor([1]), torch.tensor([2]))
    tensor([0.5000], dtype=torch.float64)
    >>> loss = table.cross_entropy(logits, tokens[:, :-1]).mean()
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


@dataclasses.dataclass(frozen=True, eq=False)
class BigramTable:
    """Counts of the observed pairs; probabilities are computed from them in float64."""

    d_vocab: int
    pair_codes: Int[Tensor, " n_pairs"]  # a * d_vocab + b, sorted ascending, unique
    pair_counts: Int[Tensor, " n_pairs"]
    context_counts: Int[Tensor, " d_vocab"]  # c(a) = number of pairs starting with a
    next_counts: Int[Tensor, " d_vocab"]  # how often b follows anything (unigram of targets)

    @classmethod
    def from_tokens(
        cls,
        tokens: Int[Tensor, "batch pos"],
        d_vocab: int,
        mask: Bool[Tensor, "batch pos"] | None = None,
    ) -> BigramTable:
        """Count the pairs inside each row (never across rows); with `mask`, a pair counts
        only when both its tokens are real."""
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, pos], got shape {list(tokens.shape)}")
        tokens = tokens.long().cpu()
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= d_vocab):
            bad = int(tokens[(tokens < 0) | (tokens >= d_vocab)][0])
            raise ValueError(f"tokens hold id {bad}, outside the vocabulary [0, {d_vocab})")
        first, second = tokens[:, :-1].reshape(-1), tokens[:, 1:].reshape(-1)
        if mask is not None:
            if mask.shape != tokens.shape:
                raise ValueError(f"mask shape {list(mask.shape)} != tokens {list(tokens.shape)}")
            mask = mask.bool().cpu()
            both = (mask[:, :-1] & mask[:, 1:]).reshape(-1)
            first, second = first[both], second[both]
        codes, counts = torch.unique(first * d_vocab + second, sorted=True, return_counts=True)
        return cls(
            d_vocab=d_vocab,
            pair_codes=codes,
            pair_counts=counts,
            context_counts=torch.bincount(first, minlength=d_vocab),
            next_counts=torch.bincount(second, minlength=d_vocab),
        )

    # -- distributions -------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        return int(self.pair_counts.sum())

    def unigram(self) -> Float[Tensor, " d_vocab"]:
        """Fallback for unseen contexts: next-token frequencies, or uniform without pairs."""
        total = self.next_counts.sum()
        if total == 0:
            return torch.full((self.d_vocab,), 1.0 / self.d_vocab, dtype=torch.float64)
        return self.next_counts.double() / total

    def row_pointers(self) -> Int[Tensor, " d_vocab_plus_1"]:
        """CSR pointers: the pairs of context `a` are `pair_codes[ptr[a]:ptr[a + 1]]`."""
        bounds = torch.arange(self.d_vocab + 1, dtype=torch.long) * self.d_vocab
        return torch.searchsorted(self.pair_codes, bounds)

    def seen(self, contexts: Int[Tensor, "..."]) -> Bool[Tensor, "..."]:
        return self.context_counts.to(contexts.device)[contexts] > 0

    def prob(self, contexts: Int[Tensor, "..."], nexts: Int[Tensor, "..."]) -> Tensor:
        """P(next | context) in float64, with the unigram fallback for unseen contexts."""
        self._check_ids(contexts, "contexts")
        self._check_ids(nexts, "nexts")
        codes = self.pair_codes.to(contexts.device)
        wanted = contexts.long() * self.d_vocab + nexts.long()
        where = torch.searchsorted(codes, wanted.reshape(-1)).clamp(max=max(len(codes) - 1, 0))
        found = codes[where] == wanted.reshape(-1) if len(codes) else torch.zeros_like(wanted)
        counts = torch.where(found.bool(), self.pair_counts.to(codes.device)[where], 0)
        c_a = self.context_counts.to(codes.device)[contexts.reshape(-1)]
        conditional = counts.double() / c_a.clamp(min=1).double()
        fallback = self.unigram().to(codes.device)[nexts.reshape(-1)]
        return torch.where(c_a > 0, conditional, fallback).reshape(contexts.shape)

    def surprisal_bits(self, contexts: Tensor, nexts: Tensor) -> Tensor:
        """-log2 P(next | context); +inf for pairs the table gives probability 0."""
        return -torch.log2(self.prob(contexts, nexts))

    def cross_entropy(
        self,
        logits: Float[Tensor, "... d_vocab"],
        contexts: Int[Tensor, "..."],
    ) -> Float[Tensor, "..."]:
        """-sum_b P(b | a) log softmax(logits)_b per position (nats), in float32 or wider;
        only the rows of the batch's contexts are expanded, sparsely."""
        if logits.shape[-1] != self.d_vocab or logits.shape[:-1] != contexts.shape:
            raise ValueError(
                f"logits {list(logits.shape)} must be contexts {list(contexts.shape)} + "
                f"[{self.d_vocab}]"
            )
        self._check_ids(contexts, "contexts")
        logp = torch.log_softmax(logits.float(), dim=-1).reshape(-1, self.d_vocab)
        flat = contexts.reshape(-1).long()
        device = logp.device
        ptr = self.row_pointers().to(device)
        starts, lengths = ptr[flat], ptr[flat + 1] - ptr[flat]
        # One entry per (position, observed next token) of the position's context row.
        position = torch.repeat_interleave(torch.arange(len(flat), device=device), lengths)
        offsets = torch.arange(len(position), device=device) - torch.repeat_interleave(
            torch.cumsum(lengths, 0) - lengths, lengths
        )
        pair = starts[position] + offsets
        codes = self.pair_codes.to(device)[pair]
        weight = self.pair_counts.to(device)[pair].to(logp.dtype) / self.context_counts.to(device)[
            flat
        ][position].to(logp.dtype)
        seen_loss = torch.zeros(len(flat), dtype=logp.dtype, device=device)
        seen_loss = seen_loss.index_add(0, position, -weight * logp[position, codes % self.d_vocab])
        unseen_loss = -(logp @ self.unigram().to(device, logp.dtype))
        loss = torch.where(lengths > 0, seen_loss, unseen_loss)
        return loss.reshape(contexts.shape)

    def row_entropy(self, contexts: Int[Tensor, " n"]) -> Float[Tensor, " n"]:
        """Entropy (nats) of each context's target row: the floor of `cross_entropy` (dense
        rows, one per context: for the n contexts of an evaluation, not a whole corpus)."""
        rows = self._dense_rows(contexts.reshape(-1).cpu())
        logs = torch.where(rows > 0, rows.log(), 0.0)
        return (-(rows * logs).sum(-1)).reshape(contexts.shape)

    def _dense_rows(self, contexts: Int[Tensor, " n"]) -> Float[Tensor, "n d_vocab"]:
        """The target rows of `contexts` as a dense `[n, d_vocab]` (n small: views, tests)."""
        rows = self.unigram().expand(len(contexts), -1).clone()
        ptr = self.row_pointers()
        for i, a in enumerate(contexts.tolist()):
            lo, hi = int(ptr[a]), int(ptr[a + 1])
            if hi > lo:
                rows[i] = 0.0
                rows[i, self.pair_codes[lo:hi] % self.d_vocab] = (
                    self.pair_counts[lo:hi].double() / self.context_counts[a].double()
                )
        return rows

    def _check_ids(self, ids: Tensor, name: str) -> None:
        if ids.dtype.is_floating_point:
            raise TypeError(f"{name} must be integer token ids, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.d_vocab):
            raise ValueError(f"{name} hold ids outside the vocabulary [0, {self.d_vocab})")

    # -- storage -------------------------------------------------------------------------
    def state(self) -> dict[str, Tensor]:
        """Tensors for a safetensors file (`from_state` inverts it)."""
        return {
            "d_vocab": torch.tensor([self.d_vocab]),
            "pair_codes": self.pair_codes,
            "pair_counts": self.pair_counts,
            "context_counts": self.context_counts,
            "next_counts": self.next_counts,
        }

    @classmethod
    def from_state(cls, state: dict[str, Tensor]) -> BigramTable:
        fields = {k: v for k, v in state.items() if k != "d_vocab"}
        return cls(d_vocab=int(state["d_vocab"][0]), **fields)
