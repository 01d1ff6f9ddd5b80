"""A TransformerLens `TransformerBridge` (boot_native, offline) and its workbench conversion,
with every norm weight and bias randomized so that folding mistakes show."""

from __future__ import annotations

import torch
import transformer_lens.model_bridge.sources.native  # noqa: F401  (registers boot_native)
from transformer_lens.config import TransformerBridgeConfig
from transformer_lens.model_bridge import TransformerBridge

from workbench.adapters import from_transformer_lens

FIELDS = dict(
    d_model=32, n_layers=2, n_heads=4, d_head=8, d_mlp=64, d_vocab=60, n_ctx=16,
    act_fn="relu", normalization_type="LN", seed=0,
)  # fmt: skip


def bridge(**overrides) -> TransformerBridge:
    """A bridge whose 1-d parameters (norm gains, all biases) are random, not 1 and 0."""
    tl = TransformerBridge.boot_native(TransformerBridgeConfig(**{**FIELDS, **overrides}))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in tl.original_model.named_parameters():
            if param.dim() == 1:
                gain = "ln" in name and name.endswith("weight")
                noise = torch.randn(param.shape, generator=generator) * 0.3
                param.copy_(1 + noise if gain else noise)
    return tl


def pair(**overrides):
    """(bridge, workbench model with the same weights)."""
    tl = bridge(**overrides)
    return tl, from_transformer_lens(tl)
