"""Residual-stream methods of `ActivationCache` with TransformerLens's names and semantics.

`accumulated_resid` (the logit lens' input), `decompose_resid` (embeddings + each sublayer's
output), `apply_ln_to_stack` (a norm folded into a stack with its cached scale),
`logit_attrs` (direct logit attribution), `apply_slice_to_batch_dim`, `toggle_autodiff`.
Per-head and per-neuron stacks are in `cache_units.py`. Every decomposition checks that it
sums exactly to the real stream for this model (see `cache_norm.py`) and raises otherwise.

One deliberate difference: `logit_attrs` folds the final norm's weight `w` into the token
directions, so it is right on a model whose norms are not folded into its weights (ours
never are). TransformerLens's equals it on a bridge processed with `fold_ln=True`.

Example:
    >>> logits, cache = model.run_with_cache(tokens)
    >>> stack, labels = cache.decompose_resid(return_labels=True)   # embed, 0_attn_out, ...
    >>> dla = cache.logit_attrs(stack, tokens=answer, incorrect_tokens=wrong, pos_slice=-1)
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.core.cache_norm import (
    DecompositionError,
    NormFold,
    check_decomposable,
    check_mlp_input,
)

SliceLike = Any  # None | int | (start, stop[, step]) | slice | list/tensor of indices


def apply_slice(x: Tensor, index: SliceLike, dim: int) -> Tensor:
    """TransformerLens's `Slice` semantics: None keeps all, an int selects (drops the dim),
    a tuple/slice slices, a list/tensor gathers. A TransformerLens `Slice` is applied as is."""
    if index is None:
        return x
    if hasattr(index, "apply"):
        return index.apply(x, dim=dim)
    if isinstance(index, int):
        return x.select(dim, index)
    if isinstance(index, tuple):
        index = slice(*index)
    if isinstance(index, slice):
        dim = dim % x.dim()
        return x[(slice(None),) * dim + (index,)]
    return x.index_select(dim, torch.as_tensor(index, device=x.device).long())


class ResidDecompositionMixin:
    """Mixed into `ActivationCache`; needs `self.model` (set by `Model.run_with_cache`)."""

    cache_dict: dict[str, Tensor]
    has_batch_dim: bool
    model: Any

    # -- helpers -------------------------------------------------------------------------
    def _need_model(self, what: str) -> Any:
        if self.model is None:
            raise ValueError(
                f"cache.{what} needs the model: use the cache from model.run_with_cache, or "
                "ActivationCache(cache_dict, model=model)"
            )
        return self.model

    def _layer(self, layer: int | None, what: str) -> int:
        n_layers = self._need_model(what).cfg.n_layers
        if layer is None or layer == -1:
            return n_layers
        if not 0 <= layer <= n_layers:
            raise ValueError(f"cache.{what}: layer must be in [0, {n_layers}] or -1, got {layer}")
        return layer

    def _norm_at(self, layer: int, mlp_input: bool) -> tuple[Any, str, str]:
        """(module or None, its name, the stream it normalizes) for the input to `layer`."""
        model = self.model
        if layer == model.cfg.n_layers:
            if mlp_input:
                raise ValueError(
                    "mlp_input=True has no meaning at the unembedding (layer n_layers)"
                )
            return model.ln_final, "ln_final", f"blocks.{layer - 1}.hook_resid_post"
        block = model.blocks[layer]
        norm = "ln2" if mlp_input else "ln1"
        stream = "hook_resid_mid" if mlp_input else "hook_resid_pre"
        if not mlp_input and _first_reader(block) is not None:
            norm = _first_reader(block)
        module = block
        for part in norm.split(".") if norm else ():
            module = getattr(module, part)
        return (
            module if norm else None,
            f"blocks.{layer}.{norm}",
            f"blocks.{layer}.{stream}",
        )

    def _fold_scale(
        self, layer: int, mlp_input: bool, pos_slice: SliceLike, batch_slice: SliceLike
    ) -> tuple[NormFold | None, Tensor | None]:
        """The norm reading the input to `layer` and its scale `[*batch, pos, 1]` (cached
        `hook_scale`, else recomputed from the stream it normalizes)."""
        check_mlp_input(self.model, mlp_input, "apply_ln_to_stack")
        module, name, stream = self._norm_at(layer, mlp_input)
        if module is None:
            return None, None
        fold = NormFold.of(module, name)
        key = f"{name}.hook_scale"
        scale = self.cache_dict[key] if key in self.cache_dict else fold.scale(self[stream])
        scale = apply_slice(scale, pos_slice, -2)
        if batch_slice is not None and self.has_batch_dim:
            scale = apply_slice(scale, batch_slice, 0)
        return fold, scale

    # -- TransformerLens API ---------------------------------------------------------------
    def apply_ln_to_stack(
        self,
        residual_stack: Float[Tensor, "component *batch_and_pos d_model"],
        layer: int | None = None,
        mlp_input: bool = False,
        pos_slice: SliceLike = None,
        batch_slice: SliceLike = None,
        has_batch_dim: bool = True,
        recompute_ln: bool = False,
    ) -> Float[Tensor, "component *batch_and_pos d_model"]:
        """Each component as the norm before `layer` sees it, with the real forward's scale:
        `lin(c) / s` (no `w`, `b`). `recompute_ln` at the unembedding runs the whole final
        norm on each component instead (the logit lens). No norm there: unchanged.

        Example:
            >>> cache.apply_ln_to_stack(cache.decompose_resid(), pos_slice=-1)
        """
        layer = self._layer(layer, "apply_ln_to_stack")
        if has_batch_dim and batch_slice is not None:
            residual_stack = apply_slice(residual_stack, batch_slice, 1)
        if recompute_ln and layer == self.model.cfg.n_layers:
            if self.model.ln_final is None:
                return residual_stack
            return self.model.ln_final(residual_stack)
        if self.model.cfg.norm_placement.norm_after_add and layer < self.model.cfg.n_layers:
            raise DecompositionError(
                f"apply_ln_to_stack: norm_placement {self.model.cfg.norm_placement.name!r} "
                f"has no norm reading the stream into layer {layer} (its norms follow the adds)"
            )
        fold, scale = self._fold_scale(layer, mlp_input, pos_slice, batch_slice)
        if fold is None:
            return residual_stack
        return fold.linear(residual_stack) / scale

    def accumulated_resid(
        self,
        layer: int | None = None,
        incl_mid: bool = False,
        apply_ln: bool = False,
        pos_slice: SliceLike = None,
        mlp_input: bool = False,
        return_labels: bool = False,
    ) -> Tensor | tuple[Tensor, list[str]]:
        """The stream before each layer up to `layer` (`{l}_pre`, with `incl_mid` also
        `{l}_mid`; `final_post` for layer n_layers): `[component, *batch, pos, d_model]`."""
        layer = self._layer(layer, "accumulated_resid")
        check_mlp_input(self.model, mlp_input, "accumulated_resid")
        n_layers = self.model.cfg.n_layers
        parts, labels = [], []
        for index in range(layer + 1):
            if index == n_layers:
                parts.append(self[f"blocks.{n_layers - 1}.hook_resid_post"])
                labels.append("final_post")
                continue
            parts.append(self[f"blocks.{index}.hook_resid_pre"])
            labels.append(f"{index}_pre")
            has_mid = self.model.blocks[index].mlp is not None  # mlp="none": no resid_mid
            if has_mid and ((incl_mid and index < layer) or (mlp_input and index == layer)):
                parts.append(self[f"blocks.{index}.hook_resid_mid"])
                labels.append(f"{index}_mid")
        stack = torch.stack([apply_slice(p, pos_slice, -2) for p in parts])
        if apply_ln:
            stack = self.apply_ln_to_stack(
                stack, layer, mlp_input, pos_slice, recompute_ln=layer == n_layers
            )
        return (stack, labels) if return_labels else stack

    def decompose_resid(
        self,
        layer: int | None = None,
        mlp_input: bool = False,
        mode: str = "all",
        apply_ln: bool = False,
        pos_slice: SliceLike = None,
        incl_embeds: bool = True,
        return_labels: bool = False,
    ) -> Tensor | tuple[Tensor, list[str]]:
        """The stream into `layer` as `embed`, `pos_embed`, `{l}_attn_out`, `{l}_mlp_out`
        (`mode` "attn"/"mlp" keeps one kind); with all of them the stack sums to it exactly."""
        if mode not in ("all", "attn", "mlp"):
            raise ValueError(f"decompose_resid: mode must be 'all', 'attn' or 'mlp', got {mode!r}")
        layer = self._layer(layer, "decompose_resid")
        check_decomposable(self.model, "decompose_resid")
        check_mlp_input(self.model, mlp_input, "decompose_resid")
        parts, labels = [], []
        if incl_embeds:
            for key, label in (("hook_embed", "embed"), ("hook_pos_embed", "pos_embed")):
                if key in self.cache_dict:
                    parts.append(self[key])
                    labels.append(label)
        kinds = [k for k in ("attn", "mlp") if mode in ("all", k)]
        for index in range(layer):
            # macaron: the layout's own first half-FFN adds to the stream before attention
            if "mlp" in kinds and hasattr(self.model.blocks[index].layout, "hook_mlp_out"):
                parts.append(self[f"blocks.{index}.layout.hook_mlp_out"])
                labels.append(f"{index}_layout_mlp_out")
            for kind in kinds:
                if kind == "mlp" and self.model.blocks[index].mlp is None:
                    continue  # attention-only layer (mlp="none"): no hook_mlp_out
                parts.append(self[f"blocks.{index}.hook_{kind}_out"])
                labels.append(f"{index}_{kind}_out")
        if mlp_input and "attn" in kinds:
            parts.append(self[f"blocks.{layer}.hook_attn_out"])
            labels.append(f"{layer}_attn_out")
        if not parts:
            raise ValueError("decompose_resid: no components selected (incl_embeds=False, layer 0)")
        stack = torch.stack([apply_slice(p, pos_slice, -2) for p in parts])
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, mlp_input, pos_slice)
        return (stack, labels) if return_labels else stack

    def logit_attrs(
        self,
        residual_stack: Float[Tensor, "component *batch_and_pos d_model"],
        tokens: str | int | Int[Tensor, "..."],
        incorrect_tokens: str | int | Int[Tensor, "..."] | None = None,
        pos_slice: SliceLike = None,
        batch_slice: SliceLike = None,
        has_batch_dim: bool = True,
    ) -> Float[Tensor, "component *batch_and_pos"]:
        """Each component's direct effect on the logit of `tokens` (minus `incorrect_tokens`):
        `lin(c) / s . (w_final * W_U[:, token])`. The final norm's bias and `b_U` are
        constants left out, so over a full decomposition the sum is the logit (difference)
        minus `b_final . W_U[:, token] + b_U[token]`."""
        model = self._need_model("logit_attrs")
        directions = self._directions(tokens)
        if incorrect_tokens is not None:
            wrong = self._directions(incorrect_tokens)
            if _token_shape(model, tokens) != _token_shape(model, incorrect_tokens):
                raise ValueError(
                    "logit_attrs: tokens and incorrect_tokens must have the same shape, got "
                    f"{_token_shape(model, tokens)} and {_token_shape(model, incorrect_tokens)}"
                )
            directions = directions - wrong
        scaled = self.apply_ln_to_stack(
            residual_stack, -1, False, pos_slice, batch_slice, has_batch_dim
        )
        per_example = (
            has_batch_dim
            and not isinstance(batch_slice, int)
            and scaled.dim() == 4
            and directions.dim() == 2
            and directions.shape[0] == scaled.shape[1]
        )
        if per_example:  # one direction per example, shared by its positions
            directions = directions.unsqueeze(-2)
        return (scaled * directions).sum(-1)

    def _directions(self, tokens: Any) -> Tensor:
        """Unembedding directions of `tokens` with the final norm's weight folded in."""
        directions = self.model.tokens_to_residual_directions(tokens)
        if self.model.ln_final is not None:
            directions = directions * NormFold.of(self.model.ln_final, "ln_final").weight
        return directions

    def stack_activation(
        self, activation_name: str, layer: int = -1, sublayer_type: str | None = None
    ) -> Float[Tensor, "layer ..."]:
        """One activation stacked over the layers before `layer` (-1: all)."""
        layer = self._layer(layer, "stack_activation")
        return torch.stack([self[activation_name, index, sublayer_type] for index in range(layer)])

    def apply_slice_to_batch_dim(self, batch_slice: SliceLike):
        """A cache with every tensor sliced on its batch dimension (an int drops it)."""
        if not self.has_batch_dim:
            raise ValueError("apply_slice_to_batch_dim: this cache has no batch dimension")
        sliced = {k: apply_slice(v, batch_slice, 0) for k, v in self.cache_dict.items()}
        return type(self)(sliced, not isinstance(batch_slice, int), model=self.model)

    def toggle_autodiff(self, mode: bool = False) -> None:
        """`torch.set_grad_enabled(mode)`: global torch state, as in TransformerLens."""
        logging.getLogger(__name__).warning("Changed the global state, set autodiff to %s", mode)
        torch.set_grad_enabled(mode)


def _first_reader(block: Any) -> str | None:
    """The norm that reads `hook_resid_pre` when it is not `ln1`: macaron's first half-FFN
    norm (`layout.ln`), or `ln2` after an identity mixer (the block skips it and has no
    `ln1`; resid_mid == resid_pre). None: `ln1` (or no norm at all: "")."""
    if hasattr(block.layout, "hook_mlp_out"):  # macaron
        return "layout.ln" if block.layout.ln is not None else ""
    if getattr(block.attn, "adds_nothing", False):
        return "ln2" if block.ln2 is not None else ""
    return None


def _token_shape(model: Any, tokens: Any) -> tuple[int, ...]:
    if isinstance(tokens, str | int):
        return ()
    return tuple(torch.as_tensor(tokens).shape)
