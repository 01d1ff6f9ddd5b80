"""GPT-NeoX / Pythia (`model_type` "gpt_neox"): LayerNorm, partial rotary (`rotary_pct`,
halves rotated within the rotary dims, as ours), exact GELU, and the parallel block
(`use_parallel_residual`: x + attn(ln1(x)) + mlp(ln2(x))).

The fused `query_key_value` is laid out per head as [q | k | v] (`[head, 3, d_head]`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from workbench.adapters.hf_family import (
    Family,
    Rule,
    activation,
    out_heads,
    register,
    rotary_spec,
    transposed,
)
from workbench.core.config import ModelConfig


def _config(hf: Any) -> tuple[ModelConfig, tuple[str, ...]]:
    d_head = hf.hidden_size // hf.num_attention_heads
    cfg = ModelConfig(
        d_model=hf.hidden_size,
        n_layers=hf.num_hidden_layers,
        n_heads=hf.num_attention_heads,
        d_mlp=hf.intermediate_size,
        d_vocab=hf.vocab_size,
        n_ctx=hf.max_position_embeddings,
        norm="layernorm",
        norm_placement="pre",
        mlp=activation(hf, "gpt_neox", "hidden_act"),
        position=rotary_spec(hf, "gpt_neox", d_head),
        block="parallel" if hf.use_parallel_residual else "sequential",
        tied_embeddings=bool(getattr(hf, "tie_word_embeddings", False)),
        eps=float(hf.layer_norm_eps),
        name=getattr(hf, "name_or_path", "") or "gpt_neox",
    )
    absent = ("unembed.b_U",)
    if not getattr(hf, "attention_bias", True):
        absent += tuple(f"blocks.{{i}}.attn.b_{x}" for x in "QKVO")
    return cfg, absent


def _qkv(t: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor, Tensor]:
    """`[head * 3 * d_head, d_model]` -> three `[head, d_model, d_head]`."""
    w = t.reshape(cfg.n_heads, 3, cfg.d_head, cfg.d_model).transpose(2, 3)
    return w[:, 0], w[:, 1], w[:, 2]


def _qkv_bias(t: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor, Tensor]:
    b = t.reshape(cfg.n_heads, 3, cfg.d_head)
    return b[:, 0], b[:, 1], b[:, 2]


_L, _B = "gpt_neox.layers.{i}.", "blocks.{i}."

GPT_NEOX = register(
    Family(
        model_types=("gpt_neox",),
        config=_config,
        rules=(
            Rule("gpt_neox.embed_in.weight", "embed.W_E"),
            Rule(_L + "input_layernorm.weight", _B + "ln1.w"),
            Rule(_L + "input_layernorm.bias", _B + "ln1.b"),
            Rule(
                _L + "attention.query_key_value.weight",
                tuple(_B + f"attn.W_{x}" for x in "QKV"),
                _qkv,
            ),
            Rule(
                _L + "attention.query_key_value.bias",
                tuple(_B + f"attn.b_{x}" for x in "QKV"),
                _qkv_bias,
            ),
            Rule(_L + "attention.dense.weight", _B + "attn.W_O", out_heads),
            Rule(_L + "attention.dense.bias", _B + "attn.b_O"),
            Rule(_L + "post_attention_layernorm.weight", _B + "ln2.w"),
            Rule(_L + "post_attention_layernorm.bias", _B + "ln2.b"),
            Rule(_L + "mlp.dense_h_to_4h.weight", _B + "mlp.W_in", transposed),
            Rule(_L + "mlp.dense_h_to_4h.bias", _B + "mlp.b_in"),
            Rule(_L + "mlp.dense_4h_to_h.weight", _B + "mlp.W_out", transposed),
            Rule(_L + "mlp.dense_4h_to_h.bias", _B + "mlp.b_out"),
            Rule("gpt_neox.final_layer_norm.weight", "ln_final.w"),
            Rule("gpt_neox.final_layer_norm.bias", "ln_final.b"),
            Rule("lm_head.weight", "unembed.W_U", transposed),
        ),
        renames=((r"^embed_out\.", "lm_head."),),  # Pythia's hub files (transformers < 5)
        ignore=(r"\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$",),
    )
)
