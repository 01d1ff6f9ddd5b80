"""Padding property: through `model(tokens, attention_mask=mask)`, the real tokens of a padded
batch get the logits each text gets when run alone, for every registered attention-family
variant, left and right padding, random lengths. A variant may instead refuse a mask with an
error that names it; none does today, and `REFUSES_MASK` lists the ones the test expects to.

Left-padded rows count additive positions from their first real token;
`test_left_padding_with_absolute_positions` checks it for learned positions.
"""

from __future__ import annotations

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.registry import ATTENTION

BASE = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=64, seed=0)
ALL_ATTENTION = tuple(ATTENTION.names())
REFUSES_MASK: frozenset[str] = frozenset()  # variants expected to raise on a padding mask
# Linear attention applies 1 + elu after the rotation, which breaks RoPE's shift invariance;
# the mixers without scores refuse ALiBi (and Mamba / GLU refuse rotations too).
# GLA decays each key channel by its own factor, so the two channels of a rotated pair are
# weighted differently and RoPE's shift invariance breaks too. Collapsed attention, Mamba-2
# and the pool mixer have no separate queries and keys: they refuse rotations.
ROTATION_INVARIANT = frozenset(ALL_ATTENTION) - {
    "linear", "mamba", "glu_mixer", "gla", "collapsed", "mamba2", "pool"
}  # fmt: skip
NO_SCORES = {"linear", "deltanet", "retention", "gla"}


def padded_batch(
    texts: list[torch.Tensor], side: str
) -> tuple[torch.Tensor, torch.Tensor, list[slice]]:
    """Token ids padded on `side` with a nonzero pad id (so a leak cannot hide as id 0)."""
    width = max(len(t) for t in texts)
    tokens = torch.full((len(texts), width), 5, dtype=torch.long)
    mask = torch.zeros_like(tokens)
    spans = []
    for row, text in enumerate(texts):
        start = width - len(text) if side == "left" else 0
        span = slice(start, start + len(text))
        tokens[row, span], mask[row, span] = text, 1
        spans.append(span)
    return tokens, mask, spans


def random_texts(seed: int, vocab: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 14, (3,), generator=gen).tolist() + [14]  # one row unpadded
    return [torch.randint(0, vocab, (n,), generator=gen) for n in lengths]


def assert_padding_invariant(cfg: ModelConfig, side: str, seed: int) -> None:
    model = Model(cfg).eval()
    texts = random_texts(seed, cfg.d_vocab)
    tokens, mask, spans = padded_batch(texts, side)
    with torch.no_grad():
        batched = model(tokens, attention_mask=mask)
        for row, (text, span) in enumerate(zip(texts, spans, strict=True)):
            alone = model(text[None])[0]
            torch.testing.assert_close(
                batched[row, span], alone, atol=1e-5, rtol=1e-5, msg=f"row {row}, {side}"
            )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("attention", ALL_ATTENTION)
def test_padded_batch_equals_each_text_alone(attention: str, side: str, seed: int) -> None:
    cfg = BASE.replace(attention=attention, position="none" if side == "left" else "learned")
    if attention in REFUSES_MASK:
        with pytest.raises((ValueError, NotImplementedError), match=attention):
            assert_padding_invariant(cfg, side, seed)
        return
    assert_padding_invariant(cfg, side, seed)


RELATIVE = [
    (attention, position)
    for attention in sorted(ROTATION_INVARIANT)
    for position in ("rotary", "comrope", "alibi")
    if not (attention in NO_SCORES and position == "alibi")  # refused, tested below
]


@pytest.mark.parametrize(("attention", "position"), RELATIVE)
def test_left_padding_with_relative_positions(attention: str, position: str) -> None:
    assert_padding_invariant(BASE.replace(attention=attention, position=position), "left", 2)


@pytest.mark.parametrize(
    "changes",
    [
        {"norm": "rmsnorm", "norm_placement": "post", "mlp": "swiglu"},
        {"norm": "crmsnorm", "norm_placement": "peri", "mlp": "moe"},
        {"mlp": "topk_relu", "n_kv_heads": 2, "position": "rotary"},
        {"reparam": "looped", "mlp": "gelu", "position": "alibi"},
        {"attention": "deltanet", "position": "rotary", "n_kv_heads": 2},
        {"reparam": "sigma_reparam", "attention": "deltanet", "norm": "rmsnorm"},
        {"attention": "mamba", "mlp": "moe", "norm_placement": "post"},
    ],
    ids=lambda c: "-".join(str(v) for v in c.values()),
)
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_with_norm_mlp_position_combinations(changes: dict, side: str) -> None:
    cfg = BASE.replace(**{"position": "none", **changes})
    assert_padding_invariant(cfg, side, 3)


@pytest.mark.parametrize(
    "attention",
    ["softmax", "sigmoid", "clipped", "gated", "power_softmax", "pool",
     {"name": "mamba", "bidirectional": True}],
    ids=str,
)  # fmt: skip
@pytest.mark.parametrize("side", ["left", "right"])
def test_bidirectional_padding_masks_keys(attention: str, side: str) -> None:
    """Non-causal variants see every real key, no pad key."""
    cfg = BASE.replace(attention=attention, causal=False, position="none")
    assert_padding_invariant(cfg, side, 4)


@pytest.mark.parametrize("attention", ["softmax", "linear", "mamba"])
def test_left_padding_with_absolute_positions(attention: str) -> None:
    assert_padding_invariant(BASE.replace(attention=attention, position="learned"), "left", 5)


@pytest.mark.parametrize(
    "attention", ["linear", "deltanet", "mamba", "retention", "gla", "mamba2", "pool"]
)
def test_recurrent_mixers_ignore_padding_inside_the_sequence(attention: str) -> None:
    """A masked position writes nothing into the state: the tokens after it equal a run where
    the position holds any other token (the masked token's id cannot matter)."""
    model = Model(BASE.replace(attention=attention, position="none")).eval()
    tokens = torch.randint(0, 16, (1, 10), generator=torch.Generator().manual_seed(6))
    mask = torch.ones_like(tokens)
    mask[0, 4] = 0
    other = tokens.clone()
    other[0, 4] = (tokens[0, 4] + 7) % 16
    with torch.no_grad():
        a, b = model(tokens, attention_mask=mask), model(other, attention_mask=mask)
    torch.testing.assert_close(a[0, 5:], b[0, 5:], atol=1e-6, rtol=1e-6)
    assert (model(tokens)[0, 5:] - a[0, 5:]).abs().max() > 1e-4  # the mask did something


@pytest.mark.parametrize(
    "attention",
    [
        {"name": "linear", "mode": "recurrent"},
        {"name": "linear", "mode": "parallel"},
        {"name": "deltanet", "mode": "recurrent"},
        {"name": "deltanet", "chunk": 4},  # shorter than every padded row: pads span chunks
    ],
    ids=lambda a: "-".join(str(v) for v in a.values()),
)
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_in_every_mode_of_the_recurrent_mixers(attention: dict, side: str) -> None:
    assert_padding_invariant(BASE.replace(attention=attention, position="none"), side, 7)


@pytest.mark.parametrize("attention", ["linear", "deltanet", "mamba"])
def test_hooked_path_sees_the_same_padding(attention: str) -> None:
    """`run_with_cache` (every hook active) gives the fast path's logits under padding."""
    model = Model(BASE.replace(attention=attention, position="none")).eval()
    tokens, mask, _ = padded_batch(random_texts(8, 16), "left")
    logits, cache = model.run_with_cache(tokens, attention_mask=mask)
    torch.testing.assert_close(logits, model(tokens, attention_mask=mask), atol=1e-6, rtol=1e-5)
    assert len(cache.keys()) > 10


@pytest.mark.parametrize(
    ("attention", "position"),
    [
        ("linear", "alibi"),
        ("deltanet", "alibi"),
        ("mamba", "alibi"),
        ("mamba", "rotary"),
        ("mamba", "comrope"),
        ("glu_mixer", "rotary"),
        ("retention", "alibi"),
        ("gla", "alibi"),
        ("mamba2", "rotary"),
        ("pool", "alibi"),
        ("collapsed", "rotary"),
    ],  # fmt: skip
)
def test_mixers_without_scores_refuse_score_positions(attention: str, position: str) -> None:
    """Positions applied to queries/keys/scores would be silently ignored by these mixers."""
    with pytest.raises(ValueError, match="silently ignored"):
        Model(BASE.replace(attention=attention, position=position))
