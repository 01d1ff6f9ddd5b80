"""A plain float64 forward pass written from the formulas, independent of the model's code.

It reads only the parameters (`model.state_dict()`) and the config, and calls none of the
model's modules, position classes or kernels: embeddings, LayerNorm / RMSNorm / CRMSNorm,
softmax attention (causal mask, key padding, ALiBi, rotary in the GPT-NeoX half layout,
grouped-query heads), the MLP variants and the unembedding are each a few lines below, so a
bug in the model cannot hide in a path the test shares with it. Loops over heads and
positions are deliberate: slower, but each line is one formula.

Covers attention "softmax", positions none/learned/sinusoidal/rotary/alibi, norms
layernorm/rmsnorm/crmsnorm, placements pre/post/peri/none and MLPs relu/relu2/gelu/swiglu/
geglu/reglu. `covers(cfg)` says whether a config is inside that set.

Example:
    >>> logits = reference_forward(model, tokens)          # float64 [batch, pos, d_vocab]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

POSITIONS = {"none", "learned", "sinusoidal", "rotary", "alibi"}
NORMS = {"layernorm", "rmsnorm", "crmsnorm"}
PLACEMENTS = {"pre", "post", "peri", "none"}
MLPS = {"relu", "relu2", "gelu", "swiglu", "geglu", "reglu"}


def covers(cfg) -> bool:
    return (
        cfg.attention.name == "softmax"
        and cfg.position.name in POSITIONS
        and cfg.norm.name in NORMS
        and cfg.norm_placement.name in PLACEMENTS
        and cfg.mlp.name in MLPS
        and cfg.reparam.name == "none"
    )


# -- norms -----------------------------------------------------------------------------------
def norm(x: Tensor, params: dict[str, Tensor], prefix: str, kind: str, eps: float) -> Tensor:
    w = params[f"{prefix}.w"]
    if kind == "layernorm":
        centred = x - x.mean(-1, keepdim=True)
        var = (centred**2).mean(-1, keepdim=True)  # biased variance, as in the paper
        return centred / torch.sqrt(var + eps) * w + params[f"{prefix}.b"]
    if kind == "rmsnorm":
        return x / torch.sqrt((x**2).mean(-1, keepdim=True) + eps) * w
    # CRMSNorm: the d-dim vector stands for a zero-mean (d+1)-dim one whose last coordinate is
    # minus the sum of the others.
    full = torch.cat([x, -x.sum(-1, keepdim=True)], dim=-1)
    return x / torch.sqrt((full**2).mean(-1, keepdim=True) + eps) * w


# -- positions -------------------------------------------------------------------------------
def sinusoidal_table(n: int, d: int) -> Tensor:
    half = d // 2
    table = torch.zeros(n, d, dtype=torch.float64)
    for p in range(n):
        for i in range(half):
            angle = p / 10000.0 ** (i / half)
            table[p, i], table[p, half + i] = math.sin(angle), math.cos(angle)
    return table


def rotate(x: Tensor, rotary_dim: int, base: float) -> Tensor:
    """x: [pos, d_head]. Pairs (i, i + r/2) turn by pos * base^(-2i/r)."""
    out = x.clone()
    half = rotary_dim // 2
    for p in range(x.shape[0]):
        for i in range(half):
            theta = p * base ** (-2 * i / rotary_dim)
            c, s = math.cos(theta), math.sin(theta)
            a, b = x[p, i], x[p, half + i]
            out[p, i], out[p, half + i] = a * c - b * s, b * c + a * s
    return out


def alibi_slope(head: int, n_heads: int) -> float:
    """Press et al. 2022: 2^(-8 h / H) for heads h = 1..H."""
    return 2.0 ** (-8.0 * (head + 1) / n_heads)


# -- attention -------------------------------------------------------------------------------
def attend(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool, slope: float | None, visible_keys: Tensor
) -> Tensor:
    """One head: q [n_q, e], k/v [n_k, e]; queries are the last n_q of the n_k positions.
    A query that sees no key outputs 0."""
    n_q, n_k = q.shape[0], k.shape[0]
    out = torch.zeros(n_q, v.shape[1], dtype=torch.float64)
    for i in range(n_q):
        pos_i = n_k - n_q + i
        keys = [j for j in range(n_k) if bool(visible_keys[j]) and (not causal or j <= pos_i)]
        if not keys:
            continue
        scores = torch.stack([q[i] @ k[j] / math.sqrt(q.shape[1]) for j in keys])
        if slope is not None:
            scores = scores - slope * torch.tensor([abs(pos_i - j) for j in keys], dtype=q.dtype)
        weights = torch.exp(scores - scores.max())
        weights = weights / weights.sum()
        out[i] = sum(w * v[j] for w, j in zip(weights, keys, strict=True))
    return out


def attention_layer(x: Tensor, params: dict, prefix: str, cfg, visible: Tensor) -> Tensor:
    """x: [pos, d_model] of one sequence -> [pos, d_model]."""
    group = cfg.n_heads // cfg.n_kv_heads
    out = params[f"{prefix}.b_O"].clone().expand(x.shape[0], -1).clone()
    for h in range(cfg.n_heads):
        kv = h // group  # query heads h*g .. h*g+g-1 share key/value head h
        q = x @ params[f"{prefix}.W_Q"][h] + params[f"{prefix}.b_Q"][h]
        k = x @ params[f"{prefix}.W_K"][kv] + params[f"{prefix}.b_K"][kv]
        v = x @ params[f"{prefix}.W_V"][kv] + params[f"{prefix}.b_V"][kv]
        if cfg.position.name == "rotary":
            r = cfg.position.rotary_dim or cfg.d_head
            q, k = rotate(q, r, cfg.position.base), rotate(k, r, cfg.position.base)
        slope = alibi_slope(h, cfg.n_heads) if cfg.position.name == "alibi" else None
        z = attend(q, k, v, causal=cfg.causal, slope=slope, visible_keys=visible)
        out = out + z @ params[f"{prefix}.W_O"][h]
    return out


# -- MLP -------------------------------------------------------------------------------------
def activation(name: str, x: Tensor, approximate: str = "none") -> Tensor:
    if name in ("relu", "reglu"):
        return torch.clamp(x, min=0)
    if name == "relu2":
        return torch.clamp(x, min=0) ** 2
    if name == "swiglu":
        return x / (1 + torch.exp(-x))
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))  # gelu, geglu


def mlp_layer(x: Tensor, params: dict, prefix: str, cfg) -> Tensor:
    name = cfg.mlp.name
    hidden = x @ params[f"{prefix}.W_in"] + params[f"{prefix}.b_in"]
    if name in ("swiglu", "geglu", "reglu"):
        gate = x @ params[f"{prefix}.W_gate"] + params[f"{prefix}.b_gate"]
        hidden = activation(name, gate) * hidden
    else:
        hidden = activation(name, hidden, getattr(cfg.mlp, "approximate", "none"))
    return hidden @ params[f"{prefix}.W_out"] + params[f"{prefix}.b_out"]


# -- the whole model -------------------------------------------------------------------------
def sublayer(x: Tensor, f, params: dict, prefix: str, norm_in: str, norm_out: str, cfg) -> Tensor:
    placement, kind, eps = cfg.norm_placement.name, cfg.norm.name, cfg.eps
    if placement == "post":  # Vaswani et al.: normalize the residual sum
        return norm(x + f(x), params, f"{prefix}.{norm_in}", kind, eps)
    if placement == "none":
        return x + f(x)
    out = f(norm(x, params, f"{prefix}.{norm_in}", kind, eps))
    if placement == "peri":
        out = norm(out, params, f"{prefix}.{norm_out}", kind, eps)
    return x + out


def reference_forward(model, tokens: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Float64 logits `[batch, pos, d_vocab]` of `model` computed from its parameters only."""
    cfg = model.cfg
    if not covers(cfg):
        raise ValueError(f"the reference forward does not cover {cfg}")
    params = {name: p.detach().double() for name, p in model.state_dict().items()}
    batch, n = tokens.shape
    mask = torch.ones(batch, n, dtype=torch.bool) if attention_mask is None else attention_mask
    outs = []
    for b in range(batch):
        x = params["embed.W_E"][tokens[b]]
        if cfg.position.name == "learned":
            x = x + params["pos_embed.W_pos"][:n]
        elif cfg.position.name == "sinusoidal":
            x = x + sinusoidal_table(n, cfg.d_model)
        if cfg.embed_norm:
            x = norm(x, params, "ln_embed", cfg.norm.name, cfg.eps)
        for layer in range(cfg.n_layers):
            pre = f"blocks.{layer}"
            attn = lambda h, pre=pre, b=b: attention_layer(h, params, f"{pre}.attn", cfg, mask[b])
            mlp = lambda h, pre=pre: mlp_layer(h, params, f"{pre}.mlp", cfg)
            x = sublayer(x, attn, params, pre, "ln1", "ln1_out", cfg)
            x = sublayer(x, mlp, params, pre, "ln2", "ln2_out", cfg)
        if cfg.norm_placement.name in ("pre", "peri"):
            x = norm(x, params, "ln_final", cfg.norm.name, cfg.eps)
        w_u = params["embed.W_E"].T if cfg.tied_embeddings else params["unembed.W_U"]
        outs.append(x @ w_u + params["unembed.b_U"])
    return torch.stack(outs)


def randomize_parameters(model, seed: int = 0, scale: float = 0.5) -> None:
    """Every parameter random (biases and norm gains too, which start at 0 and 1, where a
    dropped bias or gain would not show), so each term of the forward pass is visible."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not param.requires_grad:  # frozen at zero: a config without biases
                continue
            fan_in = param.shape[-2] if param.dim() >= 2 else 1
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float64)
            gain = 1.0 if name.endswith(".w") else 0.0  # norm gains around 1
            param.copy_(noise * scale / math.sqrt(fan_in) + gain)
