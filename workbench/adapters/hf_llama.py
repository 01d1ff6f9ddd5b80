"""Llama and the families sharing its layout (Mistral, Qwen2): RMSNorm, rotary (halves, HF's
`rotate_half`) with the config's base and scaling, SwiGLU, grouped-query attention, optional
biases (Qwen2: on q/k/v only). Sliding-window attention is refused.
"""

from __future__ import annotations

from typing import Any

from workbench.adapters.hf_family import (
    Family,
    Rule,
    expect,
    kv_bias,
    kv_heads,
    out_heads,
    q_bias,
    q_heads,
    refuse,
    register,
    rotary_spec,
    transposed,
)
from workbench.core.config import ModelConfig

_ATTN_BIASES = tuple(f"blocks.{{i}}.attn.b_{x}" for x in "QKV")
_MLP_BIASES = tuple(f"blocks.{{i}}.mlp.b_{x}" for x in ("gate", "in", "out"))


def _check_window(hf: Any, model_type: str) -> None:
    window = getattr(hf, "sliding_window", None)
    if window is not None and window < hf.max_position_embeddings:
        raise refuse(model_type, "sliding_window", window, "None or >= max_position_embeddings")
    kinds = set(getattr(hf, "layer_types", None) or ["full_attention"])
    if kinds != {"full_attention"}:
        raise refuse(model_type, "layer_types", sorted(kinds), "['full_attention']")


def _config(hf: Any) -> tuple[ModelConfig, tuple[str, ...]]:
    model_type = hf.model_type
    _check_window(hf, model_type)
    expect(hf, model_type, "hidden_act", ("silu",), "silu (SwiGLU)")
    expect(hf, model_type, "pretraining_tp", (1,), "1")
    d_head = getattr(hf, "head_dim", None) or hf.hidden_size // hf.num_attention_heads
    position = rotary_spec(hf, model_type, d_head)
    if position["rotary_dim"] != d_head:
        raise refuse(model_type, "partial_rotary_factor", position["rotary_dim"] / d_head, "1.0")
    # Qwen2 always has q/k/v biases (no o bias); Llama/Mistral follow `attention_bias`.
    qkv_bias = model_type == "qwen2" or bool(getattr(hf, "attention_bias", False))
    o_bias = model_type != "qwen2" and bool(getattr(hf, "attention_bias", False))
    mlp_bias = bool(getattr(hf, "mlp_bias", False))
    cfg = ModelConfig(
        d_model=hf.hidden_size,
        n_layers=hf.num_hidden_layers,
        n_heads=hf.num_attention_heads,
        n_kv_heads=hf.num_key_value_heads or hf.num_attention_heads,
        d_head=d_head,
        d_mlp=hf.intermediate_size,
        d_vocab=hf.vocab_size,
        n_ctx=hf.max_position_embeddings,
        norm="rmsnorm",
        norm_placement="pre",
        mlp="swiglu",
        position=position,
        attn_bias=qkv_bias or o_bias,
        mlp_bias=mlp_bias,
        tied_embeddings=bool(getattr(hf, "tie_word_embeddings", False)),
        eps=float(hf.rms_norm_eps),
        name=getattr(hf, "name_or_path", "") or model_type,
    )
    absent = ("unembed.b_U",)
    absent += () if qkv_bias else _ATTN_BIASES
    absent += () if o_bias else ("blocks.{i}.attn.b_O",)
    absent += () if mlp_bias else _MLP_BIASES
    return cfg, absent


_L, _B = "model.layers.{i}.", "blocks.{i}."
_A = _L + "self_attn."

LLAMA = register(
    Family(
        model_types=("llama", "mistral", "qwen2"),
        config=_config,
        rules=(
            Rule("model.embed_tokens.weight", "embed.W_E"),
            Rule(_L + "input_layernorm.weight", _B + "ln1.w"),
            Rule(_A + "q_proj.weight", _B + "attn.W_Q", q_heads),
            Rule(_A + "k_proj.weight", _B + "attn.W_K", kv_heads),
            Rule(_A + "v_proj.weight", _B + "attn.W_V", kv_heads),
            Rule(_A + "o_proj.weight", _B + "attn.W_O", out_heads),
            Rule(_A + "q_proj.bias", _B + "attn.b_Q", q_bias),
            Rule(_A + "k_proj.bias", _B + "attn.b_K", kv_bias),
            Rule(_A + "v_proj.bias", _B + "attn.b_V", kv_bias),
            Rule(_A + "o_proj.bias", _B + "attn.b_O"),
            Rule(_L + "post_attention_layernorm.weight", _B + "ln2.w"),
            Rule(_L + "mlp.gate_proj.weight", _B + "mlp.W_gate", transposed),
            Rule(_L + "mlp.up_proj.weight", _B + "mlp.W_in", transposed),
            Rule(_L + "mlp.down_proj.weight", _B + "mlp.W_out", transposed),
            Rule(_L + "mlp.gate_proj.bias", _B + "mlp.b_gate"),
            Rule(_L + "mlp.up_proj.bias", _B + "mlp.b_in"),
            Rule(_L + "mlp.down_proj.bias", _B + "mlp.b_out"),
            Rule("model.norm.weight", "ln_final.w"),
            Rule("lm_head.weight", "unembed.W_U", transposed),
        ),
        ignore=(r"\.rotary_emb\.inv_freq$",),
    )
)
