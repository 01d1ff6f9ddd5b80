"""First-order Markov corpora with a known bigram table: ground truth for bigram analyses.

Each row of the transition table puts its mass on `branching` random next tokens (Dirichlet(1)
weights), so the true conditional entropy is low and varies by context; sequences start from
a uniformly drawn token.

Example:
    >>> chain = MarkovChain.random(d_vocab=32, branching=4, seed=0)
    >>> tokens = chain.sample(n_sequences=64, seq_len=32, seed=1)   # [64, 32] int64
    >>> chain.surprisal_bits(tokens[:, :-1], tokens[:, 1:])         # true -log2 P(b | a)
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Float, Int
from torch import Tensor


@dataclasses.dataclass(frozen=True, eq=False)
class MarkovChain:
    transition: Float[Tensor, "d_vocab d_vocab"]  # rows sum to 1 (float64)

    @classmethod
    def random(
        cls, d_vocab: int, branching: int = 4, seed: int = 0, floor: float = 0.0
    ) -> MarkovChain:
        """A table whose every row has `branching` non-zero entries with weights `floor` +
        Exp(1), normalized (Dirichlet(1, ..., 1) for floor 0; a floor keeps every allowed
        transition frequent enough to be estimated from a short corpus)."""
        if floor < 0:
            raise ValueError(f"floor must be >= 0, got {floor}")
        if not 1 <= branching <= d_vocab:
            raise ValueError(f"branching must be in [1, d_vocab={d_vocab}], got {branching}")
        generator = torch.Generator().manual_seed(seed)
        table = torch.zeros(d_vocab, d_vocab, dtype=torch.float64)
        for row in range(d_vocab):
            nexts = torch.randperm(d_vocab, generator=generator)[:branching]
            # Normalized Exp(1) draws are Dirichlet(1, ..., 1); drawn from a seeded uniform.
            uniform = torch.rand(branching, generator=generator, dtype=torch.float64)
            weights = floor - torch.log1p(-uniform)
            table[row, nexts] = weights / weights.sum()
        return cls(table)

    @property
    def d_vocab(self) -> int:
        return self.transition.shape[0]

    def sample(self, n_sequences: int, seq_len: int, seed: int = 0) -> Int[Tensor, "n pos"]:
        generator = torch.Generator().manual_seed(seed)
        tokens = torch.empty(n_sequences, seq_len, dtype=torch.long)
        tokens[:, 0] = torch.randint(self.d_vocab, (n_sequences,), generator=generator)
        for pos in range(1, seq_len):
            rows = self.transition[tokens[:, pos - 1]]
            tokens[:, pos] = torch.multinomial(rows, 1, generator=generator)[:, 0]
        return tokens

    def surprisal_bits(self, contexts: Tensor, nexts: Tensor) -> Float[Tensor, "..."]:
        """True -log2 P(next | context)."""
        return -torch.log2(self.transition[contexts.long(), nexts.long()])
