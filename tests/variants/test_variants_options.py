"""Variant options reach the module they configure, and variant errors name the variant
(issue #20: mutants that dropped `gamma` from the clipped kernel, `requires_grad` from a
frozen MLP bias, or the mixer's name from its refusal survived the suite)."""

import pytest
import torch

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=50, n_ctx=32, seed=3)
TOKENS = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(2))


def test_clipped_attention_uses_its_gamma_and_zeta() -> None:
    gamma, zeta = -0.25, 1.2  # not the defaults (-0.03, 1.0)
    model = Model(CFG.replace(attention={"name": "clipped", "gamma": gamma, "zeta": zeta}))
    logits, cache = model.eval().run_with_cache(TOKENS)
    scores = cache["attn_scores", 0].double()
    visible = torch.ones(7, 7, dtype=torch.bool).tril()
    p = scores.masked_fill(~visible, float("-inf")).softmax(-1)
    expected = ((zeta - gamma) * p + gamma).clamp(0, 1).masked_fill(~visible, 0)
    torch.testing.assert_close(cache["pattern", 0].double(), expected, atol=1e-6, rtol=1e-6)
    assert bool((expected == 0).any() & (expected == 1).any())  # both clips are reached
    with torch.no_grad():  # the kernel path, no hooks: the same weighting
        torch.testing.assert_close(model(TOKENS), logits, atol=1e-5, rtol=1e-5)


def test_mlp_biases_stay_zero_and_frozen_without_mlp_bias() -> None:
    model = Model(CFG.replace(mlp_bias=False))
    mlp = model.blocks[0].mlp
    assert not mlp.b_in.requires_grad and not mlp.b_out.requires_grad
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(TOKENS, return_type="loss").backward()
    optimizer.step()
    assert not mlp.b_out.any() and not mlp.b_in.any()


@pytest.mark.parametrize("name", ["polyrelu", "polynorm"])
def test_an_mlp_without_a_threshold_is_named_in_the_refusal(name: str) -> None:
    model = Model(CFG.replace(mlp=name))
    with pytest.raises(ValueError, match=rf"^blocks\.0\.mlp \({name}\) has no exact zeros"):
        model.run_with_stats(TOKENS, ["mlp.nonzero_frac"])


@pytest.mark.parametrize("mixer", ["mamba", "glu_mixer"])
def test_mixers_without_scores_refuse_rotary_by_name(mixer: str) -> None:
    with pytest.raises(ValueError) as err:
        Model(CFG.replace(attention=mixer, position="rotary"))
    assert str(err.value) == (
        f"the {mixer} mixer has no queries, keys or scores, so position='rotary' would be "
        "silently ignored; use 'learned', 'sinusoidal' or 'none'"
    )


@pytest.mark.parametrize(
    "attention, causal, message",
    [
        ("mamba", False, "The selective SSM mixer is causal; set causal=True"),
        (
            {"name": "mamba", "bidirectional": True},
            True,
            "The bidirectional selective SSM mixer needs causal=False",
        ),
    ],
)
def test_the_selective_ssm_states_its_causality_in_full(attention, causal, message) -> None:
    model = Model(CFG.replace(attention=attention, causal=causal))
    with pytest.raises(ValueError) as err:
        model(TOKENS)
    assert str(err.value) == message
