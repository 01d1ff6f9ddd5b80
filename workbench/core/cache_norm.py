"""How a norm acts on a stack of residual-stream components, and when a decomposition is exact.

A pre-norm `norm(x) = w * lin(x) / s(x) + b` is linear in `x` once its scale `s(x)` is fixed:
`lin` is centring for LayerNorm and the identity for RMSNorm and CRMSNorm (whose scale counts
an implicit zero-mean coordinate, but whose map on the stored coordinates is still `x / s`).
So with the scale cached from the real forward pass, `sum_i lin(c_i) / s == lin(x) / s` for
components `c_i` that sum to `x`: the decomposition is exact. That fails when a norm sits
after the residual add (post-LN: nothing sums to the stream), and, for per-head or
per-neuron results, when a sublayer output is itself normalized (peri-LN).

Example:
    >>> fold = NormFold.of(model.ln_final, "ln_final")
    >>> fold.linear(stack) / fold.scale(resid)   # what each component adds before `w`, `b`
"""

from __future__ import annotations

import dataclasses

import torch
from jaxtyping import Float
from torch import Tensor, nn

from workbench.variants.norm import CRMSNormModule, LayerNormModule, RMSNormModule

_CENTRED = {LayerNormModule: True, RMSNormModule: False, CRMSNormModule: False}


class DecompositionError(ValueError):
    """A residual decomposition that would not sum to the real stream for this model."""


@dataclasses.dataclass(frozen=True)
class NormFold:
    """The linear part and the scale of one norm module (`where` names it in errors)."""

    module: nn.Module
    where: str

    @classmethod
    def of(cls, module: nn.Module, where: str) -> NormFold:
        if type(module) not in _CENTRED:
            known = ", ".join(t.__name__ for t in _CENTRED)
            raise DecompositionError(
                f"{where} is a {type(module).__name__}; folding a norm into a residual stack "
                f"is defined for {known}"
            )
        return cls(module, where)

    @property
    def centred(self) -> bool:
        return _CENTRED[type(self.module)]

    @property
    def weight(self) -> Tensor:
        return self.module.w

    def linear(self, stack: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """Centring (LayerNorm) or nothing (RMSNorm, CRMSNorm)."""
        return stack - stack.mean(-1, keepdim=True) if self.centred else stack

    def scale(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... 1"]:
        """The scale the module divides `x` by, recomputed as its forward does."""
        eps = self.module.eps
        if type(self.module) is CRMSNormModule:
            d_full = x.shape[-1] + 1
            square = (x.pow(2).sum(-1, keepdim=True) + x.sum(-1, keepdim=True).pow(2)) / d_full
            return (square + eps).sqrt()
        return (self.linear(x).pow(2).mean(-1, keepdim=True) + eps).sqrt()


def check_decomposable(model, what: str, per_unit: bool = False) -> None:
    """Raise unless the residual stream of `model` is a plain sum of its sublayer outputs
    (and, with `per_unit`, each sublayer output a plain sum of per-head/per-neuron terms)."""
    cfg = model.cfg
    placement = cfg.norm_placement
    if placement.norm_after_add:
        raise DecompositionError(
            f"{what}: norm_placement {placement.name!r} normalizes the residual sum after each "
            "add, so no stack of component outputs sums to the residual stream"
        )
    if getattr(model, "ln_embed", None) is not None:
        raise DecompositionError(
            f"{what}: embed_norm=True normalizes embed + pos_embed, so the embeddings do not "
            "add to the residual stream as they are cached"
        )
    gated = [f"blocks.{layer}" for layer in range(cfg.n_layers)
             if cfg.spec("block", layer).name == "gated_residual"]  # fmt: skip
    if gated:
        raise DecompositionError(
            f"{what}: {', '.join(gated)} use block 'gated_residual' (GTrXL), whose GRU gate "
            "(1 - z) x + z h replaces the residual add, so the stream is not a sum of "
            "sublayer outputs (hook_attn_out/hook_mlp_out hold them before the gate)"
        )
    if per_unit and placement.norm_out:
        raise DecompositionError(
            f"{what}: norm_placement {placement.name!r} normalizes each sublayer's output "
            "(ln1_out/ln2_out), so per-head and per-neuron terms do not sum to attn_out/mlp_out; "
            "use decompose_resid (whole sublayers), which stays exact"
        )


def check_mlp_input(model, mlp_input: bool, what: str) -> None:
    """`mlp_input` means 'the stream the MLP reads': resid_mid in a sequential block (other
    layouts read resid_pre or gate the stream). Checked per layer (schedules)."""
    if not mlp_input:
        return
    cfg = model.cfg
    other = {f"blocks.{layer}": cfg.spec("block", layer).name for layer in range(cfg.n_layers)}
    other = {where: name for where, name in other.items() if name != "sequential"}
    if other:
        layouts = ", ".join(f"{where} is {name!r}" for where, name in other.items())
        raise DecompositionError(
            f"{what}: mlp_input=True assumes every block's MLP reads resid_mid; {layouts} "
            "(a parallel block's MLP reads resid_pre, macaron adds a half-FFN before attention, "
            "gated_residual gates the stream); use mlp_input=False"
        )
    no_mlp = [f"blocks.{i}" for i in model.layers_without_mlp()]
    if no_mlp:
        raise DecompositionError(
            f"{what}: mlp_input=True asks for the stream an MLP reads, but {', '.join(no_mlp)} "
            "have no MLP (mlp='none'); use mlp_input=False"
        )


def expect_sum(parts: Tensor, total: Tensor, where: str) -> None:
    """A guard behind the structural checks: per-unit terms must add up to the cached output,
    else a variant computes its output some other way and the decomposition would be wrong."""
    tol = 1e-4 if total.dtype in (torch.float32, torch.float64) else 2e-2
    parts, total = parts.detach(), total.detach()
    err = float((parts.float() - total.float()).abs().max()) if total.numel() else 0.0
    bound = tol * (1.0 + float(total.float().abs().max())) if total.numel() else 0.0
    if err > bound:
        raise DecompositionError(
            f"{where}: the per-unit terms do not sum to the cached output (max error {err:.3g}); "
            "this variant's output is not a plain sum over its units"
        )
