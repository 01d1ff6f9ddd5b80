"""Activation patching sweeps, many patched forwards per batched pass.

A *site* names what one patch replaces: the residual stream at one layer and position
(`"resid"`: `blocks.{l}.hook_resid_pre`), a sublayer output at one layer and position
(`"attn_out"`, `"mlp_out"`), one head's output `hook_z` at every position (`"head"`) or at
one position (`"head_pos"`). A sweep runs the corrupted tokens once per patch with the clean
activation copied in at that patch, and reports `metric(logits)` for each patch.

Instead of one forward per patch, `P` patches of one layer run together: the corrupted batch
is repeated `P` times (`[P * batch, pos]`) and the layer's hook copies the clean activation
into each patch's rows through a boolean mask. Blocks before the patched layer are not run
again: the pass starts from the corrupted run's input of that block, and for `head_pos`
patches the patched block itself runs on the patched position only (see
`_one_position_patches`). `P` comes from a memory budget (or `patches_per_pass`). The
metric sees each patch's `[batch, pos, d_vocab]` logits, exactly as an unbatched run would
give them.

Example:
    >>> metric = lambda logits: logits[:, -1, 7].mean() - logits[:, -1, 3].mean()
    >>> values = activation_patching(model, clean, corrupted, metric, site="head")
    >>> values.shape          # [layer, head]
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.analysis.runner import model_device
from workbench.core.registry import suggest

Metric = Callable[[Float[Tensor, "batch pos d_vocab"]], Float[Tensor, ""]]


@dataclasses.dataclass(frozen=True)
class Site:
    """What a patch replaces: `hook` (with `{layer}`) and the axes that index the patches."""

    hook: str
    axes: tuple[str, ...]

    def hook_name(self, layer: int) -> str:
        return self.hook.format(layer=layer)


SITES = {
    "resid": Site("blocks.{layer}.hook_resid_pre", ("layer", "pos")),
    "attn_out": Site("blocks.{layer}.hook_attn_out", ("layer", "pos")),
    "mlp_out": Site("blocks.{layer}.hook_mlp_out", ("layer", "pos")),
    "head": Site("blocks.{layer}.attn.hook_z", ("layer", "head")),
    "head_pos": Site("blocks.{layer}.attn.hook_z", ("layer", "pos", "head")),
}


def get_site(site: str) -> Site:
    if site not in SITES:
        raise ValueError(f"Unknown patching site {site!r}. {suggest(site, list(SITES))}")
    return SITES[site]


def sweep_shape(model: Any, site: str, n_pos: int) -> tuple[int, ...]:
    """The result's shape: one entry per patch, along the site's axes."""
    sizes = {"layer": model.cfg.n_layers, "pos": n_pos, "head": model.cfg.n_heads}
    return tuple(sizes[axis] for axis in get_site(site).axes)


def patch_mask(
    site: str, index: tuple[int, ...], act_shape: tuple[int, ...]
) -> Bool[Tensor, "..."]:
    """Where patch `index` = (layer, ...) replaces one example's activation `act_shape`
    (`[pos, d_model]` or `[pos, head, d_head]`), as a mask broadcastable to it."""
    mask = torch.zeros(act_shape[:-1] + (1,), dtype=torch.bool)
    axes = get_site(site).axes
    where = dict(zip(axes, index, strict=True))
    if site == "head":
        mask[:, where["head"]] = True
    elif site == "head_pos":
        mask[where["pos"], where["head"]] = True
    else:
        mask[where["pos"]] = True
    return mask


def check_pair(clean: Int[Tensor, "batch pos"], corrupted: Int[Tensor, "batch pos"]) -> None:
    if clean.shape != corrupted.shape:
        raise ValueError(
            f"clean tokens {list(clean.shape)} and corrupted tokens {list(corrupted.shape)} "
            "must have the same shape: a patch copies position p of one into position p of "
            "the other"
        )


def metric_value(metric: Metric, logits: Tensor) -> Tensor:
    """`metric(logits)` as a 0-dim float tensor; anything else is an error naming the shape."""
    value = metric(logits)
    if not isinstance(value, Tensor) or value.dim() != 0:
        shape = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(
            f"the patching metric must return a 0-dim tensor (e.g. a mean over the batch), "
            f"got {shape}"
        )
    return value


def bytes_per_row(model: Any, n_pos: int, element_size: int = 4) -> int:
    """A rough upper estimate of the memory one sequence's forward takes without gradients:
    logits (and the metric's log-softmax), a few residual-stream temporaries, the MLP
    hidden layer and one layer's attention scores."""
    cfg = model.cfg
    d_mlp = cfg.d_mlp if any(b.mlp is not None for b in model.blocks) else 0
    per_pos = 2 * cfg.d_vocab + 12 * cfg.d_model + 2 * d_mlp + 2 * cfg.n_heads * n_pos
    return element_size * n_pos * per_pos


def default_budget(device: torch.device) -> int:
    """64 MiB per pass on a CPU, 2 GiB on a GPU. On a CPU, passes much larger than the
    caches lose more to memory-bound elementwise work (bias adds, activations) than they
    gain from fewer calls: on the benchmark model (`benchmarks/patching.py`) a 64 MiB pass
    ran a sweep 1.5-2x faster than a 1 GiB one."""
    return 2**31 if device.type == "cuda" else 2**26


def patches_per_pass_for(model: Any, batch: int, n_pos: int, memory_budget: int) -> int:
    """How many patches fit in one pass of `memory_budget` bytes (at least 1)."""
    if memory_budget <= 0:
        raise ValueError(f"memory_budget must be > 0 bytes, got {memory_budget}")
    return max(1, memory_budget // (bytes_per_row(model, n_pos) * batch))


def _patch_hooks(
    model: Any, site: str, chunk: Sequence[tuple[int, ...]], clean_acts: dict[int, Tensor]
) -> list[tuple[str, Callable]]:
    """One hook per layer the chunk touches; row block `i` of the repeated batch gets the
    clean activation where patch `chunk[i]` says, its own activation elsewhere."""
    hooks = []
    for layer in sorted({index[0] for index in chunk}):
        clean = clean_acts[layer]  # [batch, pos, ...]
        masks = torch.stack(
            [
                patch_mask(site, index, tuple(clean.shape[1:]))
                if index[0] == layer
                else torch.zeros(tuple(clean.shape[1:-1]) + (1,), dtype=torch.bool)
                for index in chunk
            ]
        ).to(clean.device)  # [patch, pos, ..., 1]

        def patch(act: Tensor, hook: Any, clean=clean, masks=masks) -> Tensor:
            rows = act.reshape(len(masks), *clean.shape)  # [patch, batch, pos, ...]
            return torch.where(masks[:, None], clean[None], rows).reshape(act.shape)

        hooks.append((get_site(site).hook_name(layer), patch))
    return hooks


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """The model in eval mode inside (no dropout in a sweep), its own mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def clean_activations(model: Any, clean: Tensor, site: str) -> tuple[Tensor, dict[int, Tensor]]:
    """Clean logits and the site's clean activation at every layer (checks the hook names)."""
    names = [get_site(site).hook_name(layer) for layer in range(model.cfg.n_layers)]
    logits, cache = model.run_with_cache(clean, names_filter=names)
    return logits, {layer: cache[name] for layer, name in enumerate(names)}


@torch.no_grad()
def activation_patching(
    model: Any,
    clean: Int[Tensor, "batch pos"],
    corrupted: Int[Tensor, "batch pos"],
    metric: Metric,
    site: str = "resid",
    *,
    patches_per_pass: int | None = None,
    memory_budget: int | None = None,
    progress: bool = True,
) -> Float[Tensor, "..."]:
    """`metric` of the corrupted run with each clean activation of `site` patched in, one
    value per patch along the site's axes (`[layer, pos]`, `[layer, head]` or
    `[layer, pos, head]`), float32 on the CPU. A pass holds as many patches as
    `memory_budget` bytes allow (`default_budget`), or `patches_per_pass`."""
    check_pair(clean, corrupted)
    if patches_per_pass is not None and patches_per_pass < 1:
        raise ValueError(f"patches_per_pass must be >= 1, got {patches_per_pass}")
    device = model_device(model)
    clean, corrupted = clean.to(device), corrupted.to(device)
    batch = clean.shape[0]
    budget = default_budget(device) if memory_budget is None else memory_budget
    per_pass = patches_per_pass or patches_per_pass_for(model, batch, clean.shape[1], budget)
    with eval_mode(model):
        return _sweep(model, clean, corrupted, metric, site, per_pass, progress)


def _sweep(model, clean, corrupted, metric, site, per_pass, progress) -> Tensor:
    shape = sweep_shape(model, site, clean.shape[1])
    _, clean_acts = clean_activations(model, clean, site)
    corrupted_run = CorruptedRun.of(model, corrupted, site)
    batch = clean.shape[0]
    indices = list(itertools.product(*(range(n) for n in shape)))  # layer-major
    values = torch.empty(len(indices), dtype=torch.float32)
    bar = tqdm(total=len(indices), desc=f"patching {site}", unit="patch",
               disable=not progress or len(indices) <= per_pass)  # fmt: skip
    done = 0
    for layer, group in itertools.groupby(indices, key=lambda index: index[0]):
        for chunk in _chunks(list(group), per_pass):
            if site == "head_pos":
                logits = _one_position_patches(model, layer, chunk, clean_acts, corrupted_run)
            else:
                hooks = _patch_hooks(model, site, chunk, clean_acts)
                resid = corrupted_run.resid_pre[layer].repeat(len(chunk), 1, 1)
                with model.hooks(fwd_hooks=hooks):
                    logits = _forward_from(model, layer, resid, corrupted_run.repeated(chunk))
            for i, rows in enumerate(logits.split(batch)):
                values[done + i] = metric_value(metric, rows).float().cpu()
            done += len(chunk)
            bar.update(len(chunk))
    bar.close()
    return values.reshape(shape)


@dataclasses.dataclass(frozen=True)
class CorruptedRun:
    """What the patched passes reuse from the unpatched corrupted run: every block's input
    and output (a patch at layer l leaves the blocks before l as they were, so its pass
    starts at block l) and, for `head_pos`, every layer's `hook_z`."""

    tokens: Tensor
    resid_pre: list[Tensor]
    resid_post: list[Tensor]
    z: list[Tensor] | None

    @classmethod
    def of(cls, model: Any, corrupted: Tensor, site: str) -> CorruptedRun:
        layers = range(model.cfg.n_layers)
        pre = [f"blocks.{layer}.hook_resid_pre" for layer in layers]
        post = [f"blocks.{layer}.hook_resid_post" for layer in layers]
        z = [f"blocks.{layer}.attn.hook_z" for layer in layers] if site == "head_pos" else []
        _, cache = model.run_with_cache(corrupted, names_filter=pre + post + z)
        return cls(corrupted, [cache[n] for n in pre], [cache[n] for n in post],
                   [cache[n] for n in z] or None)  # fmt: skip

    def repeated(self, chunk: Sequence) -> Tensor:
        return self.tokens.repeat(len(chunk), 1)


def _one_position_patches(
    model: Any, layer: int, chunk: Sequence[tuple[int, ...]], clean_acts: dict[int, Tensor],
    run: CorruptedRun,
) -> Tensor:  # fmt: skip
    """Logits of `head_pos` patches (layer, pos, head) of one layer. Within the patched
    block, everything after `hook_z` (output projection, residual adds, norms, MLP) works
    position by position, so only the patched position changes there: the block runs on
    that one position (its `hook_z` replaced by the patched value, its attention therefore
    unused), the result replaces that position of the corrupted block output, and the
    blocks after it run on the whole sequence."""
    n, batch = len(chunk), run.tokens.shape[0]
    pos = torch.tensor([index[1] for index in chunk], device=run.tokens.device)
    heads = torch.tensor([index[2] for index in chunk], device=run.tokens.device)
    patches = torch.arange(n, device=pos.device)
    z = run.z[layer][:, pos].transpose(0, 1).clone()  # [patch, batch, head, d_head]
    z[patches, :, heads] = clean_acts[layer][:, pos].transpose(0, 1)[patches, :, heads]
    x = run.resid_pre[layer][:, pos].transpose(0, 1).reshape(n * batch, 1, -1)

    def patched_z(act: Tensor, hook: Any) -> Tensor:
        return z.reshape(act.shape).to(act.dtype)

    one = model._context(run.tokens.repeat(n, 1)[:, :1], None, None)
    with model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", patched_z)]):
        out = model.blocks[layer](x, one)[:, 0]  # [patch * batch, d_model]
    resid = run.resid_post[layer].repeat(n, 1, 1)
    resid[torch.arange(n * batch, device=pos.device), pos.repeat_interleave(batch)] = out
    return _forward_from(model, layer + 1, resid, run.repeated(chunk))


def _forward_from(model: Any, layer: int, resid: Tensor, tokens: Tensor) -> Tensor:
    """`Model._forward` from block `layer` on, given that block's input (the tail of the
    same loop: blocks, final norm, unembedding; the tests compare it with full forwards)."""
    ctx = model._context(tokens, None, None)
    for block in model.blocks[layer:]:
        resid = block(resid, ctx)
    if model.ln_final is not None:
        resid = model.ln_final(resid)
    return resid if model.unembed is None else model.unembed(resid)
