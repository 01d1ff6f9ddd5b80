"""A Transformer Program: a transformer constrained so that, once discrete, it is a program.

Friedman, Wettig & Chen, "Learning Transformer Programs", NeurIPS 2023 (arXiv 2306.01128).
The residual stream is a list of variables: categorical ones (one-hot, width `K`) starting with
`tokens` and `positions`, and numerical ones (scalars). Each layer runs its attention heads on
the stream, appends their outputs, then runs its MLPs and appends theirs. The output is a
linear map from every (variable, value) feature and every numerical variable to label logits.

Example:
    >>> task = make_task("hist", n_examples=500)
    >>> model = ProgramModel(ProgramConfig.for_task(task, n_layers=1, n_cat_heads=1))
    >>> batch = encode(task, task.train[:4])
    >>> model(batch.tokens, batch.valid, tau=1.0).shape     # [batch, pos, n_labels]
    torch.Size([4, 8, 4])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from workbench.core.validate import (
    ConfigError,
    NonNegInt,
    PosInt,
    check_known_fields,
    validate_fields,
)
from workbench.data.rasp import Example, Task
from workbench.programs.modules import (
    CategoricalAttention,
    CategoricalMLP,
    NumericalAttention,
    NumericalMLP,
    read_all,
)


@dataclass(frozen=True)
class ProgramConfig:
    vocab: tuple  # input tokens (BOS first)
    labels: tuple  # output classes
    max_len: PosInt
    n_layers: PosInt = 1
    n_cat_heads: NonNegInt = 2
    n_num_heads: NonNegInt = 1
    n_cat_mlps: NonNegInt = 1
    n_num_mlps: NonNegInt = 1
    num_mlp_inputs: Literal[1, 2] = 2  # numerical variables a numerical MLP reads (paper: 2)
    attention_scores: Literal["linear", "log"] = "linear"  # soft categorical attention
    mlp_hidden: PosInt = 32
    causal: bool = False  # keys after the query are invisible (Dyck: a label per prefix)
    task: str = ""

    def __post_init__(self) -> None:
        validate_fields(self)  # types and ranges from the hints; lists become tuples
        for name in ("vocab", "labels"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ConfigError(f"ProgramConfig.{name} must be non-empty and unique: {values!r}")

    @classmethod
    def for_task(cls, task: Task, **kwargs: Any) -> ProgramConfig:
        return cls(vocab=task.vocab, labels=task.labels, max_len=task.max_len, task=task.name,
                   **kwargs)  # fmt: skip

    @property
    def width(self) -> int:
        """K: the common one-hot width of categorical variables."""
        return max(len(self.vocab), self.max_len, 2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "vocab": list(self.vocab), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgramConfig:
        data = {"num_mlp_inputs": 1, **check_known_fields(cls, data)}  # older runs read one
        return cls(**data)

    def variable_names(self) -> tuple[list[str], list[str]]:
        """(categorical, numerical) variable names in the order the stream holds them."""
        cat, num = ["tokens", "positions"], []
        for layer in range(self.n_layers):
            cat += [f"attn_{layer}_{h}_outputs" for h in range(self.n_cat_heads)]
            num += [f"num_attn_{layer}_{h}_outputs" for h in range(self.n_num_heads)]
            cat += [f"mlp_{layer}_{m}_outputs" for m in range(self.n_cat_mlps)]
            cat += [f"num_mlp_{layer}_{m}_outputs" for m in range(self.n_num_mlps)]
        return cat, num


class Batch(NamedTuple):
    tokens: Int[Tensor, "batch pos"]  # -1 where padded
    valid: Bool[Tensor, "batch pos"]
    labels: Int[Tensor, "batch pos"]  # -100 where no loss


def encode(task_or_cfg: Task | ProgramConfig, examples: list[Example]) -> Batch:
    """Pad `examples` into index tensors (vocabulary and label positions of the task)."""
    vocab = {v: i for i, v in enumerate(task_or_cfg.vocab)}
    labels = {v: i for i, v in enumerate(task_or_cfg.labels)}
    length = task_or_cfg.max_len
    tokens = torch.full((len(examples), length), -1, dtype=torch.long)
    targets = torch.full((len(examples), length), -100, dtype=torch.long)
    for row, (xs, ys) in enumerate(examples):
        if len(xs) > length:
            raise ValueError(f"example of length {len(xs)} exceeds max_len {length}: {xs!r}")
        try:
            tokens[row, : len(xs)] = torch.tensor([vocab[x] for x in xs])
        except KeyError as err:
            raise ValueError(f"token {err.args[0]!r} is not in the vocabulary") from err
        targets[row, : len(ys)] = torch.tensor([-100 if y is None else labels[y] for y in ys])
    return Batch(tokens, tokens >= 0, targets)


class Layer(nn.Module):
    def __init__(self, cfg: ProgramConfig, n_cat: int, n_num: int) -> None:
        super().__init__()
        K = cfg.width
        self.cat_heads = nn.ModuleList(
            CategoricalAttention(n_cat, K, cfg.causal, cfg.attention_scores)
            for _ in range(cfg.n_cat_heads)
        )
        self.num_heads = nn.ModuleList(
            NumericalAttention(n_cat, K, cfg.causal) for _ in range(cfg.n_num_heads)
        )
        n_cat_mid, n_num_mid = n_cat + cfg.n_cat_heads, n_num + cfg.n_num_heads
        self.cat_mlps = nn.ModuleList(
            CategoricalMLP(n_cat_mid, K, cfg.mlp_hidden) for _ in range(cfg.n_cat_mlps)
        )
        self.num_mlps = nn.ModuleList(
            NumericalMLP(n_num_mid, K, cfg.mlp_hidden, cfg.num_mlp_inputs)
            for _ in range(cfg.n_num_mlps if n_num_mid else 0)
        )

    def forward(
        self, cat: Tensor, num: Tensor, valid: Tensor, **relax: Any
    ) -> tuple[Tensor, Tensor]:
        """Attention reads the layer's input stream; the MLPs read it after attention."""
        heads = [*self.cat_heads, *self.num_heads]
        reads = read_all(heads, cat, **relax)
        outputs = [h(r, valid, **relax) for h, r in zip(heads, reads, strict=True)]
        n_cat = len(self.cat_heads)
        cat = torch.cat([cat, *(v[None] for v in outputs[:n_cat])], 0)
        num = torch.cat([num, *(v[None] for v in outputs[n_cat:])], 0)
        new = []
        for mlps, stream in ((self.cat_mlps, cat), (self.num_mlps, num)):
            reads = read_all(list(mlps), stream, **relax)
            new += [m(r, **relax) for m, r in zip(mlps, reads, strict=True)]
        return torch.cat([cat, *(v[None] for v in new)], 0), num


class ProgramModel(nn.Module):
    """Categorical + numerical residual stream; `hard=True` is the discretized network."""

    def __init__(self, cfg: ProgramConfig) -> None:
        super().__init__()
        if cfg.n_num_mlps and not cfg.n_num_heads:
            raise ValueError("numerical MLPs need numerical heads to read from (n_num_heads > 0)")
        self.cfg = cfg
        n_cat, n_num, layers = 2, 0, []
        for _ in range(cfg.n_layers):
            layers.append(Layer(cfg, n_cat, n_num))
            n_cat += cfg.n_cat_heads + cfg.n_cat_mlps + cfg.n_num_mlps
            n_num += cfg.n_num_heads
        self.layers = nn.ModuleList(layers)
        self.n_cat, self.n_num = n_cat, n_num
        self.unembed = nn.Linear(n_cat * cfg.width + n_num, len(cfg.labels))

    def embed(self, tokens: Int[Tensor, "batch pos"], dtype: torch.dtype) -> Tensor:
        K = self.cfg.width
        tok = torch.nn.functional.one_hot(tokens.clamp(min=0), K) * (tokens >= 0)[..., None]
        pos = torch.eye(K)[: tokens.shape[1]].expand(tokens.shape[0], -1, -1)
        return torch.stack([tok.to(dtype), pos.to(dtype)], 0)  # [var, batch, pos, K]

    def stream(
        self,
        tokens: Tensor,
        valid: Tensor,
        tau: float = 1.0,
        hard: bool = False,
        noise: bool = False,
    ) -> tuple[Float[Tensor, "cat batch pos K"], Float[Tensor, "num batch pos"]]:
        """Every variable after the last layer: (categorical one-hots, numerical scalars)."""
        dtype = self.unembed.weight.dtype
        cat = self.embed(tokens, dtype)
        num = torch.zeros(0, *tokens.shape, dtype=dtype)
        for layer in self.layers:
            cat, num = layer(cat, num, valid, tau=tau, hard=hard, noise=noise)
        return cat, num

    def forward(
        self,
        tokens: Int[Tensor, "batch pos"],
        valid: Bool[Tensor, "batch pos"],
        tau: float = 1.0,
        hard: bool = False,
        noise: bool = False,
    ) -> Float[Tensor, "batch pos n_labels"]:
        cat, num = self.stream(tokens, valid, tau, hard, noise)
        features = torch.cat([cat.permute(1, 2, 0, 3).flatten(2), num.permute(1, 2, 0)], -1)
        return self.unembed(features)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Int[Tensor, "batch pos"]:
        """Discretized predictions, computed in float64 (the precision of the decompiled code)."""
        dtype = self.unembed.weight.dtype
        self.double()
        try:
            return self(batch.tokens, batch.valid, hard=True).argmax(-1)
        finally:
            self.to(dtype)

    def predict_labels(self, tokens: list) -> list:
        """Discretized predictions for one input sequence (BOS first), as label values."""
        batch = encode(self.cfg, [(tuple(tokens), (None,) * len(tokens))])
        return [self.cfg.labels[i] for i in self.predict(batch)[0, : len(tokens)].tolist()]
