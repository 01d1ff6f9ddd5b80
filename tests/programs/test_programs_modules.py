"""Hard attention semantics (closest match, left on ties, BOS default), the schedule, the loss."""

import random

import pytest
import torch

from workbench.programs.modules import CategoricalAttention, NumericalAttention
from workbench.programs.train import labelled_loss, temperature


def _closest_same_token(xs, causal):
    out = []
    for i, q in enumerate(xs):
        keys = [j for j in range(1, i + 1 if causal else len(xs)) if xs[j] == q]
        out.append(min(keys, key=lambda j: (abs(i - j), j > i)) if keys else 0)
    return out


def _onehot(xs, width):
    return torch.nn.functional.one_hot(torch.tensor(xs), width).double()[None]


@pytest.mark.parametrize("scores", ["linear", "log"])
def test_programs_hard_attention_picks_closest_match(scores):
    rng = random.Random(0)
    width = 12
    for causal in (False, True):
        head = CategoricalAttention(n_cat=2, width=width, causal=causal, scores=scores).double()
        with torch.no_grad():
            head.predicate.logits.copy_(torch.eye(width) * 5)  # predicate: k == q
        for _ in range(50):
            xs = [0] + [rng.randrange(1, 4) for _ in range(rng.randrange(1, 11))]
            tok, pos = _onehot(xs, width), _onehot(list(range(len(xs))), width)
            valid = torch.ones(1, len(xs), dtype=torch.bool)
            out = head([tok, tok, pos], valid, tau=1.0, hard=True, noise=False)
            assert out[0].argmax(-1).tolist() == _closest_same_token(xs, causal)
            # the annealed soft pattern converges to the same choice
            soft = head([tok, tok, pos], valid, tau=1e-3, hard=False, noise=False)
            assert soft[0].argmax(-1).tolist() == _closest_same_token(xs, causal)


def test_programs_numerical_attention_counts_matches():
    width = 8
    head = NumericalAttention(n_cat=2, width=width).double()
    with torch.no_grad():
        head.predicate.logits.copy_(torch.eye(width) * 5)
    xs = [0, 1, 2, 1, 1, 3]
    tok = _onehot(xs, width)
    valid = torch.ones(1, len(xs), dtype=torch.bool)
    out = head([tok, tok], valid, tau=1.0, hard=True, noise=False)[0]
    counts = [xs[1:].count(x) for x in xs]  # BOS is never a regular match
    assert torch.allclose(out, 1 / (1 + torch.tensor(counts, dtype=torch.float64)))


def test_programs_temperature_schedule_is_geometric():
    taus = [temperature(s, 5) for s in range(5)]
    assert taus[0] == 3.0 and abs(taus[-1] - 0.01) < 1e-12
    ratios = [b / a for a, b in zip(taus, taus[1:], strict=False)]
    assert max(ratios) - min(ratios) < 1e-12


def test_programs_labelled_loss_weighs_sequences_equally():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3)
    labels = torch.tensor([[0, 1, 2, 0], [1, -100, -100, -100]])
    per_token = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none"
    )
    first, second = per_token[:4].mean(), per_token[4]
    assert torch.allclose(labelled_loss(logits, labels, per="sequence"), (first + second) / 2)
    assert torch.allclose(labelled_loss(logits, labels), per_token[:5].mean())
    with pytest.raises(ValueError, match="sequence"):
        labelled_loss(logits, labels, per="batch")
