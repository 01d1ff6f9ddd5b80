"""Measurements of a bigram subnetwork (Chang & Bergen 2025): kept fractions, surprisal
correlation with the bigram model, ablations on held-out loss, residual-stream alignment.

All of them run the frozen model through `masked_forward` with binary masks (1 = kept);
"full" is the unmasked model. Surprisals are in bits, losses and cross-entropies in nats.

Example:
    >>> masks = trainer.binary_masks()
    >>> kept_fractions(masks)["total"]
    >>> ablation_losses(model, weights, masks, held_out, seed=0)["subnetwork"]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from workbench.analysis.bigram_masks import layer_of, masked_forward
from workbench.analysis.bigram_targets import BigramTable

ABLATIONS = ("full", "subnetwork", "random", "complement", "random_complement")
LN2 = math.log(2.0)


def kept_fractions(masks: dict[str, Bool[Tensor, "..."]]) -> dict[str, Any]:
    """Kept fraction in total, per matrix (by name) and per layer."""
    per_matrix = {n: float(m.float().mean()) for n, m in masks.items()}
    layers: dict[int, list[int]] = {}
    for name, mask in masks.items():
        kept, size = layers.setdefault(layer_of(name), [0, 0])
        layers[layer_of(name)] = [kept + int(mask.sum()), size + mask.numel()]
    total = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    per_layer = [layers[k][0] / layers[k][1] for k in sorted(layers)]
    return {"total": total, "per_matrix": per_matrix, "per_layer": per_layer}


def random_masks(masks: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """For each matrix a random mask keeping exactly as many elements as `masks` does."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, mask in masks.items():
        flat = torch.zeros(mask.numel(), dtype=torch.bool)
        flat[torch.randperm(mask.numel(), generator=generator)[: int(mask.sum())]] = True
        out[name] = flat.reshape(mask.shape).to(mask.device)
    return out


def ablation_masks(masks: dict[str, Tensor], seed: int) -> dict[str, dict[str, Tensor] | None]:
    """The five conditions of the paper's ablation table (None: the unmasked model)."""
    rand = random_masks(masks, seed)
    return {
        "full": None,
        "subnetwork": masks,
        "random": rand,
        "complement": {n: ~m for n, m in masks.items()},
        "random_complement": {n: ~m for n, m in rand.items()},
    }


def _logits(model: nn.Module, weights: dict, masks: dict | None, tokens: Tensor) -> Tensor:
    with torch.no_grad():
        if masks is None:
            return model(tokens)
        return masked_forward(model, weights, masks, tokens)


def next_token_surprisal(
    model: nn.Module,
    weights: dict[str, Tensor],
    masks: dict[str, Tensor] | None,
    tokens: Int[Tensor, "batch pos"],
    batch_size: int = 16,
) -> Float[Tensor, "batch pos_minus_1"]:
    """-log2 p(actual next token) at every position but the last (float64, CPU)."""
    device = next(iter(weights.values())).device
    out = []
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size].to(device)
        logp = torch.log_softmax(_logits(model, weights, masks, batch)[:, :-1].double(), -1)
        out.append(-logp.gather(-1, batch[:, 1:, None])[..., 0].cpu() / LN2)
    return torch.cat(out)


def ablation_losses(
    model: nn.Module,
    weights: dict[str, Tensor],
    masks: dict[str, Tensor],
    tokens: Int[Tensor, "batch pos"],
    seed: int = 0,
) -> dict[str, float]:
    """Mean next-token loss (nats) on `tokens` for each condition of `ABLATIONS`."""
    return {
        name: float(next_token_surprisal(model, weights, condition, tokens).mean() * LN2)
        for name, condition in ablation_masks(masks, seed).items()
    }


def pearson(x: Tensor, y: Tensor) -> float:
    """Pearson r in float64 (NaN when either side is constant)."""
    x, y = x.double().flatten(), y.double().flatten()
    dx, dy = x - x.mean(), y - y.mean()
    denominator = (dx.square().sum() * dy.square().sum()).sqrt()
    return float((dx * dy).sum() / denominator) if denominator > 0 else math.nan


def surprisal_correlation(
    surprisal: Float[Tensor, "batch pos"],
    tokens: Int[Tensor, "batch pos_plus_1"],
    table: BigramTable,
) -> tuple[float, int, Tensor]:
    """(r, tokens used, bigram surprisal): tokens whose bigram probability is 0 (infinite
    surprisal) are left out, as in the paper."""
    bigram = table.surprisal_bits(tokens[:, :-1].cpu(), tokens[:, 1:].cpu())
    finite = torch.isfinite(bigram)
    return pearson(surprisal[finite], bigram[finite]), int(finite.sum()), bigram


def bigram_cross_entropy(
    model: nn.Module,
    weights: dict[str, Tensor],
    masks: dict[str, Tensor] | None,
    tokens: Int[Tensor, "batch pos"],
    table: BigramTable,
) -> float:
    """Mean cross-entropy (nats) of the (masked) model's next-token distribution to the
    bigram row of the current token."""
    device = next(iter(weights.values())).device
    tokens = tokens.to(device)
    with torch.no_grad():
        logits = _logits(model, weights, masks, tokens)
        return float(table.cross_entropy(logits[:, :-1], tokens[:, :-1]).double().mean())


def residual_alignment(
    model: nn.Module,
    weights: dict[str, Tensor],
    masks: dict[str, Tensor] | None,
    tokens: Int[Tensor, "batch pos"],
) -> Float[Tensor, "2 n_resid"]:
    """Mean cosine of the residual stream at each depth (before block 0, after each block)
    with the current token's input embedding (row 0) and the next token's unembedding
    vector (row 1), over every position that has a next token."""
    n_layers = model.cfg.n_layers
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]
    store: dict[str, Tensor] = {}

    def save(tensor: Tensor, hook: Any) -> None:
        store[hook.name] = tensor.detach()

    device = next(iter(weights.values())).device
    tokens = tokens.to(device)
    with model.hooks(fwd_hooks=[(n, save) for n in names]):
        _logits(model, weights, masks, tokens)
    current = model.embed.W_E.detach()[tokens[:, :-1]]  # [batch, pos-1, d_model]
    w_u = model.unembed.tied_to.W_E.T if getattr(model.unembed, "tied_to", None) else None
    w_u = (model.unembed.W_U if w_u is None else w_u).detach()
    following = w_u.T[tokens[:, 1:]]
    out = torch.empty(2, len(names), dtype=torch.float64)
    for depth, name in enumerate(names):
        resid = store[name][:, :-1].double()
        out[0, depth] = torch.cosine_similarity(resid, current.double(), dim=-1).mean()
        out[1, depth] = torch.cosine_similarity(resid, following.double(), dim=-1).mean()
    return out
