"""`Model`: a hookable transformer built from a `ModelConfig`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

import workbench.variants  # noqa: F401  (registers the variants ModelConfig resolves)
from workbench.core.block import Block
from workbench.core.cache import ActivationCache
from workbench.core.config import ModelConfig
from workbench.core.context import ForwardContext
from workbench.core.hooks import HookedModule, HookPoint
from workbench.core.inputs import check_tokens
from workbench.core.model_views import ModelViewsMixin
from workbench.core.padding import (
    check_attention_mask,
    encode_batch,
    is_right_padded,
    right_padded,
)
from workbench.core.schedule import LayerSchedule
from workbench.core.stats import (
    MLP_STATS,
    Stats,
    StatsCollector,
    no_exact_zeros_message,
    parse_request,
)
from workbench.variants.position import PositionModule


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


def model_positions(cfg: ModelConfig) -> nn.Module:
    """The model's position module; under a per-layer schedule each block has its own and
    the model's adds, rotates and biases nothing."""
    if isinstance(cfg.position, LayerSchedule):
        return PositionModule()
    return cfg.position.build(cfg)


class Model(ModelViewsMixin, HookedModule):
    """A transformer whose every interesting tensor passes through a named `HookPoint`.

    Example:
        >>> model = Model(ModelConfig(n_layers=2, d_model=64, n_heads=4))
        >>> logits, cache = model.run_with_cache(tokens, names_filter=lambda n: "pattern" in n)
        >>> stats = model.run_with_stats(tokens, ["attn.entropy"])
    """

    def __init__(self, cfg: ModelConfig, tokenizer: Any = None, init: bool = True) -> None:
        """`init=False` leaves the weights unset, for loaders that assign every one."""
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()
        self.pos_embed = model_positions(cfg)
        self.hook_pos_embed = HookPoint()
        # With a per-layer norm schedule the embedding norm is layer 0's kind, the final
        # norm the last layer's (the norms next to them in the stream).
        self.ln_embed = cfg.spec("norm", 0).build(cfg) if cfg.embed_norm else None
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(cfg.n_layers))
        if isinstance(cfg.position, LayerSchedule):  # the shortest any layer can encode
            lengths = [b.positions.max_len for b in self.blocks if b.positions.max_len]
            self.pos_embed.max_len = min(lengths) if lengths else None
        final = cfg.spec("norm", cfg.n_layers - 1)
        self.ln_final = final.build(cfg) if cfg.norm_placement.final_norm else None
        self.unembed = Unembed(cfg, self.embed) if cfg.has_unembed else None
        if init:
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
        tokens, attention_mask = self.tokens_and_mask(tokens, attention_mask)
        ctx = self._context(tokens, attention_mask, stats=None)
        logits = self._forward(tokens, ctx)
        if return_type == "logits":
            return logits
        loss = self.loss(logits, tokens)
        return loss if return_type == "loss" else (logits, loss)

    def _context(self, tokens: Tensor, attention_mask: Tensor | None, stats) -> ForwardContext:
        """The forward context; `attention_mask` was validated by `tokens_and_mask` (a plain
        forward may mask inner tokens, statistics only padding)."""
        pos_ids = torch.arange(tokens.shape[1], device=tokens.device)
        mask = None if attention_mask is None else attention_mask.to(tokens.device).bool()
        if mask is not None and bool(mask.all()):
            mask = None  # nothing is padded: the unmasked fast paths are exact
        lengths = row_pos = None
        if mask is not None and is_right_padded(mask):
            lengths = mask.sum(1)
        elif mask is not None:  # positions count real tokens only, as when a text runs alone
            row_pos = (mask.cumsum(1) - 1).clamp(min=0)
        return ForwardContext(
            self.pos_embed, pos_ids, self.cfg.causal, mask, lengths, row_pos, stats
        )

    def _forward(self, tokens: Tensor, ctx: ForwardContext) -> Tensor:
        resid = self.hook_embed(self.embed(tokens))
        pos = self.pos_embed.embed(ctx.pos_ids)
        if pos is not None:
            # Left-padded rows count positions from their first real token.
            pos = (
                pos[ctx.row_pos_ids]
                if ctx.row_pos_ids is not None
                else pos.expand(tokens.shape[0], -1, -1)
            )
            resid = resid + self.hook_pos_embed(pos.to(resid.dtype))
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
        cache = ActivationCache(store, model=self)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache

    def layers_without_mlp(self) -> list[int]:
        """Attention-only layers (`mlp="none"`): no MLP, no `hook_mlp_out`, no `hook_resid_mid`."""
        return [layer for layer, block in enumerate(self.blocks) if block.mlp is None]

    def layer_stats(self) -> list[dict[str, set[str]]]:
        """Statistics each layer can give, by family: `[{"attn": {...}, "mlp": {...}}, ...]`
        (hybrids differ by layer: a DeltaNet layer has no attention entropy)."""
        return [
            {
                "attn": set(block.attn.supported_stats()),
                "mlp": set(MLP_STATS) if hasattr(block.mlp, "exact_zeros") else set(),
            }
            for block in self.blocks
        ]

    def supported_stats(self) -> dict[str, set[str]]:
        """Statistics every layer supports, by family: `{"attn": {...}, "mlp": {...}}`."""
        per_layer = self.layer_stats()
        return {
            family: set.intersection(*(s[family] for s in per_layer)) for family in per_layer[0]
        }

    def absent_layers(self, request: dict[str, tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
        """For each requested statistic, the layers that cannot give it (none: left out)."""
        per_layer = self.layer_stats()
        absent = {}
        for family, names in request.items():
            for name in names:
                layers = tuple(i for i, s in enumerate(per_layer) if name not in s[family])
                if layers:
                    absent[f"{family}.{name}"] = layers
        return absent

    def layer_variant_names(self) -> tuple[str, ...]:
        """`"deltanet"`, `"softmax"`, ...: the mixer of each layer, for messages."""
        return tuple(self.cfg.spec("attention", layer).name for layer in range(self.cfg.n_layers))

    @torch.no_grad()
    def run_with_stats(
        self,
        tokens: Int[Tensor, "batch pos"] | str | list[str],
        stats: Sequence[str],
        attention_mask: Int[Tensor, "batch pos"] | None = None,
        mlp_threshold: float | None = None,
    ) -> Stats:
        """Statistics per layer without materializing `[query, key]` tensors.

        Names: `attn.{lse,entropy,max_weight,sink,n_eff,...}` -> `[batch, head, pos]`,
        `mlp.nonzero_frac` -> `[batch, pos]`, `mlp.fire_count` -> `[d_mlp]`. A list of texts
        is tokenized with its padding mask; padded positions are neither queries nor keys,
        their per-position entries are NaN and counts leave them out. `mlp_threshold`: a
        neuron fires when |activation| > threshold; activations without exact zeros (GELU,
        SiLU, GLU) require one.

        Hybrids (per-layer schedules): a statistic that only some layers give comes back for
        those layers; `stats.absent` names the others, `stats.by_layer(name)` keys the values
        by layer, and `stats[name]` refuses to stack across the gap.
        """
        tokens, attention_mask = self.tokens_and_mask(tokens, attention_mask)
        request = self.stats_request(stats, mlp_threshold, partial=True)
        batch = right_padded(tokens, attention_mask)
        collector = StatsCollector(request, mlp_threshold, batch.mask)
        output = self._forward(batch.tokens, self._context(batch.tokens, batch.mask, collector))
        values = {key: batch.restore_statistic(value) for key, value in collector.values.items()}
        names = tuple(f"{family}.{s}" for family, names in request.items() for s in names)
        mask = None if batch.mask is None else batch.restore(batch.mask, dim=1)
        return Stats(values, self.cfg.n_layers, batch.restore(output, dim=1), names, mask,
                     mlp_threshold, absent=self.absent_layers(request),
                     layer_variants=self.layer_variant_names())  # fmt: skip

    def tokens_and_mask(
        self, tokens: Tensor | str | list[str], attention_mask: Tensor | None = None
    ) -> tuple[Int[Tensor, "batch pos"], Bool[Tensor, "batch pos"] | None]:
        """Token ids (validated) and padding mask; texts are tokenized with their mask."""
        if isinstance(tokens, str | list):
            if attention_mask is not None:
                raise ValueError("attention_mask is built from the texts; pass token ids with it")
            tokens, attention_mask = encode_batch(self._need_tokenizer(), tokens)
        tokens = check_tokens(tokens, self.cfg.d_vocab, self.pos_embed.max_len)
        if attention_mask is not None:
            attention_mask = check_attention_mask(attention_mask, tokens, padding_only=False)
        return tokens, attention_mask

    def stats_request(
        self, stats: Sequence[str], mlp_threshold: float | None = None, partial: bool = False
    ) -> dict[str, tuple[str, ...]]:
        """The statistics `stats` by family, checked against what this model supports (and
        the MLP threshold they need): errors come before any work starts. `partial` (what
        `run_with_stats` does) accepts a statistic some layers of a hybrid lack; the result
        then says which layers have it. Without it, every layer must give every statistic."""
        per_layer = self.layer_stats()
        if partial:
            supported = {f: set.union(*(s[f] for s in per_layer)) for f in per_layer[0]}
        else:
            supported = self.supported_stats()
        try:
            request = parse_request(stats, supported)
        except ValueError:
            self._raise_if_some_layers_lack(stats, per_layer)
            self._raise_if_no_layer_has_an_mlp(stats)
            raise
        if "mlp" in request:
            self.check_mlp_threshold(mlp_threshold)
        return request

    def _raise_if_no_layer_has_an_mlp(self, stats: Sequence[str]) -> None:
        asked = [str(s) for s in ([stats] if isinstance(stats, str) else stats)]
        asked = [s for s in asked if s.startswith("mlp.")]
        no_mlp = self.layers_without_mlp()
        if asked and len(no_mlp) == len(self.blocks):
            raise ValueError(
                f"{asked} asked of a model whose layers {no_mlp} have no MLP (mlp='none'); "
                "ask for attention statistics only"
            )

    def _raise_if_some_layers_lack(self, stats: Sequence[str], per_layer) -> None:
        """A clearer error when a statistic exists in some layers only (a hybrid)."""
        variants = self.layer_variant_names()
        for full in [stats] if isinstance(stats, str) else stats:
            family, _, name = str(full).partition(".")
            have = [i for i, s in enumerate(per_layer) if name in s.get(family, set())]
            if have and len(have) < len(per_layer):
                lack = [f"{i} ({variants[i]})" for i in range(len(per_layer)) if i not in have]
                raise ValueError(
                    f"Statistic {full!r} exists only in layers {have}; layers {', '.join(lack)} "
                    "cannot give it. This needs it in every layer; run_with_stats returns it "
                    "for the layers that have it."
                )

    def check_mlp_threshold(self, threshold: float | None) -> None:
        """MLP statistics without a threshold need activations with exact zeros (checked on
        the layers that give MLP statistics)."""
        if threshold is not None:
            if not threshold >= 0 or threshold == float("inf"):
                raise ValueError(f"mlp_threshold must be a finite number >= 0, got {threshold}")
            return
        for layer, block in enumerate(self.blocks):
            if hasattr(block.mlp, "exact_zeros") and not block.mlp.exact_zeros:
                # the activation's name ("gelu", "polyrelu") where the module has one
                kind = getattr(block.mlp, "act_name", None) or type(block.mlp).__name__
                where = f"blocks.{layer}.mlp ({kind})"
                raise ValueError(no_exact_zeros_message(where))

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
