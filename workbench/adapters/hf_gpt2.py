"""GPT-2 (`model_type` "gpt2"): learned positions, pre-LN, gelu_new MLP, tied unembedding.

Its `Conv1D` weights are stored `[in, out]` already, our layout; the fused `c_attn`
splits into query, key and value along the output dimension.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from workbench.adapters.hf_family import Family, Rule, activation, expect, register, transposed
from workbench.core.config import ModelConfig


def _config(hf: Any) -> tuple[ModelConfig, tuple[str, ...]]:
    for field in ("scale_attn_by_inverse_layer_idx", "add_cross_attention"):
        expect(hf, "gpt2", field, (False,), "False")
    expect(hf, "gpt2", "scale_attn_weights", (True,), "True (scores / sqrt(d_head))")
    cfg = ModelConfig(
        d_model=hf.n_embd,
        n_layers=hf.n_layer,
        n_heads=hf.n_head,
        d_mlp=hf.n_inner or 4 * hf.n_embd,
        d_vocab=hf.vocab_size,
        n_ctx=hf.n_positions,
        norm="layernorm",
        norm_placement="pre",
        mlp=activation(hf, "gpt2", "activation_function"),
        position="learned",
        tied_embeddings=bool(getattr(hf, "tie_word_embeddings", True)),
        eps=float(hf.layer_norm_epsilon),
        name=getattr(hf, "name_or_path", "") or "gpt2",
    )
    return cfg, ("unembed.b_U",)


def _qkv(t: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor, Tensor]:
    """`c_attn.weight [d_model, 3 d_model]` -> three `[head, d_model, d_head]`."""
    return tuple(
        w.reshape(cfg.d_model, cfg.n_heads, cfg.d_head).permute(1, 0, 2) for w in t.chunk(3, -1)
    )


def _qkv_bias(t: Tensor, cfg: ModelConfig) -> tuple[Tensor, Tensor, Tensor]:
    return tuple(b.reshape(cfg.n_heads, cfg.d_head) for b in t.chunk(3, -1))


def _w_o(t: Tensor, cfg: ModelConfig) -> Tensor:
    return t.reshape(cfg.n_heads, cfg.d_head, cfg.d_model)


_L, _B = "transformer.h.{i}.", "blocks.{i}."
_QKV = tuple(f"{_B}attn.W_{x}" for x in "QKV")
_QKV_B = tuple(f"{_B}attn.b_{x}" for x in "QKV")

GPT2 = register(
    Family(
        model_types=("gpt2",),
        config=_config,
        rules=(
            Rule("transformer.wte.weight", "embed.W_E"),
            Rule("transformer.wpe.weight", "pos_embed.W_pos"),
            Rule(_L + "ln_1.weight", _B + "ln1.w"),
            Rule(_L + "ln_1.bias", _B + "ln1.b"),
            Rule(_L + "attn.c_attn.weight", _QKV, _qkv),
            Rule(_L + "attn.c_attn.bias", _QKV_B, _qkv_bias),
            Rule(_L + "attn.c_proj.weight", _B + "attn.W_O", _w_o),
            Rule(_L + "attn.c_proj.bias", _B + "attn.b_O"),
            Rule(_L + "ln_2.weight", _B + "ln2.w"),
            Rule(_L + "ln_2.bias", _B + "ln2.b"),
            Rule(_L + "mlp.c_fc.weight", _B + "mlp.W_in"),
            Rule(_L + "mlp.c_fc.bias", _B + "mlp.b_in"),
            Rule(_L + "mlp.c_proj.weight", _B + "mlp.W_out"),
            Rule(_L + "mlp.c_proj.bias", _B + "mlp.b_out"),
            Rule("transformer.ln_f.weight", "ln_final.w"),
            Rule("transformer.ln_f.bias", "ln_final.b"),
            Rule("lm_head.weight", "unembed.W_U", transposed),
        ),
        # Checkpoints saved from `GPT2Model` (the original hub files) lack the prefix.
        renames=((r"^(?!transformer\.|lm_head\.)", "transformer."),),
        # Older files store the causal mask as buffers named like weights.
        ignore=(r"\.attn\.(masked_)?bias$",),
    )
)
