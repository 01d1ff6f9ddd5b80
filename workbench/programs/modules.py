"""The modules of a Transformer Program: each reads variables chosen by Gumbel-softmax and
writes one new variable (Friedman, Wettig & Chen, NeurIPS 2023, arXiv 2306.01128, Sec. 3).

Categorical variables are one-hot vectors of a common width `K` (values past a variable's
domain never occur); numerical variables are scalars. Every module has a soft form (training:
Gumbel-softmax at temperature `tau`) and a hard form (argmax everywhere) that the decompiler
turns into Python line for line.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

# Soft attention scores, "linear": 1 for a match, 0.5 for BOS; "log": log P(match), BOS
# log P(no key matches). Both minus CLOSENESS per step of the distance code (2|i - j| +
# [j > i] <= 2 * 17, so a match always beats BOS) and divided by ATTN_TEMPERATURE * tau: as
# tau anneals the soft pattern becomes the hard "closest match", so the network trains on what
# it will compute once discrete. Log scores span more than linear ones, hence a higher
# temperature.
CLOSENESS = 0.01
ATTN_TEMPERATURE = {"linear": 0.1, "log": 0.3}


def relax(logits: Tensor, tau: float, hard: bool, noise: bool, dim: int = -1) -> Tensor:
    """One-hot argmax when `hard`, else a (Gumbel-)softmax at temperature `tau`."""
    if hard:
        return F.one_hot(logits.argmax(dim), logits.shape[dim]).to(logits.dtype).movedim(-1, dim)
    if noise:
        uniform = torch.rand_like(logits).clamp_(1e-10, 1 - 1e-10)
        logits = logits - torch.log(-torch.log(uniform))
    return torch.softmax(logits / tau, dim)


class VariableChoice(nn.Module):
    """Which of the `n_vars` existing variables a module reads (one Gumbel sample per step)."""

    def __init__(self, n_vars: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.randn(n_vars) * 0.1)

    def weights(self, tau: float, hard: bool, noise: bool) -> Float[Tensor, "var"]:
        return relax(self.logits, tau, hard, noise)

    def chosen(self) -> int:
        return int(self.logits.argmax())


class Predicate(nn.Module):
    """Per query value, a Gumbel-softmax over key values: which key value it matches."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.randn(width, width) * 0.1)

    def match(
        self, query: Tensor, key: Tensor, tau: float, hard: bool, noise: bool
    ) -> Float[Tensor, "batch qpos kpos"]:
        table = relax(self.logits, tau, hard, noise).to(query.dtype)
        return torch.einsum("bqi,ij,bkj->bqk", query, table, key)


class _AttentionBase(nn.Module):
    def __init__(self, n_cat: int, width: int, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        self.query, self.key = VariableChoice(n_cat), VariableChoice(n_cat)
        self.predicate = Predicate(width)

    def choices(self) -> list[VariableChoice]:
        return [self.query, self.key]


def _matchable(valid: Bool[Tensor, "batch pos"], causal: bool) -> Bool[Tensor, "batch qpos kpos"]:
    keys = valid.clone()
    keys[:, 0] = False  # BOS is the default, never a regular match
    keys = keys[:, None, :].expand(-1, valid.shape[1], -1)
    if causal:
        keys = keys & torch.ones_like(keys[0]).tril()
    return keys


class CategoricalAttention(_AttentionBase):
    """`select_closest(keys, queries, predicate)` then `aggregate(pattern, values)`: each query
    copies the value of its closest matching key, or of BOS when nothing matches."""

    def __init__(
        self, n_cat: int, width: int, causal: bool = False, scores: str = "linear"
    ) -> None:
        super().__init__(n_cat, width, causal)
        if scores not in ATTN_TEMPERATURE:
            raise ValueError(f"attention scores must be in {list(ATTN_TEMPERATURE)}: {scores!r}")
        self.value = VariableChoice(n_cat)
        self.scores = scores

    def choices(self) -> list[VariableChoice]:
        return [self.query, self.key, self.value]

    def forward(
        self, reads: list[Tensor], valid: Tensor, tau: float, hard: bool, noise: bool
    ) -> Float[Tensor, "batch pos K"]:
        """`reads`: the query, key and value variables, each [batch, pos, K]."""
        query, key, value = reads
        match = self.predicate.match(query, key, tau, hard, noise)
        pos = torch.arange(match.shape[-1], device=match.device)
        # distance code: |i - j|, left key first on equal distance
        distance = (pos[None, :] - pos[:, None]).abs() * 2 + (pos[None, :] > pos[:, None])
        keys = _matchable(valid, self.causal)
        if hard:
            matched = (match > 0.5) & keys
            code = torch.where(matched, distance, torch.full_like(distance, 10**6))
            chosen = torch.where(matched.any(-1), code.argmin(-1), 0)
            return torch.gather(value, 1, chosen[..., None].expand(-1, -1, value.shape[-1]))
        if self.scores == "log":
            match = match.clamp(1e-6, 1 - 1e-6)
            # BOS scores the log-probability that no key matches
            bos = torch.log1p(-match).masked_fill(~keys, 0).sum(-1)
            match = match.log()
        else:
            bos = 0.5
        scores = (match - CLOSENESS * distance).masked_fill(~keys, float("-inf"))
        scores[:, :, 0] = bos
        return torch.softmax(scores / (ATTN_TEMPERATURE[self.scores] * tau), -1) @ value


class NumericalAttention(_AttentionBase):
    """Attends uniformly to BOS and every matching key and averages the BOS indicator:
    out = 1 / (1 + number of matches), so counts (hist) are expressible."""

    def forward(
        self, reads: list[Tensor], valid: Tensor, tau: float, hard: bool, noise: bool
    ) -> Float[Tensor, "batch pos"]:
        query, key = reads
        keys = valid.clone()
        keys[:, 0] = False  # BOS is the default, never a regular match
        key = key * keys[..., None]
        # matches of query i = (query_i P) . (sum of visible key one-hots): no T x T matrix
        key_sums = key.cumsum(1) if self.causal else key.sum(1, keepdim=True)
        table = relax(self.predicate.logits, tau, hard, noise).to(query.dtype)
        count = ((query @ table) * key_sums).sum(-1)
        return 1.0 / (1.0 + count)


class CategoricalMLP(nn.Module):
    """Reads two categorical variables, writes a new one (a lookup table once discrete)."""

    def __init__(self, n_cat: int, width: int, hidden: int) -> None:
        super().__init__()
        self.first, self.second = VariableChoice(n_cat), VariableChoice(n_cat)
        self.net = nn.Sequential(nn.Linear(2 * width, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def choices(self) -> list[VariableChoice]:
        return [self.first, self.second]

    def forward(self, reads: list[Tensor], tau: float, hard: bool, noise: bool) -> Tensor:
        return self.table_logits(*reads, tau, hard, noise)

    def table_logits(self, a: Tensor, b: Tensor, tau: float, hard: bool, noise: bool) -> Tensor:
        return relax(self.net(torch.cat([a, b], -1)), tau, hard, noise)


class NumericalMLP(nn.Module):
    """Reads one or two numerical variables (the paper reads two), writes a categorical one
    (a lookup table once discrete). Two inputs let it compare counts, e.g. the opening and
    closing brackets of a Dyck prefix."""

    def __init__(self, n_num: int, width: int, hidden: int, n_inputs: int = 2) -> None:
        super().__init__()
        if n_inputs not in (1, 2):
            raise ValueError(f"a numerical MLP reads 1 or 2 variables, got {n_inputs}")
        self.input = VariableChoice(n_num)
        self.second = VariableChoice(n_num) if n_inputs == 2 else None
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def choices(self) -> list[VariableChoice]:
        return [self.input] if self.second is None else [self.input, self.second]

    def forward(self, reads: list[Tensor], tau: float, hard: bool, noise: bool) -> Tensor:
        return relax(self.net(torch.stack(reads, -1)), tau, hard, noise)


def read_all(modules: list[nn.Module], stream: Tensor, **relax: Any) -> list[list[Tensor]]:
    """Every input of `modules` from `stream` [var, batch, pos(, K)] in one matrix product
    (one read per module would cost a full-stream gradient buffer each)."""
    choices = [c for m in modules for c in m.choices()]
    if not choices:
        return []
    weights = torch.stack([c.weights(**relax) for c in choices]).to(stream.dtype)
    reads = list(torch.tensordot(weights, stream[: weights.shape[1]], dims=1).unbind(0))
    out = []
    for m in modules:
        n = len(m.choices())
        out.append(reads[:n])
        reads = reads[n:]
    return out
