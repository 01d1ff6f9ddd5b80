"""Theorem 3.1 of Zhai et al. (2023): a lower bound on softmax attention entropy.

For one head, logits `a_ij = x_i^T W x_j` with `W = W_Q W_K^T` (here times the model's
`1/sqrt(d_head)` scale, and with the query/key biases folded in as an extra input column of
ones, so `a_ij` is exactly what the model computes). With `sigma = ||W||_2`,
`sigma_x = ||X X^T||_2` (X: the layer's attention input, `[T, d]`), `s = sigma * sigma_x`:

    beta = exp(-s * sqrt(T / (T - 1)))
    Ent(A_i) >= log(1 + (T - 1) beta) + s * sqrt(T (T - 1)) beta / (1 + (T - 1) beta)

Why it holds (our check of the formula): `||a_i||_2 <= ||x_i|| sigma ||X||_2 <= sigma
||X||_2^2 = s`, and among logit vectors of norm <= s the lowest softmax entropy belongs to one
logit `s sqrt((T-1)/T)` above `T - 1` equal ones `s / sqrt(T (T-1))`: gap `s sqrt(T/(T-1))`,
weight ratio beta, and the entropy of that row is the right-hand side. A causal query sees
`T_i = i + 1` keys; the bound holds per row with `T_i` (the visible logits still have norm
<= s), and rows with one key have entropy 0 = the bound.

The bound needs softmax weights of bilinear logits: it applies to `softmax` and `gated`
(softmax weights, gate after) with learned, sinusoidal or no positions. Sigmoid and clipped
weights, rotary (position-dependent W) and ALiBi (added biases) are marked "does not apply".

Example:
    >>> result = compute_bound(model, "the old dog sat on the mat")
    >>> result.bound_mean, result.measured_mean      # [layer, head], nats
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.entropy import entropy_stats, single_text_tokens
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens

BOUND_KINDS = ("softmax", "gated")
BOUND_POSITIONS = ("learned", "sinusoidal", "none")


def theorem_bound(
    s: Float[Tensor, "..."], n_keys: Int[Tensor, "..."] | Float[Tensor, "..."]
) -> Float[Tensor, "..."]:
    """Theorem 3.1's right-hand side (nats, float64) for logit-norm bound `s` and `T` keys;
    0 where `T = 1`."""
    s, t = torch.broadcast_tensors(torch.as_tensor(s, dtype=torch.float64),
                                   torch.as_tensor(n_keys, dtype=torch.float64))  # fmt: skip
    several = t > 1
    t_safe = torch.where(several, t, 2.0)
    beta = torch.exp(-s * torch.sqrt(t_safe / (t_safe - 1)))
    spread = 1 + (t_safe - 1) * beta
    value = torch.log(spread) + s * torch.sqrt(t_safe * (t_safe - 1)) * beta / spread
    return torch.where(several, value, 0.0)


def bound_applies(model: Any) -> tuple[bool, str]:
    """Whether Theorem 3.1 covers this model's attention, and why not when it does not."""
    cfg = model.cfg
    for layer in range(cfg.n_layers):  # per layer: schedules (hybrids) differ by layer
        kind, position = cfg.spec("attention", layer).name, cfg.spec("position", layer).name
        where = f" (blocks.{layer})" if cfg.n_layers > 1 else ""
        if kind not in BOUND_KINDS:
            return False, (f"bound does not apply: attention kind {kind!r}{where} has no "
                           "softmax weights")  # fmt: skip
        if position not in BOUND_POSITIONS:
            return False, (f"bound does not apply: position {position!r}{where} makes the "
                           "logits position-dependent (not x_i^T W x_j)")  # fmt: skip
    return True, "applies"


def qk_matrices(model: Any, layer: int) -> Float[Tensor, "head d_in d_in"]:
    """Per head the bilinear form of the logits, `scale * [W_Q; b_Q] [W_K; b_K]^T`, float64,
    on the input augmented with a constant 1 (the biases' column)."""
    attn = model.blocks[layer].attn
    w_q, w_k = attn.W_Q.detach().double(), attn.W_K.detach().double()
    b_q, b_k = attn.b_Q.detach().double(), attn.b_K.detach().double()
    group = w_q.shape[0] // w_k.shape[0]  # grouped-query attention shares keys
    w_k, b_k = w_k.repeat_interleave(group, 0), b_k.repeat_interleave(group, 0)
    q = torch.cat([w_q, b_q[:, None]], dim=1)  # [head, d + 1, d_head]
    k = torch.cat([w_k, b_k[:, None]], dim=1)
    return attn.scale * q @ k.transpose(1, 2)


def head_sigmas(model: Any) -> Float[Tensor, "layer head"]:
    """sigma = ||scale * W_Q W_K^T||_2 per head (biases folded in), float64."""
    with torch.no_grad():
        return torch.stack([
            torch.linalg.matrix_norm(qk_matrices(model, layer), ord=2)
            for layer in range(model.cfg.n_layers)
        ])  # fmt: skip


def attention_inputs(model: Any, tokens: Int[Tensor, "1 pos"]) -> list[Float[Tensor, "pos d"]]:
    """What each layer's attention reads (after its norm, whatever the placement)."""
    seen: dict[int, Tensor] = {}

    def keep(layer: int):
        def hook(module: Any, args: tuple) -> None:  # returns None: the inputs stay as they are
            seen.setdefault(layer, args[0][0].detach())

        return hook

    handles = [
        block.attn.register_forward_pre_hook(keep(i)) for i, block in enumerate(model.blocks)
    ]
    try:
        with torch.no_grad():
            model(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return [seen[layer].double().cpu() for layer in range(model.cfg.n_layers)]


def input_sigmas(inputs: list[Tensor]) -> Float[Tensor, "layer"]:
    """sigma_x = ||X X^T||_2 = ||X||_2^2 of the augmented input `[X, 1]`."""
    return torch.stack([
        torch.linalg.matrix_norm(torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1), ord=2)
        ** 2
        for x in inputs
    ])  # fmt: skip


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class EntropyBoundResult(Result):
    """Measured entropy next to Theorem 3.1's bound on one probe sequence."""

    applies: bool
    reason: str
    sigma: Float[Tensor, "layer head"]
    sigma_x: Float[Tensor, "layer"]
    bound: Float[Tensor, "layer head pos"]
    measured: Float[Tensor, "layer head pos"]
    bound_mean: Float[Tensor, "layer head"]
    measured_mean: Float[Tensor, "layer head"]
    violations: int


def compute_bound(
    model: Any, probe: str | Int[Tensor, "1 pos"] | None = None
) -> EntropyBoundResult:
    """Bound and measured entropy per head and query on `probe` (default: 128 tokens of the
    validation corpus). For kinds the bound does not cover, `applies` is False and the bound
    is NaN (the measured entropy is still there)."""
    entropy_stats(model)  # refuses models without attention statistics
    if probe is None:
        probe = corpus_tokens(
            model, n_sequences=1, seq_len=min(128, model.pos_embed.max_len or 128)
        )
    tokens = single_text_tokens(model, probe) if isinstance(probe, str) else probe
    if tokens.dim() != 2 or tokens.shape[0] != 1:
        raise ValueError(f"the probe must be one sequence [1, pos], got {tuple(tokens.shape)}")
    measured = model.run_with_stats(tokens, ["attn.entropy"])["attn.entropy"][:, 0].double().cpu()
    applies, reason = bound_applies(model)
    n_pos = tokens.shape[1]
    n_keys = torch.arange(1, n_pos + 1) if model.cfg.causal else torch.full((n_pos,), n_pos)
    sigma = head_sigmas(model)
    sigma_x = input_sigmas(attention_inputs(model, tokens))
    if applies:
        bound = theorem_bound((sigma * sigma_x[:, None])[..., None], n_keys)  # [layer, head, pos]
    else:
        bound = torch.full_like(measured, math.nan)
    # Rounding of float32 kernels: a row counts as violating only below the bound by > 1e-5.
    violations = int((measured < bound - 1e-5).sum()) if applies else 0
    meta = ResultMetadata.from_model(model, tokens=tokens, options={"applies": applies},
                                     data_description=f"probe of {n_pos} tokens")  # fmt: skip
    return EntropyBoundResult(
        applies=applies, reason=reason, sigma=sigma.float(), sigma_x=sigma_x.float(),
        bound=bound.float(), measured=measured.float(), bound_mean=bound.mean(-1).float(),
        measured_mean=measured.mean(-1).float(), violations=violations, metadata=meta,
    )  # fmt: skip
