"""TransformerLens's weight views and token helpers on `Model` (mixed into it).

Stacked weights `W_Q [layer, head, d_model, d_head]`, `W_K`/`W_V [layer, kv_head, ...]`,
`W_O [layer, head, d_head, d_model]`, biases, `W_in`/`W_out`/`b_in`/`b_out`, `W_E`, `W_U`,
`b_U`, `W_pos`; `QK`/`OV` as `FactoredMatrix` (key/value heads repeated for grouped-query
attention); `to_single_token`, `to_string`, `get_token_position`,
`tokens_to_residual_directions`, `all_head_labels`. A view that a variant does not have (no
`W_Q` in a Mamba mixer, no `W_pos` with rotary positions) raises `ViewError` naming the layer.

Example:
    >>> model.W_Q.shape                       # [layer, head, d_model, d_head]
    >>> model.OV[1, 3].S                      # singular values of head L1H3's OV circuit
    >>> model.tokens_to_residual_directions(model.to_single_token("a"))   # [d_model]
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.core.factored import FactoredMatrix


class ViewError(ValueError):
    """A weight view this model's variant does not have (not an AttributeError on purpose:
    `nn.Module.__getattr__` would replace its message with a bare 'no attribute')."""


def _stacked(model: Any, sublayer: str, name: str) -> Tensor:
    tensors = []
    for layer, block in enumerate(model.blocks):
        module = getattr(block, sublayer)
        value = getattr(module, name, None)
        if not isinstance(value, Tensor):
            raise ViewError(
                f"model.{name}: blocks.{layer}.{sublayer} is a {type(module).__name__}, which "
                f"has no {name}; read per layer where it exists (model.blocks[l].{sublayer})"
            )
        tensors.append(value)
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ViewError(f"model.{name}: layers differ in shape {sorted(shapes)}; read per layer")
    return torch.stack(tensors)


def _layer_circuit(attn: Any, which: str) -> tuple[Tensor, Tensor] | None:
    """(A, B) with `A @ B` the layer's QK or OV matrix per head, or None if it has none."""

    def has(*names: str) -> bool:
        return all(isinstance(getattr(attn, n, None), Tensor) for n in names)

    def repeat(w: Tensor) -> Tensor:  # kv heads to one per query head
        return w.repeat_interleave(attn.n_heads // w.shape[0], dim=0)

    if which == "QK" and has("W_Q", "W_K"):
        return attn.W_Q, repeat(attn.W_K).transpose(-2, -1)
    if which == "OV" and has("W_V", "W_O"):
        return repeat(attn.W_V), attn.W_O
    square = {"QK": "W_QK", "OV": "W_OV"}[which]  # collapsed attention: already the product
    if has(square):
        full = attn.qk_matrix() if which == "QK" else attn.W_OV
        eye = torch.eye(full.shape[-1], dtype=full.dtype, device=full.device)
        return full, eye.expand_as(full)
    if has("W_U") and not has("W_Q"):  # MSSA: q = k = v = x U_h, out = z U_h^T
        return attn.W_U, attn.W_U.transpose(-2, -1)
    return None


def _circuit(model: Any, which: str) -> FactoredMatrix:
    factors = []
    for layer, block in enumerate(model.blocks):
        pair = _layer_circuit(block.attn, which)
        if pair is None:
            raise ViewError(
                f"model.{which}: blocks.{layer}.attn is a {type(block.attn).__name__}, which "
                f"has no {which} circuit (no query-key / value-output weights)"
            )
        factors.append(pair)
    inner = {a.shape[-1] for a, _ in factors}
    if len(inner) > 1:
        raise ViewError(
            f"model.{which}: layers factor it with different inner sizes {sorted(inner)} "
            "(e.g. collapsed attention among factored heads); read per layer"
        )
    return FactoredMatrix(
        torch.stack([a for a, _ in factors]), torch.stack([b for _, b in factors])
    )


class ModelViewsMixin:
    """Mixed into `Model`; every view reads the live parameters (parametrizations included)."""

    blocks: Any
    cfg: Any
    tokenizer: Any

    W_Q = property(lambda self: _stacked(self, "attn", "W_Q"), doc="[layer, head, d_model, d_head]")
    W_K = property(
        lambda self: _stacked(self, "attn", "W_K"), doc="[layer, kv_head, d_model, d_head]"
    )
    W_V = property(
        lambda self: _stacked(self, "attn", "W_V"), doc="[layer, kv_head, d_model, d_head]"
    )
    W_O = property(lambda self: _stacked(self, "attn", "W_O"), doc="[layer, head, d_head, d_model]")
    b_Q = property(lambda self: _stacked(self, "attn", "b_Q"), doc="[layer, head, d_head]")
    b_K = property(lambda self: _stacked(self, "attn", "b_K"), doc="[layer, kv_head, d_head]")
    b_V = property(lambda self: _stacked(self, "attn", "b_V"), doc="[layer, kv_head, d_head]")
    b_O = property(lambda self: _stacked(self, "attn", "b_O"), doc="[layer, d_model]")
    W_in = property(lambda self: _stacked(self, "mlp", "W_in"), doc="[layer, d_model, d_mlp]")
    W_gate = property(lambda self: _stacked(self, "mlp", "W_gate"), doc="[layer, d_model, d_mlp]")
    W_out = property(lambda self: _stacked(self, "mlp", "W_out"), doc="[layer, d_mlp, d_model]")
    b_in = property(lambda self: _stacked(self, "mlp", "b_in"), doc="[layer, d_mlp]")
    b_out = property(lambda self: _stacked(self, "mlp", "b_out"), doc="[layer, d_model]")

    @property
    def W_E(self) -> Float[Tensor, "d_vocab d_model"]:
        return self.embed.W_E

    @property
    def W_U(self) -> Float[Tensor, "d_model d_vocab"]:
        unembed = self._need_unembed("W_U")
        return unembed.tied_to.W_E.T if unembed.tied_to is not None else unembed.W_U

    @property
    def b_U(self) -> Float[Tensor, "d_vocab"]:
        return self._need_unembed("b_U").b_U

    @property
    def W_pos(self) -> Float[Tensor, "n_ctx d_model"]:
        w_pos = getattr(self.pos_embed, "W_pos", None)
        if not isinstance(w_pos, Tensor):
            position = self.cfg.position  # a per-layer schedule holds relative schemes only
            names = position.names() if hasattr(position, "specs") else position.name
            raise ViewError(
                f"model.W_pos: position {names!r} has no learned position "
                "embedding matrix (W_pos exists for position='learned')"
            )
        return w_pos

    @property
    def QK(self) -> FactoredMatrix:
        """`W_Q[l, h] @ W_K[l, h]^T` `[layer, head, d_model, d_model]`, factored. Collapsed
        attention's W_QK (as its scores use it) and MSSA's `U_h U_h^T` are the same bilinear
        form; layers without one (Mamba, ...) raise, naming the layer."""
        return _circuit(self, "QK")

    @property
    def OV(self) -> FactoredMatrix:
        """`W_V[l, h] @ W_O[l, h]` `[layer, head, d_model, d_model]`, factored (collapsed
        attention with `ov`: its W_OV; MSSA: `U_h U_h^T`)."""
        return _circuit(self, "OV")

    @property
    def all_head_labels(self) -> list[str]:
        heads = range(self.cfg.n_heads)
        return [f"L{layer}H{h}" for layer in range(self.cfg.n_layers) for h in heads]

    def _need_unembed(self, what: str) -> Any:
        if self.unembed is None:
            raise ViewError(f"model.{what}: this model has no unembedding (has_unembed=False)")
        return self.unembed

    # -- tokens --------------------------------------------------------------------------------
    def to_single_token(self, string: str) -> int:
        """The id of `string`, which must be exactly one token."""
        tokens = self.to_tokens(string, prepend_bos=False).flatten()
        if tokens.numel() != 1:
            raise ValueError(f"{string!r} is {tokens.numel()} tokens, not one: {tokens.tolist()}")
        return int(tokens[0])

    def to_string(self, tokens: Int[Tensor, "... pos"] | list[int]) -> str | list[str]:
        """Decode token ids: one string for `[pos]`, a list for `[batch, pos]`."""
        tokens = torch.as_tensor(tokens)
        if tokens.dim() == 2:
            return [self._need_tokenizer().decode(row) for row in tokens]
        if tokens.dim() > 2:
            raise ValueError(f"to_string takes [pos] or [batch, pos], got {list(tokens.shape)}")
        return self._need_tokenizer().decode(tokens.reshape(-1))

    def get_token_position(
        self,
        single_token: str | int,
        input: str | Int[Tensor, "... pos"],
        mode: str = "first",
        prepend_bos: bool = True,
    ) -> int:
        """Position of `single_token` in `input` (text, `[pos]` or `[1, pos]`); `mode` is
        'first' or 'last'. A token that is not there is an error."""
        if mode not in ("first", "last"):
            raise ValueError(f"get_token_position: mode must be 'first' or 'last', got {mode!r}")
        tokens = self.to_tokens(input, prepend_bos) if isinstance(input, str) else input
        tokens = torch.as_tensor(tokens)
        if tokens.dim() == 2 and tokens.shape[0] == 1:
            tokens = tokens[0]
        if tokens.dim() != 1:
            raise ValueError(f"get_token_position takes one sequence, got {list(tokens.shape)}")
        token = (
            self.to_single_token(single_token) if isinstance(single_token, str) else single_token
        )
        hits = (tokens == token).nonzero().flatten()
        if hits.numel() == 0:
            raise ValueError(f"token {token} ({single_token!r}) is not in the input")
        return int(hits[0] if mode == "first" else hits[-1])

    def tokens_to_residual_directions(
        self, tokens: str | int | Int[Tensor, "..."]
    ) -> Float[Tensor, "... d_model"]:
        """The unembedding columns `W_U[:, token]` of `tokens` (shape of `tokens` + d_model).
        The final norm's weight is not folded in (as in TransformerLens); `cache.logit_attrs`
        folds it."""
        if isinstance(tokens, str):
            tokens = self.to_single_token(tokens)
        index = torch.as_tensor(tokens, device=self.W_U.device).long()
        if index.numel() and not (int(index.min()) >= 0 and int(index.max()) < self.cfg.d_vocab):
            raise ValueError(f"token ids must be in [0, {self.cfg.d_vocab}), got {tokens}")
        return self.W_U[:, index].movedim(0, -1)

    def accumulated_bias(
        self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
    ) -> Float[Tensor, "d_model"]:
        """What the output biases of layers before `layer` add to the stream into it."""
        from workbench.core.cache_units import accumulated_bias

        return accumulated_bias(self, layer, mlp_input, include_mlp_biases)
