"""Convert a TransformerLens 4.x `TransformerBridge` (TL-native architecture) to a `Model`.

The bridge's native model is a pre-norm decoder; its weights map one to one onto ours.
Rotary embeddings there rotate adjacent pairs (2i, 2i+1); ours rotate the halves
(i, i + d/2). Permuting the query/key dimensions the same way maps one onto the other,
and leaves every attention score unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from workbench.adapters.weights import split_heads_in, split_heads_out
from workbench.core.checkpoint import load_exact
from workbench.core.config import ModelConfig
from workbench.core.model import Model

_NORMS = {"LN": "layernorm", "RMS": "rmsnorm"}
_ACTS = {
    "relu": "relu",
    "gelu": {"name": "gelu"},
    "gelu_new": {"name": "gelu", "approximate": "tanh"},
}


def from_transformer_lens(bridge) -> Model:
    """A workbench `Model` with the bridge's weights; same logits (checked in the tests).

    Example:
        >>> bridge = TransformerBridge.boot_native(TransformerBridgeConfig(...))
        >>> model = workbench.from_transformer_lens(bridge)
        >>> hf_bridge = TransformerBridge.boot_transformers("checkpoints/pythia-70m")
        >>> model = workbench.from_transformer_lens(hf_bridge)  # through load_hf
    """
    native = getattr(bridge, "original_model", None)
    if type(native).__name__ != "NativeModel" and hasattr(native, "config"):
        return _from_wrapped_hf(native)
    if type(native).__name__ != "NativeModel":
        raise NotImplementedError(
            f"from_transformer_lens converts TL-native bridges (boot_native) and bridges over "
            f"Hugging Face models (boot_transformers); this bridge wraps {type(native).__name__}."
        )
    cfg = _config(bridge.cfg)
    model = Model(cfg, tokenizer=getattr(bridge, "tokenizer", None))
    load_exact(model, _state(native, cfg))
    return model.eval()


def _config(tl) -> ModelConfig:
    norm = (tl.normalization_type or "").upper()
    if norm not in _NORMS:
        raise NotImplementedError(f"normalization_type {tl.normalization_type!r}: only LN and RMS")
    act = (tl.act_fn or "gelu").lower()
    if act not in _ACTS or tl.gated_mlp:
        raise NotImplementedError(f"act_fn {act!r} (gated={tl.gated_mlp}): only relu/gelu MLPs")
    for cap in ("attn_scores_soft_cap", "output_logits_soft_cap"):
        if float(getattr(tl, cap)) > 0:
            raise NotImplementedError(f"{cap} is not supported")
    kind = (tl.positional_embedding_type or "standard").lower()
    if tl.use_attn_scale and tl.attn_scale > 0 and abs(tl.attn_scale - tl.d_head**0.5) > 1e-6:
        raise NotImplementedError(f"attn_scale {tl.attn_scale} != sqrt(d_head)")
    return ModelConfig(
        d_model=tl.d_model,
        n_layers=tl.n_layers,
        n_heads=tl.n_heads,
        d_head=tl.d_head,
        d_mlp=tl.d_mlp,
        d_vocab=tl.d_vocab,
        n_ctx=tl.n_ctx,
        n_kv_heads=tl.n_key_value_heads or tl.n_heads,
        norm=_NORMS[norm],
        mlp="none" if tl.attn_only else _ACTS[act],
        position="learned"
        if kind == "standard"
        else {"name": "rotary", "rotary_dim": tl.rotary_dim},
        causal=tl.attention_dir == "causal",
        eps=tl.eps,
        name="transformer-lens-native",
    )


def _pairs_to_halves(d_head: int, rotary_dim: int) -> Tensor:
    """Index that reorders (x0, x1, x2, x3, ...) to (x0, x2, ..., x1, x3, ...)."""
    rot = torch.cat([torch.arange(0, rotary_dim, 2), torch.arange(1, rotary_dim, 2)])
    return torch.cat([rot, torch.arange(rotary_dim, d_head)])


def _state(native, cfg: ModelConfig) -> dict[str, Tensor]:
    h, kv = cfg.n_heads, cfg.n_kv_heads
    perm = torch.arange(cfg.d_head)
    if native.rotary is not None:
        perm = _pairs_to_halves(cfg.d_head, native.rotary.rotary_dim)
    state = {"embed.W_E": native.tok_embed.weight, "unembed.W_U": native.head.weight.T}
    state["unembed.b_U"] = torch.zeros(cfg.d_vocab)
    if native.pos is not None:
        state["pos_embed.W_pos"] = native.pos.weight
    _norm(state, "ln_final", native.ln_out)
    for i, layer in enumerate(native.layers):
        p = f"blocks.{i}"
        _norm(state, f"{p}.ln1", layer.ln1)
        if cfg.mlp.name != "none":  # attn_only: no ln2, no MLP
            _norm(state, f"{p}.ln2", layer.ln2)
        attn = layer.attn
        for name, lin, heads, rotate in (
            ("Q", attn.q, h, True),
            ("K", attn.k, kv, True),
            ("V", attn.v, kv, False),
        ):
            w, b = split_heads_in(lin.weight, heads), lin.bias.reshape(heads, -1)
            state[f"{p}.attn.W_{name}"] = w[..., perm] if rotate else w
            state[f"{p}.attn.b_{name}"] = b[..., perm] if rotate else b
        state[f"{p}.attn.W_O"] = split_heads_out(attn.o.weight, h)
        state[f"{p}.attn.b_O"] = attn.o.bias
        if cfg.mlp.name != "none":
            mlp = layer.mlp
            state[f"{p}.mlp.W_in"], state[f"{p}.mlp.b_in"] = mlp.fc_in.weight.T, mlp.fc_in.bias
            state[f"{p}.mlp.W_out"] = mlp.fc_out.weight.T
            state[f"{p}.mlp.b_out"] = mlp.fc_out.bias
    return {k: v.detach() for k, v in state.items()}


def _norm(state: dict[str, Tensor], prefix: str, module) -> None:
    state[f"{prefix}.w"] = module.weight
    if getattr(module, "bias", None) is not None:
        state[f"{prefix}.b"] = module.bias


def _from_wrapped_hf(native) -> Model:
    """boot_transformers keeps the Hugging Face model as `original_model`, but swaps its
    submodules for bridge components that hold the originals as `_original_component` and
    add aliases (`attn.q`, `ln1`, ...). The original tensor names are those of a clean model
    with the same config once the `_original_component` segments are dropped."""
    from transformers import AutoModelForCausalLM

    from workbench.adapters.hf_load import from_hf_tensors, origin

    with torch.device("meta"):
        wanted = set(AutoModelForCausalLM.from_config(native.config).state_dict())
    tensors: dict[str, Tensor] = {}
    for name, tensor in native.state_dict().items():
        original = name.replace("._original_component", "")
        if original in wanted:
            tensors.setdefault(original, tensor.detach())
    dtype = next(iter(tensors.values())).dtype
    tokenizer, name = origin(native.config)
    return from_hf_tensors(native.config, tensors.items(), name, tokenizer, dtype)
