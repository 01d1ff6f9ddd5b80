"""Bigram targets against plain Python counting (float64 formulas, dicts, no torch sparse)."""

import math
import random
from collections import Counter

import pytest
import torch

from workbench.analysis.bigram_targets import BigramTable
from workbench.data.markov import MarkovChain


def python_bigram(rows: list[list[int]], d_vocab: int):
    pairs = Counter((a, b) for row in rows for a, b in zip(row, row[1:], strict=False))
    context = Counter(a for (a, _), n in pairs.items() for _ in range(n))
    nexts = Counter(b for (_, b), n in pairs.items() for _ in range(n))
    total = sum(nexts.values())

    def prob(a: int, b: int) -> float:
        if context[a]:
            return pairs[(a, b)] / context[a]
        return nexts[b] / total if total else 1.0 / d_vocab

    return prob


@pytest.fixture
def corpus():
    rng = random.Random(0)
    # Token 7 never occurs and token 9 occurs only last: both fall back to the unigram.
    rows = [[rng.choice([0, 1, 2, 3, 4, 5]) for _ in range(12)] + [9] for _ in range(5)]
    return rows, 10


def test_probabilities_match_python_counts(corpus):
    rows, d_vocab = corpus
    table = BigramTable.from_tokens(torch.tensor(rows), d_vocab)
    prob = python_bigram(rows, d_vocab)
    a, b = torch.meshgrid(torch.arange(d_vocab), torch.arange(d_vocab), indexing="ij")
    got = table.prob(a, b)
    want = torch.tensor([[prob(i, j) for j in range(d_vocab)] for i in range(d_vocab)],
                        dtype=torch.float64)  # fmt: skip
    assert torch.allclose(got, want, rtol=0, atol=1e-15)
    assert torch.allclose(got.sum(1), torch.ones(d_vocab, dtype=torch.float64))
    assert table.prob(torch.tensor([7]), torch.tensor([9])).item() == pytest.approx(
        5 / 60
    )  # 5 rows x 12 pairs, 9 ends each


def test_cross_entropy_matches_dense_formula(corpus):
    rows, d_vocab = corpus
    table = BigramTable.from_tokens(torch.tensor(rows), d_vocab)
    prob = python_bigram(rows, d_vocab)
    logits = torch.randn(3, 4, d_vocab, generator=torch.Generator().manual_seed(1))
    contexts = torch.tensor([[0, 1, 7, 9], [2, 3, 4, 5], [5, 5, 9, 0]])
    got = table.cross_entropy(logits, contexts)
    for (i, j), a in zip(torch.cartesian_prod(torch.arange(3), torch.arange(4)).tolist(),
                         contexts.reshape(-1).tolist(), strict=True):  # fmt: skip
        row = logits[i, j].double().tolist()
        lse = math.log(sum(math.exp(v) for v in row))
        want = -sum(prob(a, b) * (row[b] - lse) for b in range(d_vocab))
        assert got[i, j].item() == pytest.approx(want, rel=1e-5)


def test_mask_counts_only_real_pairs():
    tokens = torch.tensor([[1, 2, 3, 0], [2, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    table = BigramTable.from_tokens(tokens, 4, mask=mask)
    assert table.n_pairs == 3
    # 3 is only followed by padding: unseen, so its row is the unigram of real next tokens
    assert table.prob(torch.tensor([3]), torch.tensor([2])).item() == pytest.approx(2 / 3)
    assert table.context_counts.tolist() == [0, 1, 2, 0]


def test_sparse_storage_of_a_large_vocabulary():
    d_vocab = 50_000
    tokens = torch.randint(d_vocab, (4, 256), generator=torch.Generator().manual_seed(0))
    table = BigramTable.from_tokens(tokens, d_vocab)
    assert len(table.pair_codes) <= 4 * 255
    logits = torch.zeros(2, 3, d_vocab)
    ce = table.cross_entropy(logits, tokens[:2, :3])
    assert torch.allclose(ce, torch.full((2, 3), math.log(d_vocab)))


def test_roundtrip_state_and_errors(corpus):
    rows, d_vocab = corpus
    table = BigramTable.from_tokens(torch.tensor(rows), d_vocab)
    again = BigramTable.from_state(table.state())
    assert torch.equal(again.pair_codes, table.pair_codes) and again.d_vocab == d_vocab
    with pytest.raises(ValueError, match="outside the vocabulary"):
        BigramTable.from_tokens(torch.tensor([[0, 10]]), d_vocab)
    with pytest.raises(ValueError, match="must be contexts"):
        table.cross_entropy(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))


def test_markov_table_is_recovered_by_counting():
    chain = MarkovChain.random(d_vocab=8, branching=3, seed=0)
    assert torch.allclose(chain.transition.sum(1), torch.ones(8, dtype=torch.float64))
    assert ((chain.transition > 0).sum(1) == 3).all()
    tokens = chain.sample(400, 50, seed=1)
    table = BigramTable.from_tokens(tokens, 8)
    a, b = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    # Within 5 binomial standard errors of the true table, per context count.
    true = chain.transition
    stderr = (true * (1 - true) / table.context_counts.clamp(min=1)[:, None].double()).sqrt()
    assert ((table.prob(a, b) - true).abs() <= 5 * stderr + 1e-12).all()
    assert (table.prob(a, b)[chain.transition == 0] == 0).all()
