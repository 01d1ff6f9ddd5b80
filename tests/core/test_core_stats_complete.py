"""Statistics are never dropped, shifted or invented: for every registered variant with
statistics, with no hook, a hook on layer 0's pattern or on the last layer's scores, the
returned names and layers are the requested ones and the values equal those derived here,
in float64, from the materialized scores and patterns (written from the papers' formulas,
independently of the kernels' reference functions)."""

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.registry import ATTENTION, MLP
from workbench.variants.mixing_stats import MIX_STATS

BASE = ModelConfig(d_model=32, n_layers=3, n_heads=4, d_vocab=40, n_ctx=64, seed=3)
THRESHOLD = 0.05


def entropy(p):
    return -torch.where(p > 0, p * p.clamp_min(1e-300).log(), 0.0).sum(-1)


def expected_attention(scores, pattern, gate):
    """Every attention statistic a kind reports, from its scores and weights (float64)."""
    s, w = scores.double(), pattern.double()
    visible = torch.isfinite(s)
    soft = torch.nan_to_num(s.softmax(-1), nan=0.0)
    mass = w.sum(-1)
    count = visible.sum(-1).double()
    every = {
        "lse": s.logsumexp(-1),
        "max_weight": w.amax(-1),
        "sink": w[..., 0],
        "n_eff": 1 / w.square().sum(-1),
        "row_mass": mass,
        "active_count": (w > 0.5).sum(-1).double(),
        "zero_frac": ((w == 0) & visible).sum(-1) / count,
    }
    every["entropy"] = entropy(w / mass[..., None])  # normalised weights (sigmoid's rows)
    if gate is not None:
        every["gate"] = gate.double().transpose(1, 2)
        every["gate_closed"] = (gate.double() < 0.01).double().transpose(1, 2)
    return every, entropy(soft)


def cases():
    out = []
    for name in ATTENTION.names():
        model = Model(BASE.replace(attention=name))
        # mixers without a pattern offer only `mix_*` (from M): see test_variants_decay.py
        if model.supported_stats()["attn"] - set(MIX_STATS):
            out.append(("attention", name))
    return out + [("mlp", name) for name in MLP.names()]


HOOKS = {
    "no-hook": [],
    "pattern-layer0": [("blocks.0.attn.hook_pattern", lambda t, hook: None)],
    "scores-last": [("blocks.2.attn.hook_attn_scores", lambda t, hook: None)],
}


@pytest.mark.parametrize("hook", list(HOOKS))
@pytest.mark.parametrize("field,name", cases(), ids=[f"{f}-{n}" for f, n in cases()])
def test_every_statistic_for_every_layer_equals_pattern_derived(field, name, hook) -> None:
    model = Model(BASE.replace(**{field: name})).eval()
    supported = model.supported_stats()
    names = [f"attn.{s}" for s in sorted(supported["attn"])]
    names += [f"mlp.{s}" for s in sorted(supported["mlp"])]
    tokens = torch.randint(0, 40, (2, 23), generator=torch.Generator().manual_seed(5))
    with model.hooks(fwd_hooks=HOOKS[hook]):
        stats = model.run_with_stats(tokens, names, mlp_threshold=THRESHOLD)
    assert stats.names == names or set(stats.names) == set(names)
    assert {layer for _, layer in stats.values} == {0, 1, 2}
    assert len(stats.values) == len(names) * 3

    _, cache = model.run_with_cache(tokens)
    for layer in range(3):
        gate = cache[f"blocks.{layer}.attn.hook_gate"] if "attn.gate" in names else None
        every, soft_entropy = expected_attention(
            cache["attn_scores", layer], cache["pattern", layer], gate
        )
        if name == "clipped":  # entropy of the unclipped softmax (Bondarenko et al.)
            every["entropy"] = soft_entropy
        for full in (n for n in names if n.startswith("attn.")):
            got = stats[full, layer].double()
            torch.testing.assert_close(got, every[full[5:]], atol=1e-5, rtol=1e-5, msg=full)
        if "mlp.nonzero_frac" in names and name != "moe":  # moe: per expert, tested there
            fired = cache["post", layer].double().abs() > THRESHOLD
            torch.testing.assert_close(stats["mlp.nonzero_frac", layer].double(),
                                       fired.double().mean(-1))  # fmt: skip
            assert torch.equal(stats["mlp.fire_count", layer], fired.sum((0, 1)))


def test_missing_layer_is_an_error_not_a_shift() -> None:
    from workbench.core.stats import Stats

    values = {("attn.entropy", 0): torch.ones(1, 2, 3), ("attn.entropy", 2): torch.ones(1, 2, 3)}
    with pytest.raises(RuntimeError, match=r"'attn.entropy' missing for layers \[1\]"):
        Stats(values, n_layers=3, requested=("attn.entropy",))
    with pytest.raises(RuntimeError, match="unrequested"):
        Stats({**values, ("attn.entropy", 1): torch.ones(1)}, 3, requested=("attn.sink",))


def test_gate_hook_fires_on_the_statistics_path() -> None:
    model = Model(BASE.replace(attention="gated")).eval()
    tokens = torch.randint(0, 40, (1, 12))
    seen = []
    hook = ("blocks.1.attn.hook_gate", lambda t, hook: seen.append(hook.name))
    with model.hooks(fwd_hooks=[hook]):
        model.run_with_stats(tokens, ["attn.entropy"])
        model(tokens)
    assert seen == ["blocks.1.attn.hook_gate"] * 2


def test_zeroed_gate_shows_in_statistics_and_output() -> None:
    model = Model(BASE.replace(attention="gated")).eval()
    tokens = torch.randint(0, 40, (1, 12))
    hook = ("blocks.0.attn.hook_gate", lambda t, hook: torch.zeros_like(t))
    with model.hooks(fwd_hooks=[hook]):
        stats = model.run_with_stats(tokens, ["attn.gate", "attn.gate_closed"])
        logits = model(tokens)
    assert torch.all(stats["attn.gate", 0] == 0) and torch.all(stats["attn.gate_closed", 0] == 1)
    torch.testing.assert_close(stats.output, logits)


@pytest.mark.parametrize("mlp", ["gelu", "swiglu", "geglu", "polynorm"])
def test_activation_without_exact_zeros_needs_a_threshold(mlp) -> None:
    model = Model(BASE.replace(mlp=mlp)).eval()
    tokens = torch.randint(0, 40, (1, 9))
    with pytest.raises(ValueError, match=r"blocks.0.mlp .* no exact zeros.*mlp_threshold"):
        model.run_with_stats(tokens, ["mlp.nonzero_frac"])
    stats = model.run_with_stats(tokens, ["mlp.nonzero_frac"], mlp_threshold=0.1)
    assert stats.mlp_threshold == 0.1
    assert float(stats["mlp.nonzero_frac"].max()) < 1.0  # not the meaningless all-ones


@pytest.mark.parametrize("mlp", ["relu", "relu2", "reglu", "topk_relu"])
def test_exact_zero_activations_count_nonzero_without_threshold(mlp) -> None:
    model = Model(BASE.replace(mlp=mlp)).eval()
    tokens = torch.randint(0, 40, (2, 9))
    stats = model.run_with_stats(tokens, ["mlp.nonzero_frac", "mlp.fire_count"])
    _, cache = model.run_with_cache(tokens)
    for layer in range(3):
        nonzero = cache["post", layer] != 0
        torch.testing.assert_close(stats["mlp.nonzero_frac", layer], nonzero.float().mean(-1))
        assert torch.equal(stats["mlp.fire_count", layer], nonzero.sum((0, 1)))


def test_the_missing_threshold_refusal_says_how_to_pass_one() -> None:
    model = Model(BASE.replace(mlp="gelu")).eval()
    with pytest.raises(ValueError) as err:
        model.run_with_stats(torch.randint(0, 40, (1, 5)), ["mlp.nonzero_frac"])
    assert str(err.value) == (
        "blocks.0.mlp (gelu) has no exact zeros (e.g. GELU, SiLU, GLU gates): a nonzero "
        "fraction at threshold 0 would count almost every neuron. Pass mlp_threshold=... "
        "(e.g. 0.01); it is recorded with the statistics."
    )


def test_layer_means_of_a_single_token_are_its_values() -> None:
    """One real token per layer: the count is 1, so the mean is the value (not halved)."""
    model = Model(BASE).eval()
    with torch.no_grad():
        stats = model.run_with_stats(torch.randint(0, 40, (1, 1)), ["mlp.nonzero_frac"])
    values = stats["mlp.nonzero_frac"].flatten(1)
    assert values.shape[1] == 1 and bool((values > 0).all())
    torch.testing.assert_close(stats.layer_means("mlp.nonzero_frac"), values[:, 0].float())
