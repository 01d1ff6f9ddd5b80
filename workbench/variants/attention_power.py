"""Power-softmax attention (Zimerman et al. 2024, "Power-Softmax: Towards Secure LLM
Inference over Encrypted Data", arXiv 2410.09457).

The exponential of softmax is replaced by an even power: A_ij = s_ij^p / sum_j' s_ij'^p, a
polynomial form that homomorphic encryption can evaluate. This module implements that core
form (not the paper's polynomial approximation of the division used at inference). It is
computed stably as softmax(p * log|s|), which is the same function: |s|^p = exp(p log|s|).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.registry import ATTENTION
from workbench.core.validate import PosInt
from workbench.variants.attention import LocalWindow, QKVAttention


def power_softmax(
    scores: Float[Tensor, "batch head q k"], power: int, eps: float = 1e-12
) -> Float[Tensor, "batch head q k"]:
    """|s|^p / sum |s|^p over the visible (finite) keys of each row; masked keys get 0.

    Example:
        >>> power_softmax(torch.tensor([[1.0, 2.0, float("-inf")]]), power=2)
        tensor([[0.2000, 0.8000, 0.0000]])
    """
    visible = torch.isfinite(scores)
    log_power = power * torch.where(visible, scores, 1.0).abs().clamp_min(eps).log()
    return log_power.masked_fill(~visible, float("-inf")).softmax(-1)


class PowerSoftmaxModule(QKVAttention):
    """QKV attention with power-softmax weights; eager path only, no fused kernel."""

    def __init__(self, cfg, layer: int, power: int) -> None:
        super().__init__(cfg, layer)
        self.power = power

    def weights(self, scores: Tensor, visible: Tensor) -> Tensor:
        return power_softmax(scores, self.power)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class PowerSoftmax(LocalWindow):
    """`power` must be a positive even integer, so s^p = |s|^p is positive without an abs."""

    name: ClassVar[str] = "power_softmax"
    paper: ClassVar[str] = (
        "Zimerman et al. 2024, Power-Softmax: Towards Secure LLM Inference over "
        "Encrypted Data (arXiv 2410.09457)"
    )
    power: PosInt = 2

    def check(self) -> None:
        super().check()
        if self.power < 2 or self.power % 2:
            raise ValueError(f"power_softmax needs a positive even power, got {self.power}")

    def build(self, cfg, layer=None) -> nn.Module:
        return self.with_local(PowerSoftmaxModule(cfg, layer or 0, self.power))
