"""Variant options reach the module they configure, and variant errors name the variant
(issue #20: mutants that dropped `gamma` from the clipped kernel, `requires_grad` from a
frozen MLP bias, or the mixer's name from its refusal survived the suite)."""

import math

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


@pytest.mark.parametrize("mixer", ["mamba", "mamba2", "glu_mixer"])
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


def test_run9_variant_refusals_in_full() -> None:
    """Whole messages (mutation run 9): MSSA with grouped K/V heads, an unknown MoE
    activation, and a matrix-state mixer built directly with an unknown mode (the config
    refuses it first; the module guards direct construction)."""
    from workbench.variants.recurrent_mixers import NormLinearAttention

    base = dict(d_model=32, n_layers=1, n_heads=4, d_vocab=50, n_ctx=16)
    with pytest.raises(ValueError, match=r"^mssa ties q, k and v, so it has no grouped K/V heads$"):
        Model(ModelConfig(**base, attention="mssa", n_kv_heads=2))
    with pytest.raises(ValueError) as caught:
        Model(ModelConfig(**base, mlp={"name": "moe", "n_experts": 2, "k": 1, "activation": "x"}))
    assert str(caught.value) == (
        "ModelConfig.mlp (moe): moe activation 'x' unknown; valid: ['gelu', 'relu', 'silu']"
    )
    with pytest.raises(ValueError) as caught:
        NormLinearAttention(ModelConfig(**base), 0, "fast")
    assert str(caught.value) == "mode must be 'parallel', 'chunked' or 'recurrent', got 'fast'"


def test_selective_ssm_starts_with_a_slow_decay_step() -> None:
    """The documented init: b_dt = -2, so the step delta starts near softplus(-2) ~ 0.127."""
    model = Model(ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=50, attention="mamba"))
    b_dt = model.blocks[0].attn.b_dt.detach().double()
    assert torch.equal(b_dt, torch.full_like(b_dt, -2.0))
    assert abs(float(torch.nn.functional.softplus(b_dt[0])) - math.log1p(math.exp(-2.0))) < 1e-12


def test_moe_fire_counts_of_a_padded_batch_count_real_tokens_only() -> None:
    """MoE `mlp.fire_count` with right padding equals the sum over each text run alone."""
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=50, n_ctx=16, seed=3,
                      mlp={"name": "moe", "n_experts": 2, "k": 1})  # fmt: skip
    model = Model(cfg).eval()
    texts = [torch.randint(0, 50, (n,), generator=torch.Generator().manual_seed(n)) for n in (7, 3)]
    tokens = torch.zeros(2, 7, dtype=torch.long)
    mask = torch.zeros(2, 7, dtype=torch.long)
    for row, text in enumerate(texts):
        tokens[row, : len(text)], mask[row, : len(text)] = text, 1
    with torch.no_grad():
        padded = model.run_with_stats(tokens, ["mlp.fire_count"], attention_mask=mask)
        alone = [model.run_with_stats(t[None], ["mlp.fire_count"]) for t in texts]
    total = sum(s["mlp.fire_count"] for s in alone)
    assert torch.equal(padded["mlp.fire_count"], total)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_moe_temperature_refusal_names_the_value(temperature: float) -> None:
    mlp = Model(CFG.replace(mlp={"name": "moe", "gate": "dense_to_sparse"})).blocks[0].mlp
    with pytest.raises(ValueError) as err:
        mlp.set_temperature(temperature)
    assert str(err.value) == f"temperature must be > 0, got {temperature}"


def test_norm_conversion_names_the_field_it_cannot_convert() -> None:
    from workbench.variants.norm_conversion import CONVERTIBLE, to_pre_rmsnorm

    with pytest.raises(ValueError) as err:
        to_pre_rmsnorm(Model(CFG.replace(attention="mamba")))
    assert str(err.value) == (
        f"Cannot convert attention='mamba'; convertible: {sorted(CONVERTIBLE['attention'])}"
    )
