"""Top-k mixture-of-experts MLP with router hooks and a load-balancing loss.

Router: softmax over `n_experts` logits per token, each token goes to its `k` most probable
experts (Shazeer et al. 2017), whose outputs are mixed with the (renormalized) router
probabilities. Load balancing (Fedus et al. 2022, Switch Transformers, eq. 4, with the
dispatch fraction counted over all k slots): `n_experts * sum_e f_e * P_e`, 1.0 when the
routing is uniform, up to `n_experts` when every token goes to one expert.

Hooks: `mlp.hook_router_logits` `[batch, pos, expert]`, `mlp.hook_router_choice`
`[batch, pos, k]` (int64; a hook may replace the choice), `mlp.hook_router_weights`
`[batch, pos, k]`, and per expert `mlp.experts.{e}.hook_pre|hook_post` `[routed_tokens, d_mlp]`.

Dense-to-sparse gate (`gate="dense_to_sparse"`, EvoMoE: Nie et al. 2021, arXiv 2112.14397):
the router weights are softmax(logits / temperature) over *all* experts, and experts whose
weight is below `threshold` are dropped (the rest renormalized). A high temperature makes
the layer a dense mixture of every expert; lowering it (`set_temperature`, e.g. annealed over
training as in the paper, which also adds Gumbel noise; not done here) makes it sparse, down
to top-1 routing. The choice hook then has `n_experts` slots, ordered by weight; a dropped
slot has weight 0 and its expert does not run for that token.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import MLP, VariantSpec
from workbench.core.validate import NonNegFloat, PosFloat, PosInt
from workbench.kernels.mlp.reference import fired

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu}


class Expert(nn.Module):
    def __init__(self, d_model: int, d_mlp: int, act: str, bias: bool) -> None:
        super().__init__()
        self.act = _ACTIVATIONS[act]
        self.W_in = nn.Parameter(torch.empty(d_model, d_mlp))
        self.b_in = nn.Parameter(torch.zeros(d_mlp), requires_grad=bias)
        self.W_out = nn.Parameter(torch.empty(d_mlp, d_model))
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "tokens d_model"]) -> tuple[Tensor, Tensor]:
        post = self.hook_post(self.act(self.hook_pre(x @ self.W_in + self.b_in)))
        return post @ self.W_out, post


class TopKMoEModule(nn.Module):
    """`load_balancing_loss` holds the last forward's auxiliary loss (with its gradient)."""

    def __init__(self, cfg, spec: TopKMoE) -> None:
        super().__init__()
        self.dense_to_sparse = spec.gate == "dense_to_sparse"
        self.k = spec.n_experts if self.dense_to_sparse else spec.k
        self.renormalize = spec.renormalize
        self.temperature, self.threshold = spec.temperature, spec.threshold
        self.exact_zeros = spec.activation == "relu"
        d_expert = spec.d_expert or cfg.d_mlp
        self.W_router = nn.Parameter(torch.empty(cfg.d_model, spec.n_experts))
        self.experts = nn.ModuleList(
            Expert(cfg.d_model, d_expert, spec.activation, cfg.mlp_bias)
            for _ in range(spec.n_experts)
        )
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model), requires_grad=cfg.mlp_bias)
        self.hook_router_logits = HookPoint()
        self.hook_router_choice = HookPoint()
        self.hook_router_weights = HookPoint()
        self.load_balancing_loss: Tensor | None = None

    def set_temperature(self, temperature: float) -> None:
        """The dense-to-sparse gate's temperature (lower: sparser)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits = self.hook_router_logits(x @ self.W_router)
        if self.dense_to_sparse:
            return self.route_dense_to_sparse(logits, x.dtype)
        probs = logits.float().softmax(-1)
        choice = self.hook_router_choice(probs.topk(self.k, dim=-1).indices)
        weights = probs.gather(-1, choice)
        if self.renormalize:
            weights = weights / weights.sum(-1, keepdim=True)
        return probs, choice, self.hook_router_weights(weights.to(x.dtype))

    def route_dense_to_sparse(self, logits: Tensor, dtype: torch.dtype) -> tuple[Tensor, ...]:
        gate = (logits.float() / self.temperature).softmax(-1)
        choice = self.hook_router_choice(gate.argsort(-1, descending=True))
        weights = gate.gather(-1, choice)
        weights = torch.where(weights >= self.threshold, weights, 0.0)
        weights = weights / weights.sum(-1, keepdim=True)
        return logits.float().softmax(-1), choice, self.hook_router_weights(weights.to(dtype))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        probs, choice, weights = self.route(x)
        flat_x, flat_choice = x.flatten(0, 1), choice.flatten(0, 1)
        flat_w = weights.flatten(0, 1)
        out = torch.zeros_like(flat_x)
        posts = []
        for e, expert in enumerate(self.experts):
            routed = flat_choice == e
            if self.dense_to_sparse:  # dropped slots (weight 0) do not run the expert
                routed = routed & (flat_w != 0)
            token, slot = routed.nonzero(as_tuple=True)
            y, post = expert(flat_x[token])
            out = out.index_add(0, token, y * flat_w[token, slot, None])
            posts.append((token, post))
        kept = (weights != 0) if self.dense_to_sparse else None
        self.load_balancing_loss = self.balance_loss(probs, choice, kept)
        self.record_stats(posts, flat_x.shape[0], x.shape[:2], ctx)
        return out.view_as(x) + self.b_out

    def balance_loss(self, probs: Tensor, choice: Tensor, kept: Tensor | None = None) -> Tensor:
        n_experts = probs.shape[-1]
        # fraction of the routing slots (tokens x k) that went to each expert; sums to 1
        slots = F.one_hot(choice, n_experts).float()
        if kept is not None:  # dense-to-sparse: only the slots that were not dropped
            slots = slots * kept[..., None]
        slots = slots.flatten(0, -2)
        dispatch = slots.sum(0) / slots.sum()
        return n_experts * (dispatch.detach() * probs.flatten(0, -2).mean(0)).sum()

    def record_stats(self, posts, n_tokens: int, batch_pos, ctx) -> None:
        """`mlp.nonzero_frac`: fired fraction of the k routed experts' neurons per token;
        `mlp.fire_count`: per neuron of every expert, `[n_experts * d_mlp]`."""
        collector = ctx.stats
        if collector is None or not collector.wants("mlp"):
            return
        threshold = collector.threshold(self.exact_zeros, f"blocks.{ctx.layer}.mlp (moe)")
        real = None if collector.token_mask is None else collector.token_mask.flatten()
        per_token = torch.zeros(n_tokens, device=self.b_out.device)
        counts = []
        for token, post in posts:
            on = fired(post.detach(), threshold)
            per_token.index_add_(0, token, on.sum(-1).float())
            counted = on if real is None else on & real[token, None]
            counts.append(counted.sum(0, dtype=torch.int64))
        d_expert = posts[0][1].shape[-1]
        values = {
            "nonzero_frac": (per_token / (self.k * d_expert)).view(batch_pos),
            "fire_count": torch.cat(counts),
        }
        collector.record("mlp", ctx.layer, {s: values[s] for s in collector.wants("mlp")})


@MLP.register
@dataclasses.dataclass(frozen=True)
class TopKMoE(VariantSpec):
    """`n_experts` experts of width `d_expert` (default `d_mlp`); each token uses `k`.

    Example:
        >>> model = Model(ModelConfig(mlp=TopKMoE(n_experts=8, k=2)))
        >>> loss = model(tokens, return_type="loss") + 0.01 * moe_load_balancing_loss(model)
    """

    name: ClassVar[str] = "moe"
    paper: ClassVar[str] = (
        "Shazeer et al. 2017, Outrageously Large Neural Networks (sparsely-gated MoE); "
        "load balancing: Fedus et al. 2022, Switch Transformers (arXiv 2101.03961); "
        "dense-to-sparse gate: Nie et al. 2021, EvoMoE (arXiv 2112.14397)"
    )
    n_experts: PosInt = 4
    k: PosInt = 2
    d_expert: PosInt | None = None
    activation: str = "relu"
    renormalize: bool = True
    gate: Literal["topk", "dense_to_sparse"] = "topk"  # dense_to_sparse: EvoMoE (k unused)
    temperature: PosFloat = 2.0  # dense_to_sparse only: softmax(logits / temperature)
    threshold: NonNegFloat = 1e-3  # dense_to_sparse only: experts below it are dropped

    def check(self) -> None:
        if not 1 <= self.k <= self.n_experts:
            raise ValueError(f"moe needs 1 <= k <= n_experts, got k={self.k}, n={self.n_experts}")
        if self.gate == "dense_to_sparse" and self.threshold * self.n_experts >= 1:
            raise ValueError(  # the most probable expert (weight >= 1/n) must always stay
                f"moe threshold must be < 1/n_experts = {1 / self.n_experts:g}, "
                f"got {self.threshold}"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"moe activation {self.activation!r} unknown; valid: {sorted(_ACTIVATIONS)}"
            )

    def build(self, cfg, layer=None) -> nn.Module:
        return TopKMoEModule(cfg, self)


def moe_load_balancing_loss(model: nn.Module) -> Tensor:
    """Sum of the MoE layers' load-balancing losses from the last forward pass."""
    losses = [m.load_balancing_loss for m in model.modules() if isinstance(m, TopKMoEModule)]
    if not losses or any(loss is None for loss in losses):
        raise ValueError("No MoE load-balancing loss: the model has no MoE MLP or has not run")
    return torch.stack(losses).sum()
