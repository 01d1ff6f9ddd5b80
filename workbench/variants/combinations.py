"""A few sensible combinations of variants, as `ModelConfig` overrides.

Used as presets (`ModelConfig(**COMBINATIONS[name])`), by the tests (each trains) and by
`scripts/gen_variants_doc.py` (the "combinations" table of docs/variants.md).

Example:
    >>> cfg = ModelConfig(d_model=64, **COMBINATIONS["llama-like"])
"""

from __future__ import annotations

from typing import Any

COMBINATIONS: dict[str, dict[str, Any]] = {
    "llama-like": {"norm": "rmsnorm", "mlp": "swiglu", "position": "rotary", "n_kv_heads": 2},
    "sigmoid-alibi-peri": {"attention": "sigmoid", "position": "alibi", "norm_placement": "peri"},
    "gated-crmsnorm-topk": {
        "attention": "gated",
        "norm": "crmsnorm",
        "mlp": {"name": "topk_relu", "k": (16, 32)},
    },
    "deltanet-comrope-polynorm": {
        "attention": "deltanet",
        "position": "comrope",
        "mlp": "polynorm",
    },
    "mamba-moe": {"attention": "mamba", "position": "none", "norm": "rmsnorm", "mlp": "moe"},
    "looped-linear": {"n_layers": 3, "reparam": "looped", "attention": "linear"},
    # Per-layer schedules (two layers): a hybrid, local/global, Swin-style shifted windows.
    "hybrid-deltanet-softmax": {"attention": ["deltanet", "softmax"]},
    "local-global": {"attention": [{"name": "softmax", "window": 4}, "softmax"]},
    "shifted-windows": {
        "attention": [{"name": "softmax", "window": 8, "shift": s} for s in (0, 4)],
    },
    "macaron-gated-mlp-only": {
        "block": ["macaron", "gated_residual"],
        "attention": ["softmax", "identity"],
    },  # fmt: skip
}
