"""Top activating contexts per MLP neuron: the `k` highest activations over a corpus, with the
token window around each, streamed batch by batch (Li et al. 2023's neuron view; the
"max activating examples" of interpretability work).

The running state is `[layer, d_mlp, k]` values plus their positions and windows: each batch's
own top k per neuron (one `torch.topk` over the batch's positions) is merged into it, so
memory never grows with the corpus, and two states of disjoint shards merge into the state
of the whole (`TopContexts.merge`, like `StatsSummary.merge`). Order is total: higher value
first, then the earlier (sequence, position), so results do not depend on batching or
sharding. Padded positions never count. A position is identified by its global sequence
index (`sequence_offset` + row) and its column.

Example:
    >>> state = collect_top_contexts(model, texts, k=8, window=6)
    >>> result = state.result(model)                 # TopContextsResult (JSON, views)
    >>> result.values[1, 42]                         # the 8 highest activations of neuron 42
    >>> result.context(1, 42, 0)                     # (tokens, index of the firing token)
    >>> a = collect_top_contexts(model, first_half)
    >>> b = collect_top_contexts(model, second_half, sequence_offset=len(first_half))
    >>> a.merge(b)                                   # == collect_top_contexts of the whole
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.analysis.runner import model_device
from workbench.core.collect import batches_of

POS_SPAN = 1 << 24  # key = sequence * POS_SPAN + position: one int64 orders both
EMPTY = torch.iinfo(torch.int64).max  # key of an empty slot (sorts after every real one)
OUTSIDE = -1  # window entry outside the sequence or on padding


def top_k_rows(
    values: Float[Tensor, "row n"], k: int, where: str = "values"
) -> tuple[Float[Tensor, "row k"], Int[Tensor, "row k"]]:
    """The `k` largest entries of each row and their column, ordered by value (descending)
    then column (ascending): ties go to the earlier column, whatever `topk` picked. NaN or
    +inf anywhere is an error naming `where` (topk ranks them first, so the check is free)."""
    k = min(k, values.shape[1])
    values = values.contiguous()
    top = values.topk(k, dim=1, sorted=False).values
    if bool((top.isnan() | (top == math.inf)).any()):
        raise ValueError(f"{where} has non-finite activations (NaN or +inf)")
    kth = top.amin(1, keepdim=True)
    greater, equal = values > kth, values == kth
    need = k - greater.sum(1, keepdim=True, dtype=torch.int32)
    take = greater
    tied = (equal.sum(1, keepdim=True, dtype=torch.int32) > need).flatten().nonzero().flatten()
    if len(tied):  # rows whose k-th value is shared beyond k: the earliest columns win
        first = equal[tied].cumsum(1, dtype=torch.int32) <= need[tied]
        take = take.clone()
        take[tied] |= equal[tied] & first
    untied = torch.ones(len(values), dtype=torch.bool)
    untied[tied] = False
    take[untied] |= equal[untied]
    columns = take.nonzero()[:, 1].view(len(values), k)  # ascending within each row
    chosen = values.gather(1, columns)
    order = chosen.argsort(dim=1, descending=True, stable=True)
    return chosen.gather(1, order), columns.gather(1, order)


def merge_sorted(values: Tensor, keys: Tensor, k: int) -> Int[Tensor, "row k"]:
    """Indices (along the last dim) of the `k` best of each row: value descending, key
    ascending."""
    by_key = keys.argsort(dim=-1, stable=True)
    ordered = values.gather(-1, by_key)
    by_value = ordered.argsort(dim=-1, descending=True, stable=True)[..., :k]
    return by_key.gather(-1, by_value)


def token_windows(
    tokens: Int[Tensor, "batch pos"],
    mask: Bool[Tensor, "batch pos"],
    flat: Int[Tensor, "..."],
    radius: int,
) -> Int[Tensor, "... window"]:
    """Token ids around flat positions `b * pos + t`, `OUTSIDE` beyond the sequence."""
    batch, length = tokens.shape
    padded = torch.full((batch, length + 2 * radius), OUTSIDE, dtype=torch.long)
    padded[:, radius : radius + length] = torch.where(mask, tokens, OUTSIDE)
    rows, cols = flat // length, flat % length
    offsets = torch.arange(2 * radius + 1)
    return padded[rows[..., None], cols[..., None] + offsets]


@dataclasses.dataclass(eq=False)
class TopContexts:
    """Running top-k state: `values`, `keys`, `windows` per `[layer, d_mlp, k]`."""

    values: Float[Tensor, "layer d_mlp k"]
    keys: Int[Tensor, "layer d_mlp k"]
    windows: Int[Tensor, "layer d_mlp k window"]
    radius: int
    tokens: int = 0
    sequences: int = 0
    sequence_offset: int = 0  # global index of this state's first sequence
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(cls, n_layers: int, d_mlp: int, k: int, radius: int, meta=None) -> TopContexts:
        if k < 1 or radius < 0:
            raise ValueError(f"need k >= 1 and window radius >= 0, got k={k}, radius={radius}")
        shape = (n_layers, d_mlp, k)
        return cls(
            values=torch.full(shape, -math.inf), keys=torch.full(shape, EMPTY),
            windows=torch.full((*shape, 2 * radius + 1), OUTSIDE), radius=radius,
            meta=dict(meta or {}),
        )  # fmt: skip

    @property
    def k(self) -> int:
        return self.values.shape[-1]

    def _fold(self, layer: int, values: Tensor, keys: Tensor, windows: Tensor) -> None:
        """Keep the best `k` of the running and the new candidates of one layer."""
        values = torch.cat([self.values[layer], values.to(self.values.dtype)], -1)
        keys = torch.cat([self.keys[layer], keys], -1)
        windows = torch.cat([self.windows[layer], windows], -2)
        best = merge_sorted(values, keys, self.k)
        self.values[layer] = values.gather(-1, best)
        self.keys[layer] = keys.gather(-1, best)
        self.windows[layer] = windows.gather(1, best[..., None].expand(-1, -1, windows.shape[-1]))

    def add(
        self,
        layer: int,
        post: Float[Tensor, "batch pos d_mlp"],
        tokens: Int[Tensor, "batch pos"],
        mask: Bool[Tensor, "batch pos"],
        sequence_offset: int,
    ) -> None:
        """Fold one layer's post-activations of one batch (padding excluded)."""
        post, tokens, mask = post.detach().float().cpu(), tokens.cpu(), mask.cpu()
        values = torch.where(mask[..., None], post, -math.inf).flatten(0, 1).T  # [d_mlp, B*T]
        best, flat = top_k_rows(values, self.k, where=f"blocks.{layer}.mlp.hook_post")
        length = tokens.shape[1]
        keys = (sequence_offset + flat // length) * POS_SPAN + flat % length
        empty = best == -math.inf
        keys = torch.where(empty, EMPTY, keys)
        windows = token_windows(tokens, mask, flat, self.radius)
        windows = torch.where(empty[..., None], OUTSIDE, windows)
        self._fold(layer, best, keys, windows)

    def merge(self, other: TopContexts) -> TopContexts:
        """The state of both token sets (disjoint sequence indices)."""
        for key in ("model", "config_hash"):
            if self.meta.get(key) != other.meta.get(key):
                raise ValueError(f"Cannot merge top contexts with different {key}: "
                                 f"{self.meta.get(key)!r} vs {other.meta.get(key)!r}")  # fmt: skip
        if self.values.shape != other.values.shape or self.radius != other.radius:
            raise ValueError(
                f"Cannot merge top contexts of shape {list(self.values.shape)} (radius "
                f"{self.radius}) with {list(other.values.shape)} (radius {other.radius})"
            )
        shared = (self.keys[..., None] == other.keys[..., None, :]) & (self.keys[..., None] < EMPTY)
        if bool(shared.any()):
            raise ValueError("the two states share token positions: pass sequence_offset=...")
        merged = TopContexts.empty(*self.values.shape, self.radius, self.meta)
        merged.values, merged.keys, merged.windows = (
            self.values.clone(), self.keys.clone(), self.windows.clone())  # fmt: skip
        for layer in range(len(self.values)):
            merged._fold(layer, other.values[layer], other.keys[layer], other.windows[layer])
        merged.sequence_offset = min(self.sequence_offset, other.sequence_offset)
        merged.tokens = self.tokens + other.tokens
        merged.sequences = self.sequences + other.sequences
        return merged

    def result(self, model: Any = None, data_description: str = "") -> TopContextsResult:
        """A `TopContextsResult`; with `model`, the token strings of the windows too."""
        return make_result(self, model, data_description)


def collect_top_contexts(
    model: Any,
    data: Tensor | str | list[str],
    *,
    k: int = 8,
    window: int = 8,
    batch_size: int = 8,
    seq_len: int | None = None,
    attention_mask: Tensor | None = None,
    sequence_offset: int = 0,
    progress: bool = True,
) -> TopContexts:
    """Stream `data` (as `collect_stats` takes it) through `model`, keeping per neuron the `k`
    highest post-activations and `window` tokens on each side of each."""
    batches, total = batches_of(model, data, batch_size, seq_len, attention_mask)
    cfg = model.cfg
    meta = {"model": cfg.name, "config_hash": cfg.config_hash()}
    state = TopContexts.empty(cfg.n_layers, cfg.d_mlp, k, window, meta)
    state.sequence_offset = sequence_offset
    bar = tqdm(total=total, desc="top contexts", unit="tok", disable=not progress)
    for tokens, mask in batches:
        update_from_batch(model, state, tokens, mask)
        bar.update(int(tokens.numel() if mask is None else mask.sum()))
    bar.close()
    return state


def update_from_batch(
    model: Any, state: TopContexts, tokens: Tensor, mask: Tensor | None = None
) -> None:
    """One forward pass of `tokens` with hooks on every `blocks.{l}.mlp.hook_post`; the batch's
    rows are the state's next sequences (`sequence_offset + sequences`, advanced here)."""
    mask = torch.ones_like(tokens, dtype=torch.bool) if mask is None else mask.bool()
    offset = state.sequence_offset + state.sequences

    def fold(post: Tensor, hook: Any) -> None:
        layer = int(hook.name.split(".")[1])
        state.add(layer, post, tokens, mask, offset)

    names = [f"blocks.{layer}.mlp.hook_post" for layer in range(model.cfg.n_layers)]
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.run_with_hooks(tokens.to(device), attention_mask=mask.to(device),
                                 fwd_hooks=[(name, fold) for name in names])  # fmt: skip
    finally:
        model.train(was_training)
    state.tokens += int(mask.sum())
    state.sequences += len(tokens)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class TopContextsResult(Result):
    """Per layer and neuron the `k` highest activations (-inf: fewer than k real tokens),
    their global sequence index and position, and the token window around each
    (`OUTSIDE` = -1 beyond the sequence); `token_strs[str(id)]` names each window token."""

    values: Float[Tensor, "layer d_mlp k"]
    sequence: Int[Tensor, "layer d_mlp k"]
    position: Int[Tensor, "layer d_mlp k"]
    windows: Int[Tensor, "layer d_mlp k window"]
    radius: int
    n_tokens: int
    token_strs: dict[str, str]

    def context(self, layer: int, neuron: int, rank: int) -> tuple[list[str], int]:
        """The window's token strings (real tokens only) and the index of the firing token."""
        ids = self.windows[layer, neuron, rank].tolist()
        before = sum(1 for i in ids[: self.radius] if i != OUTSIDE)
        strs = [self.token_strs.get(str(i), f"<{i}>") for i in ids if i != OUTSIDE]
        return strs, before


def make_result(
    state: TopContexts, model: Any = None, data_description: str = ""
) -> TopContextsResult:
    """The state as a result; the window tokens named by `model`'s tokenizer when given."""
    used = sorted(set(state.windows[state.windows != OUTSIDE].tolist()))
    tokenizer = getattr(model, "tokenizer", None) if model is not None else None
    strs = {str(i): tokenizer.to_str_tokens([i])[0] for i in used} if tokenizer else {}
    real = state.keys != EMPTY
    metadata = ResultMetadata(
        model_name=str(state.meta.get("model")),
        config_hash=str(state.meta.get("config_hash")),
        options={"k": state.k, "window": state.radius, "sequence_offset": state.sequence_offset},
        n_tokens=state.tokens,
        data_description=data_description or f"{state.sequences} sequences, {state.tokens} tokens",
    )
    return TopContextsResult(
        values=state.values.clone(),
        sequence=torch.where(real, state.keys // POS_SPAN, OUTSIDE),
        position=torch.where(real, state.keys % POS_SPAN, OUTSIDE),
        windows=state.windows.clone(), radius=state.radius, n_tokens=state.tokens,
        token_strs=strs, metadata=metadata,
    )  # fmt: skip
