"""The model against an outside reference: `tests/reference_model.py`, a float64 forward pass
written from the formulas that shares no code with the model. Both the fast path users call
(`model(x)`: SDPA, fused norms, no hooks) and the hooked path (eager scores and pattern,
explicit norm scale) are compared, for non-default configs where a default would hide a bug
(eps 1e-3, grouped-query heads, partial rotary, ALiBi, post-LN, tied embeddings, no biases),
and over a small grid of attention x position x norm placement combinations."""

from __future__ import annotations

import itertools

import pytest
import torch
from reference_model import covers, randomize_parameters, reference_forward

from workbench import Model, ModelConfig

BASE = ModelConfig(d_model=24, n_layers=2, n_heads=4, d_vocab=19, n_ctx=32, d_mlp=40, seed=1)
CONFIGS = {
    "eps 1e-3 layernorm": dict(eps=1e-3),
    "eps 1e-3 rmsnorm": dict(eps=1e-3, norm="rmsnorm"),
    "gqa 4:2": dict(n_kv_heads=2, position="rotary"),
    "gqa 4:1 alibi": dict(n_kv_heads=1, position="alibi"),
    "partial rotary 2 of 6": dict(position={"name": "rotary", "rotary_dim": 2}),
    "rotary base 100": dict(position={"name": "rotary", "base": 100.0}),
    "alibi": dict(position="alibi"),
    "post-ln": dict(norm_placement="post", eps=1e-3),
    "peri-ln crmsnorm": dict(norm_placement="peri", norm="crmsnorm"),
    "no norm": dict(norm_placement="none"),
    "tied embeddings": dict(tied_embeddings=True),
    "no biases": dict(attn_bias=False, mlp_bias=False),
    "embed norm learned": dict(embed_norm=True, eps=1e-3),
    "d_head != d_model / n_heads": dict(d_head=10, position="rotary"),
    "swiglu": dict(mlp="swiglu"),
    "gelu tanh": dict(mlp={"name": "gelu", "approximate": "tanh"}),
    "relu2": dict(mlp="relu2", eps=1e-3),
    "bidirectional": dict(causal=False),
}
# Tolerance 1e-8: the rotary frequencies are stored in float32 even in a float64 model
# (about 3e-10 on these logits); a wrong eps or term moves them by > 1e-6.
HOOKED = ("hook_pattern", "hook_scale")  # eager attention and the explicit norm formula


def build(changes: dict, seed: int = 0) -> Model:
    model = Model(BASE.replace(**changes)).double().eval()
    randomize_parameters(model, seed)
    return model


def tokens_for(seed: int, batch: int = 2, n: int = 11) -> torch.Tensor:
    return torch.randint(0, BASE.d_vocab, (batch, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "changes",
    [
        *CONFIGS.values(),
        dict(position="sinusoidal"),
    ],
    ids=[*CONFIGS, "sinusoidal"],
)
def test_fast_and_hooked_paths_equal_the_reference(changes: dict) -> None:
    model = build(changes)
    tokens = tokens_for(0)
    expected = reference_forward(model, tokens)
    assert expected.abs().max() > 0.1  # logits large enough that a wrong term shows
    with torch.no_grad():
        fast = model(tokens)
        hooked, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith(HOOKED))
    assert any(n.endswith("hook_pattern") for n in cache)
    torch.testing.assert_close(fast, expected, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(hooked, expected, atol=1e-8, rtol=1e-8)


def test_reference_sees_a_wrong_eps() -> None:
    """The comparison can fail: the same weights with eps 1e-5 differ beyond the tolerance."""
    model = build(dict(eps=1e-3))
    other = build(dict(eps=1e-5))
    tokens = tokens_for(0)
    assert (reference_forward(model, tokens) - other(tokens)).abs().max() > 1e-6


def test_padding_mask_equals_the_reference() -> None:
    model = build(dict(position="rotary"))
    tokens = tokens_for(2, batch=3)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[0, :3], mask[1, 8:] = False, False
    expected = reference_forward(model, tokens, mask)
    with torch.no_grad():
        fast = model(tokens, attention_mask=mask)
    real = mask  # padded positions' outputs carry no meaning
    torch.testing.assert_close(fast[real], expected[real], atol=1e-8, rtol=1e-8)


GRID = list(
    itertools.product(
        ["softmax", "sigmoid", "gated", "clipped", "power_softmax"],
        ["learned", "rotary", "alibi", "none"],
        ["pre", "post", "peri"],
    )
)


@pytest.mark.parametrize(("attention", "position", "placement"), GRID, ids="-".join)
def test_combination_grid(attention: str, position: str, placement: str) -> None:
    """Every pair of attention kind, position and norm placement builds and runs; where the
    reference covers the combination the logits equal it, otherwise the fast path equals the
    hooked (eager) path and the batch equals each row alone."""
    model = build(dict(attention=attention, position=position, norm_placement=placement), 3)
    tokens = tokens_for(3, batch=2, n=9)
    with torch.no_grad():
        fast = model(tokens)
        hooked, _ = model.run_with_cache(tokens, names_filter=lambda n: n.endswith(HOOKED))
        alone = torch.cat([model(tokens[i : i + 1]) for i in range(2)])
    assert torch.isfinite(fast).all()
    if covers(model.cfg):
        torch.testing.assert_close(fast, reference_forward(model, tokens), atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(fast, hooked, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(fast, alone, atol=1e-9, rtol=1e-9)


def test_sinusoidal_positions_in_float32_equal_the_reference() -> None:
    """Sinusoidal positions at float32 precision."""
    model = Model(BASE.replace(position="sinusoidal", eps=1e-3)).eval()
    randomize_parameters(model, 4)
    tokens = tokens_for(4)
    with torch.no_grad():
        fast = model(tokens).double()
    torch.testing.assert_close(fast, reference_forward(model, tokens), atol=2e-5, rtol=1e-5)
