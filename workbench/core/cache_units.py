"""Per-head and per-neuron residual stacks of `ActivationCache` (TransformerLens names).

`compute_head_results`, `stack_head_results`, `get_neuron_results`, `stack_neuron_results`,
`get_full_resid_decomposition`. A head's result is `z_h @ W_O[h]` (`z` is cached after any
per-head gate, so gated attention decomposes exactly); a neuron's is `post_n * W_out[n]`.
Each layer's terms are checked to sum to its cached `attn_out`/`mlp_out`, so a variant that
computes its output otherwise raises instead of returning a wrong stack.

Example:
    >>> heads, labels = cache.stack_head_results(return_labels=True, pos_slice=-1)  # L0H0...
    >>> full = cache.get_full_resid_decomposition(expand_neurons=False)
    >>> torch.allclose(full.sum(0), cache["resid_post", -1] ...)  # exact (see the tests)
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from workbench.core.cache_decompose import SliceLike, apply_slice
from workbench.core.cache_norm import (
    DecompositionError,
    check_decomposable,
    check_mlp_input,
    expect_sum,
)


def accumulated_bias(
    model: Any, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
) -> Float[Tensor, "d_model"]:
    """Sum of the output biases (`b_O`, and `b_out` unless excluded) of layers before `layer`
    (with `mlp_input`, also `b_O` of `layer`): what the biases add to that stream."""
    w_e = model.embed.W_E
    total = torch.zeros(model.cfg.d_model, dtype=w_e.dtype, device=w_e.device)
    for index in range(layer + (1 if mlp_input else 0)):
        total = total + _attention(model, index, "accumulated_bias")[0].b_O
        has_mlp = model.blocks[index].mlp is not None  # mlp="none": no b_out
        if include_mlp_biases and index < layer and has_mlp:
            total = total + _mlp(model, index, "accumulated_bias")[2]
    return total


def _head_output_weight(attn: Any) -> Tensor | None:
    """`[head, d_z, d_model]`: what each head's `hook_z` is multiplied by. W_O; collapsed
    attention's W_OV (its z keeps d_model); MSSA's basis transposed (out = z U_h^T). The
    per-layer sum check (`expect_sum`) guards every case."""
    for name in ("W_O", "W_OV"):
        if isinstance(getattr(attn, name, None), Tensor):
            return getattr(attn, name)
    basis = getattr(attn, "W_U", None)  # MSSA
    return basis.transpose(-1, -2) if isinstance(basis, Tensor) else None


def _attention(model: Any, layer: int, what: str) -> tuple[Any, Tensor]:
    """(the layer's attention, its per-head output weight), or a refusal naming the layer
    and the layers that do have heads (hybrids)."""
    attn = model.blocks[layer].attn
    w_out = _head_output_weight(attn)
    if w_out is not None and hasattr(attn, "hook_z") and hasattr(attn, "b_O"):
        return attn, w_out
    if getattr(attn, "adds_nothing", False):
        kind = "the identity mixer (its hook_attn_out is 0)"
    else:
        kind = f"a {type(attn).__name__}"
    with_heads = [f"blocks.{i}" for i, b in enumerate(model.blocks)
                  if _head_output_weight(b.attn) is not None]  # fmt: skip
    where = f"; layers with heads: {', '.join(with_heads)}" if with_heads else ""
    raise DecompositionError(
        f"{what}: blocks.{layer}.attn is {kind}, which has no attention heads writing "
        f"through W_O (per-head results exist for QKV attention only{where}); "
        "decompose_resid splits the stream by whole sublayers"
    )


def _mlp(model: Any, layer: int, what: str) -> tuple[Any, Tensor, Tensor | float]:
    """(the layer's MLP, its neuron output weight `[neurons, d_model]`, its output bias or 0).
    MatFormer uses its first `width` neurons (W_out[:width]); Pattention's parameter tokens
    are its neurons (Theta V_P, no bias)."""
    block = model.blocks[layer]
    if hasattr(block.layout, "hook_mlp_out"):
        raise DecompositionError(
            f"{what}: blocks.{layer} is a macaron block: two half-FFNs (layout.mlp, then mlp, "
            "each output halved), so its neurons are not mlp.W_out's alone; use "
            "expand_neurons=False / decompose_resid (it includes "
            f"{layer}_layout_mlp_out)"
        )
    mlp = block.mlp
    w_out = getattr(mlp, "W_out", None)
    if hasattr(mlp, "V_P"):  # Pattention: out = Theta @ V_P
        w_out = mlp.V_P
    if isinstance(w_out, Tensor) and hasattr(mlp, "widths"):  # MatFormer's active width
        w_out = w_out[: mlp.width]
    if not isinstance(w_out, Tensor) or w_out.dim() != 2 or not hasattr(mlp, "hook_post"):
        raise DecompositionError(
            f"{what}: blocks.{layer}.mlp is a {type(mlp).__name__}, which has no single "
            "neuron layer writing through W_out [d_mlp, d_model] (e.g. a mixture of experts, "
            "or CRATE's ISTA block, whose output is its sparse code itself)"
        )
    bias = getattr(mlp, "b_out", None)
    return mlp, w_out, bias if isinstance(bias, Tensor) else 0.0


class UnitDecompositionMixin:
    """Mixed into `ActivationCache` next to `ResidDecompositionMixin`."""

    cache_dict: dict[str, Tensor]
    has_batch_dim: bool
    model: Any

    # -- heads ---------------------------------------------------------------------------------
    def _head_result(self, layer: int, what: str) -> Float[Tensor, "*batch pos head d_model"]:
        key = f"blocks.{layer}.attn.hook_result"
        if key in self.cache_dict:
            return self.cache_dict[key]
        attn, w_out = _attention(self.model, layer, what)
        z = self[f"blocks.{layer}.attn.hook_z"]
        result = torch.einsum("...hd,hdm->...hm", z, w_out.to(z.dtype))
        out_key = f"blocks.{layer}.hook_attn_out"
        if out_key in self.cache_dict:
            expect_sum(result.sum(-2) + attn.b_O, self.cache_dict[out_key], f"{what}, {key}")
        return result

    def compute_head_results(self) -> None:
        """Cache each head's output `blocks.{l}.attn.hook_result` `[*batch, pos, head, d_model]`."""
        model = self._need_model("compute_head_results")
        check_decomposable(model, "compute_head_results", per_unit=True)
        for layer in range(model.cfg.n_layers):
            key = f"blocks.{layer}.attn.hook_result"
            self.cache_dict[key] = self._head_result(layer, "compute_head_results")

    def stack_head_results(
        self,
        layer: int = -1,
        return_labels: bool = False,
        incl_remainder: bool = False,
        pos_slice: SliceLike = None,
        apply_ln: bool = False,
    ) -> Tensor | tuple[Tensor, list[str]]:
        """Every head's output in layers before `layer`: `[layer*head, *batch, pos, d_model]`,
        labels `L{l}H{h}`; `incl_remainder` adds the rest of the stream into `layer`."""
        layer = self._layer(layer, "stack_head_results")
        check_decomposable(self.model, "stack_head_results", per_unit=True)
        n_heads = self.model.cfg.n_heads
        parts = [
            apply_slice(self._head_result(index, "stack_head_results"), pos_slice, -3)
            for index in range(layer)
        ]
        labels = [f"L{index}H{h}" for index in range(layer) for h in range(n_heads)]
        template = apply_slice(self["hook_embed"], pos_slice, -2)
        if parts:
            stack = torch.cat(parts, dim=-2).movedim(-2, 0)
        else:
            stack = template.new_zeros((0, *template.shape))
        if incl_remainder:
            stack = torch.cat([stack, (self._stream_into(layer, pos_slice) - stack.sum(0))[None]])
            labels.append("remainder")
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, pos_slice=pos_slice)
        return (stack, labels) if return_labels else stack

    def _stream_into(self, layer: int, pos_slice: SliceLike, mlp_input: bool = False) -> Tensor:
        """The residual stream that `layer`'s attention (or MLP) reads, or the final one."""
        n_layers = self.model.cfg.n_layers
        if mlp_input:
            key = f"blocks.{layer}.hook_resid_mid"
        elif layer == n_layers:
            key = f"blocks.{n_layers - 1}.hook_resid_post"
        else:
            key = f"blocks.{layer}.hook_resid_pre"
        return apply_slice(self[key], pos_slice, -2)

    # -- neurons -------------------------------------------------------------------------------
    def get_neuron_results(
        self,
        layer: int,
        neuron_slice: SliceLike = None,
        pos_slice: SliceLike = None,
        project_output_onto: Tensor | None = None,
    ) -> Tensor:
        """Each neuron's output in `layer`: `post_n * W_out[n]` `[*batch, pos, neuron, d_model]`
        (or projected onto `project_output_onto` `[d_model]`/`[d_model, k]` without forming the
        `d_model` axis)."""
        self._need_model("get_neuron_results")
        return self._neuron_terms(layer, neuron_slice, pos_slice, project_output_onto, None)

    def _neuron_terms(self, layer, neuron_slice, pos_slice, project, fold_scale) -> Tensor:
        _, w_out, bias = _mlp(self.model, layer, "neuron results")
        post = self[f"blocks.{layer}.mlp.hook_post"]
        self._check_neuron_sum(layer, w_out, bias, post)
        if isinstance(neuron_slice, int):
            neuron_slice = [neuron_slice]  # layers concatenate on the neuron axis: keep it
        acts = apply_slice(apply_slice(post, pos_slice, -2), neuron_slice, -1)
        w_out = apply_slice(w_out, neuron_slice, 0).to(acts.dtype)
        if fold_scale is not None:  # lin(a * w) / s == a * lin(w) / s: fold into the weights
            fold, scale = fold_scale
            w_out = fold.linear(w_out)
            acts = acts / scale
        if project is None:
            return acts[..., None] * w_out
        projected = w_out @ project.to(w_out.dtype)
        return acts * projected if project.dim() == 1 else acts[..., None] * projected

    def _check_neuron_sum(self, layer: int, w_out: Tensor, bias, post: Tensor) -> None:
        key = f"blocks.{layer}.hook_mlp_out"
        if key in self.cache_dict:
            total = post @ w_out.to(post.dtype) + bias
            expect_sum(total, self.cache_dict[key], f"neuron results, blocks.{layer}.mlp")

    def stack_neuron_results(
        self,
        layer: int,
        pos_slice: SliceLike = None,
        neuron_slice: SliceLike = None,
        return_labels: bool = False,
        incl_remainder: bool = False,
        apply_ln: bool = False,
        project_output_onto: Tensor | None = None,
        mlp_input: bool = False,
    ) -> Tensor | tuple[Tensor, list[str]]:
        """Every neuron's output in layers before `layer`: `[layer*neuron, *batch, pos,
        d_model]` (last axis projected with `project_output_onto`), labels `L{l}N{n}`."""
        layer = self._layer(layer, "stack_neuron_results")
        check_decomposable(self.model, "stack_neuron_results", per_unit=True)
        check_mlp_input(self.model, mlp_input, "stack_neuron_results")
        fold_scale = self._fold_scale(layer, mlp_input, pos_slice, None) if apply_ln else None
        if fold_scale is not None and fold_scale[0] is None:
            fold_scale = None  # no norm reads this stream: nothing to apply
        project = project_output_onto
        # Attention-only layers (mlp="none") have no neurons: they add nothing here.
        with_mlp = [index for index in range(layer) if self.model.blocks[index].mlp is not None]
        parts = [
            self._neuron_terms(index, neuron_slice, pos_slice, project, fold_scale)
            for index in with_mlp
        ]
        labels = [
            f"L{index}N{int(n)}"
            for index in with_mlp  # per layer: MatFormer widths, schedules of MLPs
            for n in apply_slice(torch.arange(self._n_neurons(index)), _keep_dim(neuron_slice), 0)
        ]
        template = self._projected(self._stream_into(layer, pos_slice, mlp_input), project)
        if parts:
            stack = torch.cat(parts, dim=-2 if project is None or project.dim() == 2 else -1)
            stack = stack.movedim(-2 if project is None or project.dim() == 2 else -1, 0)
        else:
            stack = template.new_zeros((0, *template.shape))
        if incl_remainder:
            target = self._stream_into(layer, pos_slice, mlp_input)
            if apply_ln:
                target = self.apply_ln_to_stack(target[None], layer, mlp_input, pos_slice)[0]
            target = self._projected(target, project)
            stack = torch.cat([stack, (target - stack.sum(0))[None]])
            labels.append("remainder")
        return (stack, labels) if return_labels else stack

    def _n_neurons(self, layer: int) -> int:
        return _mlp(self.model, layer, "stack_neuron_results")[1].shape[0]

    @staticmethod
    def _projected(x: Tensor, project: Tensor | None) -> Tensor:
        return x if project is None else x @ project.to(x.dtype)

    def get_full_resid_decomposition(
        self,
        layer: int | None = None,
        mlp_input: bool = False,
        expand_neurons: bool = True,
        apply_ln: bool = False,
        pos_slice: SliceLike = None,
        return_labels: bool = False,
        project_output_onto: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, list[str]]:
        """The stream into `layer` as heads, neurons (or `{l}_mlp_out`), `embed`,
        `pos_embed` and `bias` (the summed `b_O`/`b_out`): the stack sums to it exactly."""
        layer = self._layer(layer, "get_full_resid_decomposition")
        check_mlp_input(self.model, mlp_input, "get_full_resid_decomposition")
        project = project_output_onto

        def finish(part: Tensor) -> Tensor:  # norm, then projection, one part at a time
            if apply_ln:
                part = self.apply_ln_to_stack(part, layer, mlp_input, pos_slice)
            return self._projected(part, project)

        heads, labels = self.stack_head_results(
            layer + (1 if mlp_input else 0), return_labels=True, pos_slice=pos_slice
        )
        parts = [finish(heads)]
        if layer > 0 and expand_neurons:  # projected before the d_model axis is formed
            neurons, names = self.stack_neuron_results(
                layer, pos_slice, return_labels=True, apply_ln=apply_ln,
                project_output_onto=project, mlp_input=mlp_input,
            )  # fmt: skip
            parts.append(neurons)
            labels += names
        elif layer > 0:
            mlps, names = self.decompose_resid(
                layer, mode="mlp", pos_slice=pos_slice, incl_embeds=False, return_labels=True
            )
            parts.append(finish(mlps))
            labels += names
        for key, label in (("hook_embed", "embed"), ("hook_pos_embed", "pos_embed")):
            if key in self.cache_dict:
                parts.append(finish(apply_slice(self[key], pos_slice, -2)[None]))
                labels.append(label)
        bias = accumulated_bias(self.model, layer, mlp_input, include_mlp_biases=expand_neurons)
        parts.append(finish(bias.expand(heads.shape[1:])[None].to(heads.dtype)))
        labels.append("bias")
        stack = torch.cat(parts)
        return (stack, labels) if return_labels else stack


def _keep_dim(index: SliceLike) -> SliceLike:
    return [index] if isinstance(index, int) else index
