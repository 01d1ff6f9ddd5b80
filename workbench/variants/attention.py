"""Attention variants. `QKVAttention` holds what they share; a variant changes how scores
become weights (and, optionally, which instrumented kernel computes it).

Three paths give the same output and the same statistics (tested): an eager path that
materializes scores and pattern (taken when a hook on them is active, or when the variant has
no kernel), PyTorch SDPA or the kernel without statistics (no hooks on them), and the
instrumented kernels (when `run_with_stats` asks for attention statistics). The eager path
computes statistics from the pattern it holds, with the kernel's own reference functions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from workbench.core.hooks import HookPoint
from workbench.core.registry import ATTENTION, VariantSpec
from workbench.core.validate import NonNegInt, PosInt
from workbench.kernels.attention import AttentionCall, AttentionKernel, SoftmaxKernel
from workbench.kernels.attention.local import LocalMask
from workbench.kernels.attention.scores import alibi, visible_mask


def visible_keys(
    ctx, n_q: int, n_k: int, device: torch.device, local: LocalMask | None = None
) -> Bool[Tensor, "b 1 q k"]:
    """Which keys each query may see: causal, padding and local-window masks. The window
    counts real tokens: left-padded rows use their own positions (`ctx.row_pos_ids`)."""
    row_pos = ctx.row_pos_ids
    mask = visible_mask(n_q, n_k, ctx.causal, device, local=None if row_pos is not None else local)
    if local is not None and row_pos is not None:
        pos = row_pos.to(device)
        mask = mask & local.allows(pos[:, n_k - n_q :, None], pos[:, None, :])[:, None]
    if ctx.key_padding_mask is not None:
        mask = mask & ctx.key_padding_mask.bool()[:, None, None, :]
    return mask


@dataclasses.dataclass(frozen=True)
class LocalWindow(VariantSpec):
    """Local-mask options of every attention kind with a pattern (softmax, sigmoid,
    clipped, gated, power_softmax): `window` (keys within distance < window * dilation),
    `shift` (blocked windows offset by shift; alternate 0 and window // 2 across layers with
    a schedule for Swin's shifted windows), `dilation`, `global_tokens` (the first positions
    see and are seen by all). See `workbench.kernels.attention.local.LocalMask`. Every path
    honours them: eager, SDPA, the chunked and the Triton kernels (which skip hidden tiles).

    Example:
        >>> ModelConfig(attention={"name": "softmax", "window": 128, "global_tokens": 1})
    """

    window: PosInt | None = dataclasses.field(default=None, kw_only=True)
    shift: NonNegInt | None = dataclasses.field(default=None, kw_only=True)
    dilation: PosInt = dataclasses.field(default=1, kw_only=True)
    global_tokens: NonNegInt = dataclasses.field(default=0, kw_only=True)

    def check(self) -> None:
        self.local_mask()  # LocalMask's own rules (shift needs a window, ...)

    def local_mask(self) -> LocalMask | None:
        """The mask the module applies; None when nothing is hidden."""
        mask = LocalMask(self.window, self.shift, self.dilation, self.global_tokens)
        return mask.to_call()

    def with_local(self, module: QKVAttention) -> QKVAttention:
        module.local = self.local_mask()
        return module

    def to_dict(self) -> dict:
        # Options at their defaults are left out, so configs (and their hashes) of models
        # without a window read as before the options existed.
        out = super().to_dict()
        for name, default in (("window", None), ("shift", None), ("dilation", 1),
                              ("global_tokens", 0)):  # fmt: skip
            if out[name] == default:
                del out[name]
        return out


def alibi_bias(slopes: Float[Tensor, "head"], n_q: int, n_k: int) -> Float[Tensor, "head q k"]:
    """ALiBi (Press et al. 2022): -m_h * |i - j|, queries the last n_q of n_k positions."""
    k_pos = torch.arange(n_k, device=slopes.device)
    return alibi(slopes, k_pos[n_k - n_q :], k_pos)


class QKVAttention(nn.Module):
    """Multi-head (optionally grouped-query) attention with TransformerLens weights and hooks.

    Weights: `W_Q [head, d_model, d_head]`, `W_K`/`W_V [kv_head, d_model, d_head]`,
    `W_O [head, d_head, d_model]`. Hooks: `hook_q|k|v` `[batch, pos, head, d_head]`,
    `hook_rot_q|k`, `hook_attn_scores|pattern` `[batch, head, query, key]`, `hook_z`.
    `kernel` is the variant's instrumented kernel (None: eager only, no statistics).
    """

    kernel: AttentionKernel | None = None
    local: LocalMask | None = None  # a window (set by the spec's builder), or every key

    def __init__(self, cfg, layer: int) -> None:
        super().__init__()
        h, kv, d, e = cfg.n_heads, cfg.n_kv_heads, cfg.d_model, cfg.d_head
        self.n_heads, self.n_kv_heads, self.layer = h, kv, layer
        self.scale = 1 / math.sqrt(e)
        self.W_Q = nn.Parameter(torch.empty(h, d, e))
        self.W_K = nn.Parameter(torch.empty(kv, d, e))
        self.W_V = nn.Parameter(torch.empty(kv, d, e))
        self.W_O = nn.Parameter(torch.empty(h, e, d))
        for name, shape in (("b_Q", (h, e)), ("b_K", (kv, e)), ("b_V", (kv, e)), ("b_O", (d,))):
            setattr(self, name, nn.Parameter(torch.zeros(shape), requires_grad=cfg.attn_bias))
        for name in ("q", "k", "v", "rot_q", "rot_k", "attn_scores", "pattern", "z"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], ctx
    ) -> Float[Tensor, "batch pos d_model"]:
        # Computed as [batch, head, pos, d_head] (what the kernels want); the hooks see
        # TransformerLens's [batch, pos, head, d_head] as a view, so nothing is copied.
        q, k, v = (
            hook(self.project(x, w, b).transpose(1, 2)).transpose(1, 2)
            for hook, w, b in (
                (self.hook_q, self.W_Q, self.b_Q),
                (self.hook_k, self.W_K, self.b_K),
                (self.hook_v, self.W_V, self.b_V),
            )
        )
        if ctx.positions.rotates:
            q, k = (
                hook(ctx.positions.rotate(t.transpose(1, 2), ctx.pos_ids)).transpose(1, 2)
                for hook, t in ((self.hook_rot_q, q), (self.hook_rot_k, k))
            )
        if self.n_kv_heads != self.n_heads:
            group = self.n_heads // self.n_kv_heads
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        z = self.hook_z(self.mix(q, k, v, ctx, x).transpose(1, 2))
        return torch.einsum("bphe,hed->bpd", z, self.W_O) + self.b_O

    @staticmethod
    def project(x: Tensor, w: Tensor, b: Tensor) -> Float[Tensor, "batch head pos d_head"]:
        return torch.einsum("bpd,hde->bhpe", x, w) + b[:, None]

    def mix(
        self, q: Tensor, k: Tensor, v: Tensor, ctx, x: Tensor
    ) -> Float[Tensor, "batch head pos d_head"]:
        """Pick the path: eager if a hook needs scores/pattern (or there is no kernel),
        the instrumented kernel for statistics, else the fastest fused path."""
        wanted = ctx.stats.wants("attn") if ctx.stats is not None else ()
        pattern_stats = tuple(n for n in wanted if n in self.pattern_statistics())
        hooked = self.hook_attn_scores.has_hooks or self.hook_pattern.has_hooks
        if hooked or self.kernel is None:
            out, stats = self.eager(q, k, v, ctx, pattern_stats)
        elif pattern_stats and (ctx.key_padding_mask is None or ctx.key_lengths is not None):
            out, stats = self.run_kernel(q, k, v, ctx, pattern_stats)
        elif pattern_stats:  # padding that is not right padding: only the eager path is exact
            out, stats = self.eager(q, k, v, ctx, pattern_stats)
        else:
            out, stats = self.fused(q, k, v, ctx), {}
        out, extra = self.output_stats(x, out, wanted)
        if wanted:
            ctx.stats.record("attn", self.layer, {**stats, **extra})
        return out

    def visible(self, ctx, q: Tensor, k: Tensor) -> Bool[Tensor, "b 1 q k"]:
        return visible_keys(ctx, q.shape[2], k.shape[2], q.device, self.local)

    def scores(self, q: Tensor, k: Tensor, ctx, visible: Tensor) -> Float[Tensor, "b h q k"]:
        # Scale the small q rather than the [q, k] scores, and mask in place: at long
        # contexts each extra [q, k] temporary costs as much as the pattern itself.
        scores = torch.einsum("bhqe,bhke->bhqk", q * self.scale, k)
        slopes = ctx.positions.alibi_slopes()
        if slopes is not None:
            scores += alibi_bias(slopes.to(scores.dtype), q.shape[2], k.shape[2])
        return scores.masked_fill_(~visible, float("-inf"))

    def eager(
        self, q: Tensor, k: Tensor, v: Tensor, ctx, stats: tuple[str, ...] = ()
    ) -> tuple[Float[Tensor, "batch head q d_head"], dict[str, Tensor]]:
        """Materialized scores and pattern (hooks see both); statistics from that pattern."""
        visible = self.visible(ctx, q, k)
        scores = self.hook_attn_scores(self.scores(q, k, ctx, visible))
        # A query with no visible key (causal + left padding) attends to nothing, as in SDPA:
        # an all -inf row would give NaN, and 0 * NaN in `pattern @ v` would spread it.
        empty = ~torch.isfinite(scores).any(-1, keepdim=True)
        pattern = self.hook_pattern(self.weights(scores, visible).masked_fill(empty, 0.0))
        values = self.kernel.pattern_stats(scores, pattern, visible, stats) if stats else {}
        return pattern.to(v.dtype) @ v, values

    def fused(self, q: Tensor, k: Tensor, v: Tensor, ctx) -> Float[Tensor, "batch head q d_head"]:
        """The fastest path without hooks; variants without a fused path stay eager."""
        return self.eager(q, k, v, ctx)[0]

    def run_kernel(
        self, q: Tensor, k: Tensor, v: Tensor, ctx, stats: tuple[str, ...] = ()
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """This variant's instrumented kernel (Triton on GPU, chunked on CPU): no [q, k] tensor."""
        call = AttentionCall(
            ctx.causal, self.scale, ctx.positions.alibi_slopes(), ctx.key_lengths, stats,
            self.local,
        )  # fmt: skip
        return self.kernel.forward(q, k, v, call)

    def weights(self, scores: Tensor, visible: Tensor) -> Float[Tensor, "batch head q k"]:
        return self.kernel.weights(scores, visible)

    def output_stats(
        self, x: Tensor, z: Float[Tensor, "batch head pos d_head"], wanted: tuple[str, ...]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-head output transforms (gates) and their statistics; identity here."""
        return z, {}

    def pattern_statistics(self) -> tuple[str, ...]:
        return self.kernel.statistics if self.kernel is not None else ()

    def supported_stats(self) -> set[str]:
        return set(self.pattern_statistics())


class SoftmaxAttentionModule(QKVAttention):
    kernel = SoftmaxKernel()

    def fused(self, q: Tensor, k: Tensor, v: Tensor, ctx) -> Tensor:
        slopes = ctx.positions.alibi_slopes()
        plain = ctx.key_padding_mask is None and q.shape[2] == k.shape[2]
        if slopes is None and plain and self.local is None:
            # is_causal lets SDPA pick its flash kernel; an explicit mask would not.
            return F.scaled_dot_product_attention(q, k, v, is_causal=ctx.causal, scale=self.scale)
        right_padded = ctx.key_padding_mask is None or ctx.key_lengths is not None
        if self.local is not None and right_padded and not q.requires_grad:
            # A window: the kernel skips hidden tiles (time ~ T x window); SDPA would do T^2.
            return self.run_kernel(q, k, v, ctx)[0]
        mask = visible_keys(ctx, q.shape[2], k.shape[2], q.device, self.local)
        if slopes is not None:
            bias = alibi_bias(slopes.to(q.dtype), q.shape[2], k.shape[2])
            mask = bias.masked_fill(~mask, float("-inf"))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)


@ATTENTION.register
@dataclasses.dataclass(frozen=True)
class Softmax(LocalWindow):
    name: ClassVar[str] = "softmax"
    paper: ClassVar[str] = "Vaswani et al. 2017, Attention Is All You Need"

    def build(self, cfg, layer=None) -> nn.Module:
        return self.with_local(SoftmaxAttentionModule(cfg, layer or 0))
