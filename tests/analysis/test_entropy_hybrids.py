"""The entropy analyses on hybrids and attention-free mixers: refusals name the layers, their
mixer and the statistics they do offer (and those statistics really exist)."""

import re

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis.entropy import compute
from workbench.analysis.entropy_bound import bound_applies

TOKENS = torch.arange(8)[None] % 50


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=1, n_heads=2, d_vocab=50, n_ctx=16, seed=0)
    return Model(ModelConfig(**{**fields, **overrides})).eval()


def refusal(model: Model) -> str:
    with pytest.raises(ValueError) as info:
        compute(model, TOKENS, progress=False)
    return str(info.value)


def test_a_hybrid_refusal_names_layers_mixers_and_offered_statistics():
    model = tiny(n_layers=4, attention=["mamba", "softmax", "pool", "mamba"])
    message = refusal(model)
    assert (
        "blocks.0, blocks.3 (mamba): no attention weights, but the mixing-matrix statistics"
        in message
    )
    assert "blocks.2 (pool): no attention statistics at all" in message
    assert "Layers with attention entropy: blocks.1." in message
    assert "Schedule" not in message and "VariantSpec" not in message  # no object reprs


def test_the_offered_mixing_statistics_exist():
    model = tiny(attention="mamba")
    offered = re.findall(r"attn\.mix_\w+", refusal(model))
    assert offered == ["attn.mix_entropy", "attn.mix_max_weight", "attn.mix_sink"]
    stats = model.run_with_stats(TOKENS, offered)
    assert torch.isfinite(stats["attn.mix_entropy"]).all()


def test_weights_without_kernel_statistics_point_to_the_cached_pattern():
    model = tiny(attention="topk_softmax")
    assert "(topk_softmax): no statistics from run_with_stats" in refusal(model)
    _, cache = model.run_with_cache(TOKENS)
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, 2, 8, 8)


def test_the_bound_names_the_layer_a_hybrid_fails_on():
    applies, reason = bound_applies(tiny(n_layers=2, attention=["softmax", "sigmoid"]))
    assert not applies and reason.endswith(
        "attention kind 'sigmoid' (blocks.1) has no softmax weights"
    )
    assert bound_applies(tiny(n_layers=2, attention=["softmax", "gated"])) == (True, "applies")
