"""`Model`: a hookable transformer built from a `ModelConfig`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

import workbench.variants  # noqa: F401  (registers the variants ModelConfig resolves)
from workbench.core.block import Block
from workbench.core.cache import ActivationCache
from workbench.core.config import ModelConfig
from workbench.core.context import ForwardContext
from workbench.core.hooks import HookedModule, HookPoint
from workbench.core.inputs import check_tokens
from workbench.core.stats import MLP_STATS, Stats, StatsCollector, parse_request


class Embed(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        # F.embedding, not W_E[tokens]: the indexing's backward (index_put_ with accumulate)
        # sums in a thread-dependent order on CPU; embedding's backward does not
        return F.embedding(tokens, self.W_E)


class Unembed(nn.Module):
    def __init__(self, cfg: ModelConfig, embed: Embed) -> None:
        super().__init__()
        self.tied_to = embed if cfg.tied_embeddings else None
        if self.tied_to is None:
            self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_vocab"]:
        w_u = self.tied_to.W_E.T if self.tied_to is not None else self.W_U
        return x @ w_u + self.b_U


class Model(HookedModule):
    """A transformer whose every interesting tensor passes through a named `HookPoint`.

    Example:
        >>> model = Model(ModelConfig(n_layers=2, d_model=64, n_heads=4))
        >>> logits, cache = model.run_with_cache(tokens, names_filter=lambda n: "pattern" in n)
        >>> stats = model.run_with_stats(tokens, ["attn.entropy"])
    """

    def __init__(self, cfg: ModelConfig, tokenizer: Any = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()
        self.pos_embed = cfg.position.build(cfg)
        self.hook_pos_embed = HookPoint()
        self.ln_embed = cfg.norm.build(cfg) if cfg.embed_norm else None
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layers))
        self.ln_final = cfg.norm.build(cfg) if cfg.norm_placement.final_norm else None
        self.unembed = Unembed(cfg, self.embed) if cfg.has_unembed else None
        self.init_weights()
        cfg.reparam.apply(self)
        self.setup_hooks()

    def init_weights(self) -> None:
        """Normal(0, init_range) for matrices, from `cfg.seed`; modules with their own
        `init_weights(generator)` (e.g. variant-specific parameters) do the rest."""
        generator = torch.Generator().manual_seed(self.cfg.seed)
        with torch.no_grad():
            for module in self.modules():
                if module is not self and hasattr(module, "init_weights"):
                    module.init_weights(generator)
                    continue
                for param in module.parameters(recurse=False):
                    if param.dim() >= 2:
                        param.copy_(
                            torch.randn(param.shape, generator=generator) * self.cfg.init_range
                        )

    # -- forward ------------------------------------------------------------------------
    def forward(
        self,
        tokens: Int[Tensor, "batch pos"] | str | list[str],
        attention_mask: Int[Tensor, "batch pos"] | None = None,
        return_type: str = "logits",
    ) -> Tensor:
        """Logits `[batch, pos, d_vocab]` (hidden states for a model without unembedding);
        `return_type="loss"` gives the mean next-token cross-entropy, `"both"` a tuple."""
        if return_type not in ("logits", "loss", "both"):
            raise ValueError(f"return_type must be 'logits', 'loss' or 'both', got {return_type!r}")
        tokens = self.to_tokens(tokens) if isinstance(tokens, str | list) else tokens
        tokens = check_tokens(tokens, self.cfg.d_vocab, self.pos_embed.max_len)
        ctx = self._context(tokens, attention_mask, stats=None)
        logits = self._forward(tokens, ctx)
        if return_type == "logits":
            return logits
        loss = self.loss(logits, tokens)
        return loss if return_type == "loss" else (logits, loss)

    def _context(self, tokens: Tensor, attention_mask: Tensor | None, stats) -> ForwardContext:
        pos_ids = torch.arange(tokens.shape[1], device=tokens.device)
        mask = None if attention_mask is None else attention_mask.to(tokens.device).bool()
        if mask is not None and mask.shape != tokens.shape:
            raise ValueError(
                f"attention_mask shape {tuple(mask.shape)} != tokens {tuple(tokens.shape)}"
            )
        return ForwardContext(self.pos_embed, pos_ids, self.cfg.causal, mask, stats)

    def _forward(self, tokens: Tensor, ctx: ForwardContext) -> Tensor:
        resid = self.hook_embed(self.embed(tokens))
        pos = self.pos_embed.embed(ctx.pos_ids)
        if pos is not None:
            resid = resid + self.hook_pos_embed(pos.expand(tokens.shape[0], -1, -1))
        if self.ln_embed is not None:
            resid = self.ln_embed(resid)
        for block in self.blocks:
            resid = block(resid, ctx)
        if self.ln_final is not None:
            resid = self.ln_final(resid)
        return resid if self.unembed is None else self.unembed(resid)

    @staticmethod
    def loss(
        logits: Float[Tensor, "batch pos d_vocab"], tokens: Int[Tensor, "batch pos"]
    ) -> Tensor:
        """Mean next-token cross-entropy (nats)."""
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())

    # -- caches and statistics ------------------------------------------------------------
    def run_with_cache(
        self,
        *model_args: Any,
        names_filter: str | Sequence[str] | Callable[[str], bool] | None = None,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
        **model_kwargs: Any,
    ) -> tuple[Tensor, ActivationCache]:
        """Run and keep the activations at the hooks `names_filter` selects (all if None)."""
        names = self.hook_names() if names_filter is None else self.resolve_hook_names(names_filter)
        store: dict[str, Tensor] = {}

        def save(tensor: Tensor, hook: HookPoint) -> None:
            store[hook.name] = tensor.detach() if device is None else tensor.detach().to(device)

        with self.hooks(fwd_hooks=[(name, save) for name in names]):
            out = self(*model_args, **model_kwargs)
        cache = ActivationCache(store)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache

    def supported_stats(self) -> dict[str, set[str]]:
        """Statistics every layer supports, by family: `{"attn": {...}, "mlp": {...}}`."""
        attn = set.intersection(*(set(b.attn.supported_stats()) for b in self.blocks))
        return {"attn": attn, "mlp": set(MLP_STATS)}

    @torch.no_grad()
    def run_with_stats(
        self,
        tokens: Int[Tensor, "batch pos"] | str | list[str],
        stats: Sequence[str],
        mlp_threshold: float = 0.0,
    ) -> Stats:
        """Statistics per layer without materializing `[query, key]` tensors.

        Names: `attn.{lse,entropy,max_weight,sink,n_eff,...}` -> `[batch, head, pos]`,
        `mlp.nonzero_frac` -> `[batch, pos]`, `mlp.fire_count` -> `[d_mlp]`.
        """
        tokens = self.to_tokens(tokens) if isinstance(tokens, str | list) else tokens
        tokens = check_tokens(tokens, self.cfg.d_vocab, self.pos_embed.max_len)
        collector = StatsCollector(parse_request(stats, self.supported_stats()), mlp_threshold)
        output = self._forward(tokens, self._context(tokens, None, collector))
        return Stats(collector.values, self.cfg.n_layers, output)

    # -- text --------------------------------------------------------------------------------
    def _need_tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise ValueError("This model has no tokenizer; pass token ids instead of text")
        return self.tokenizer

    def to_tokens(
        self, text: str | list[str], prepend_bos: bool = True
    ) -> Int[Tensor, "batch pos"]:
        return self._need_tokenizer().to_tokens(text, prepend_bos=prepend_bos)

    def to_str_tokens(self, tokens: Tensor | str) -> list[str]:
        return self._need_tokenizer().to_str_tokens(tokens)

    @torch.no_grad()
    def generate(
        self,
        prompt: str | Int[Tensor, "batch pos"],
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> str | Int[Tensor, "batch pos"]:
        """Greedy (temperature 0) or sampled continuation; text in, text out."""
        if not self.cfg.causal or self.unembed is None:
            raise ValueError("generate() needs a causal decoder with an unembedding")
        tokens = self.to_tokens(prompt) if isinstance(prompt, str) else prompt
        generator = torch.Generator(device=tokens.device).manual_seed(seed)
        window = self.pos_embed.max_len or tokens.shape[1] + max_new_tokens
        for _ in range(max_new_tokens):
            logits = self(tokens[:, -window:])[:, -1].float()
            if temperature > 0:
                probs = (logits / temperature).softmax(-1)
                next_token = torch.multinomial(probs, 1, generator=generator)
            else:
                next_token = logits.argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
        return self.tokenizer.decode(tokens[0].tolist()) if isinstance(prompt, str) else tokens
