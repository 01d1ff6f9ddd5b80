"""Registered views and figures of the entropy results, and the registered analysis."""

import numpy as np
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.entropy import compute
from workbench.analysis.entropy_bound import compute_bound
from workbench.analysis.entropy_length import entropy_vs_length
from workbench.analysis.entropy_training import EntropyTrainingResult
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import get_analysis


def test_heatmap_click_shows_that_heads_token_strip() -> None:
    model, _ = workbench.load_default()
    result = compute(model, "the old dog sat", progress=False)
    box = result.widget()
    np.testing.assert_allclose(box.heatmap.array, result.entropy.numpy(), atol=1e-6)
    box.heatmap.select(layer=2, head=1)
    np.testing.assert_allclose(box.strip.array, result.per_position[2, 1].numpy(), atol=1e-6)
    assert box.strip.tokens == result.str_tokens
    fig = result.figure()
    np.testing.assert_allclose(fig.data[0].z, result.entropy.double().numpy(), atol=1e-6)


def test_short_text_shows_the_clicked_heads_pattern() -> None:
    model, tokenizer = workbench.load_default()
    result = compute(model, "the old dog sat", progress=False)
    _, cache = model.run_with_cache(tokenizer.to_tokens("the old dog sat"))
    torch.testing.assert_close(result.patterns[1], cache["pattern", 1][0])
    box = result.widget()
    box.heatmap.select(layer=1, head=3)
    assert box.pattern.selected == {"layer": 1, "head": 3}  # linked to the heatmap
    assert box.pattern.title.endswith("Layer 1, head 3")
    from workbench.analysis.entropy import PATTERN_MAX_TOKENS, short_text_patterns

    longer = torch.zeros(1, PATTERN_MAX_TOKENS + 1, dtype=torch.long)
    assert short_text_patterns(model, longer) is None  # long texts keep no T x T tensor


def record_with_collapse() -> EntropyTrainingResult:
    entropy = torch.tensor([[[2.0, 1.5]], [[0.05, 1.4]], [[0.01, 1.4]]])
    return EntropyTrainingResult(
        steps=torch.tensor([10, 20, 30]), loss=torch.tensor([4.0, 3.0, 2.9]),
        window_max_loss=torch.tensor([5.0, 3.5, 3.0]), entropy=entropy,
        sigma=torch.ones_like(entropy), every=10,
        metadata=ResultMetadata(model_name="synthetic", config_hash="-"),
    )  # fmt: skip


def test_training_view_and_figure_mark_the_collapse() -> None:
    record = record_with_collapse()
    box = record.widget()
    np.testing.assert_allclose(box.children[0].array[0], record.entropy.mean(-1)[:, 0].numpy())
    assert "collapse at step 20" in box.children[2].value
    fig = record.figure()
    assert [s.x0 for s in fig.layout.shapes] == [20]  # the collapse marker
    assert fig.data[-1].name == "loss" and fig.data[-1].yaxis == "y2"


def test_bound_figure_and_length_view() -> None:
    model = Model(ModelConfig(d_model=32, n_layers=2, n_heads=2, n_ctx=64, position="alibi"))
    tokens = torch.randint(3, 259, (1, 32), generator=torch.Generator().manual_seed(0))
    bound = compute_bound(model, tokens)
    assert not bound.applies
    assert "alibi" in bound.figure().layout.annotations[0].text
    assert "does not apply" in bound.widget().children[1].value
    lengths = entropy_vs_length(model, tokens, [8, 32])
    np.testing.assert_allclose(lengths.widget().array, lengths.entropy.mean(-1).T.numpy())
    assert len(lengths.figure().data) == 4  # per layer: all queries and the second half


def test_registered_analysis_runs_with_defaults() -> None:
    analysis = get_analysis("attention_entropy")
    model, _ = workbench.load_default()
    result = analysis.compute(model)
    assert result.entropy.shape == (3, 4)
