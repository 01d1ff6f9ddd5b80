"""Top-k mixture-of-experts MLP with router hooks and a load-balancing loss.

Router: softmax over `n_experts` logits per token, each token goes to its `k` most probable
experts (Shazeer et al. 2017), whose outputs are mixed with the (renormalized) router
probabilities. Load balancing (Fedus et al. 2022, Switch Transformers, eq. 4, with the
dispatch fraction counted over all k slots): `n_experts * sum_e f_e * P_e`, 1.0 when the
routing is uniform, up to `n_experts` when every token goes to one expert.

Hooks: `mlp.hook_router_logits` `[batch, pos, expert]`, `mlp.hook_router_choice`
`[batch, pos, k]` (int64; a hook may replace the choice), `mlp.hook_router_weights`
`[batch, pos, k]`, and per expert `mlp.experts.{e}.hook_pre|hook_post` `[routed_tokens, d_mlp]`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import MLP, VariantSpec
from workbench.core.validate import PosInt
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
        self.k, self.renormalize = spec.k, spec.renormalize
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

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits = self.hook_router_logits(x @ self.W_router)
        probs = logits.float().softmax(-1)
        choice = self.hook_router_choice(probs.topk(self.k, dim=-1).indices)
        weights = probs.gather(-1, choice)
        if self.renormalize:
            weights = weights / weights.sum(-1, keepdim=True)
        return probs, choice, self.hook_router_weights(weights.to(x.dtype))

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        probs, choice, weights = self.route(x)
        flat_x, flat_choice = x.flatten(0, 1), choice.flatten(0, 1)
        flat_w = weights.flatten(0, 1)
        out = torch.zeros_like(flat_x)
        posts = []
        for e, expert in enumerate(self.experts):
            token, slot = (flat_choice == e).nonzero(as_tuple=True)
            y, post = expert(flat_x[token])
            out = out.index_add(0, token, y * flat_w[token, slot, None])
            posts.append((token, post))
        self.load_balancing_loss = self.balance_loss(probs, choice)
        self.record_stats(posts, flat_x.shape[0], x.shape[:2], ctx)
        return out.view_as(x) + self.b_out

    def balance_loss(self, probs: Tensor, choice: Tensor) -> Tensor:
        n_experts = probs.shape[-1]
        # fraction of the routing slots (tokens x k) that went to each expert; sums to 1
        dispatch = F.one_hot(choice, n_experts).float().flatten(0, -2).mean(0)
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
        "load balancing: Fedus et al. 2022, Switch Transformers (arXiv 2101.03961)"
    )
    n_experts: PosInt = 4
    k: PosInt = 2
    d_expert: PosInt | None = None
    activation: str = "relu"
    renormalize: bool = True

    def check(self) -> None:
        if not 1 <= self.k <= self.n_experts:
            raise ValueError(f"moe needs 1 <= k <= n_experts, got k={self.k}, n={self.n_experts}")
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
