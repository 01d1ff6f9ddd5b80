"""Shapes of one real forward pass: every hook point's tensor shape and dtype.

`torch.fx` cannot trace the hookable model (hooks, data-dependent kernel choice, MoE
routing), so the diagram records shapes with a shape-only forward hook on every `HookPoint`
during one forward pass on a sample input. Axis *names* come from the TransformerLens layout
of each hook (`hook_q` is `[batch, pos, head, d_head]`); axis *sizes* come from the traced
tensor, never from the config.

Example:
    >>> trace = trace_shapes(model, torch.zeros(1, 16, dtype=torch.long))
    >>> trace.wires("blocks.0.attn.hook_q")
    (Axis(name='batch', size=1), Axis(name='pos', size=16), Axis(name='heads', ...), ...)
"""

from __future__ import annotations

import dataclasses
import re

import torch
from jaxtyping import Int
from torch import Tensor

from workbench.analysis.diagram_nodes import Axis
from workbench.core.registry import suggest

_RESID = ("batch", "pos", "d_model")
_HEADS = ("batch", "pos", "heads", "d_head")
_HIDDEN = ("batch", "pos", "d_mlp")
_INNER = ("batch", "pos", "d_inner")
# Hook name (its last one or two parts) -> axis names of its tensor.
_LAYOUTS: dict[str, tuple[str, ...]] = {
    "hook_embed": _RESID,
    "hook_pos_embed": _RESID,
    "hook_resid_pre": _RESID,
    "hook_resid_mid": _RESID,
    "hook_resid_post": _RESID,
    "layout.hook_resid": _RESID,  # macaron: the stream after the first half-FFN
    "hook_pooled": _RESID,
    "hook_attn_out": _RESID,
    "hook_mlp_out": _RESID,
    "hook_normalized": _RESID,
    "hook_scale": ("batch", "pos", "1"),
    "hook_q": _HEADS,
    "hook_k": _HEADS,
    "hook_v": _HEADS,
    "hook_rot_q": _HEADS,
    "hook_rot_k": _HEADS,
    "hook_z": _HEADS,
    "hook_attn_scores": ("batch", "heads", "pos", "key_pos"),
    "hook_pattern": ("batch", "heads", "pos", "key_pos"),
    "hook_gate": ("batch", "pos", "heads"),
    "hook_beta": ("batch", "pos", "heads"),
    "mlp.hook_pre": _HIDDEN,
    "mlp.hook_post": _HIDDEN,
    "mlp.hook_pre_linear": _HIDDEN,
    "attn.hook_post": _HIDDEN,
    "hook_conv": _INNER,
    "hook_delta": _INNER,
    "hook_ssm_out": _INNER,
    "hook_router_logits": ("batch", "pos", "experts"),
    "hook_router_choice": ("batch", "pos", "top_k"),
    "hook_router_weights": ("batch", "pos", "top_k"),
}
_EXPERT = re.compile(r"\.experts\.\d+\.hook_(pre|post)$")


def axis_names(hook: str) -> tuple[str, ...]:
    """Axis names of the tensor at `hook` (TransformerLens layouts)."""
    if _EXPERT.search(hook):
        return ("routed_tokens", "d_mlp")
    parts = hook.split(".")
    for key in (".".join(parts[-2:]), parts[-1]):
        if key in _LAYOUTS:
            return _LAYOUTS[key]  # k/v heads become kv_heads in `Trace.wires` (GQA)
    raise KeyError(f"No axis layout for hook {hook!r}; add it to diagram_trace._LAYOUTS")


@dataclasses.dataclass(frozen=True)
class Trace:
    """Traced `shapes[hook]`, `dtypes[hook]`, and the model output's shape."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, torch.dtype]
    output_shape: tuple[int, ...]

    def has(self, hook: str) -> bool:
        return hook in self.shapes

    def wires(self, hook: str, names: tuple[str, ...] | None = None) -> tuple[Axis, ...]:
        """The labelled axes of the tensor at `hook`, sizes as traced. `names` overrides the
        layout table where one hook name means different axes in different modules (the
        Mamba mixer's `hook_gate` is `[batch, pos, d_inner]`, gated attention's per head)."""
        if hook not in self.shapes:
            raise KeyError(
                f"hook {hook!r} did not run in the traced forward pass. "
                f"{suggest(hook, sorted(self.shapes))}"
            )
        shape, names = self.shapes[hook], names or axis_names(hook)
        if len(shape) != len(names):
            raise ValueError(
                f"hook {hook!r} traced a tensor of shape {list(shape)}, but its layout "
                f"{names} has {len(names)} axes"
            )
        names = self._kv_names(hook, names)
        return tuple(Axis(n, s) for n, s in zip(names, shape, strict=True))

    def _kv_names(self, hook: str, names: tuple[str, ...]) -> tuple[str, ...]:
        """Grouped-query keys/values have fewer heads than queries: call that axis kv_heads."""
        last = hook.rsplit(".", 1)[-1]
        if last not in ("hook_k", "hook_v", "hook_rot_k"):
            return names
        q_hook = hook[: -len(last)] + "hook_q"
        if q_hook in self.shapes and self.shapes[q_hook][2] != self.shapes[hook][2]:
            return ("batch", "pos", "kv_heads", "d_head")
        return names

    def itemsize(self, hook: str) -> int:
        return self.dtypes[hook].itemsize


@torch.no_grad()
def trace_shapes(model, tokens: Int[Tensor, "batch pos"]) -> Trace:
    """Run `model` once on `tokens`, recording the shape of every hook point's tensor."""
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, torch.dtype] = {}

    def record(tensor: Tensor, hook) -> None:
        shapes[hook.name] = tuple(tensor.shape)
        dtypes[hook.name] = tensor.dtype

    was_training = model.training
    model.eval()
    try:
        with model.hooks(fwd_hooks=[(lambda name: True, record)]):
            out = model(tokens)
    finally:
        model.train(was_training)
    return Trace(shapes, dtypes, tuple(out.shape))
