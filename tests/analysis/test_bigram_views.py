"""The registered view, figures and report section of a `BigramResult`."""

import numpy as np
import pytest
import torch

from workbench.analysis.bigram import BigramResult, default_windows, find_subnetwork, measure
from workbench.analysis.bigram_masks import MaskSettings
from workbench.analysis.registry import get_analysis
from workbench.core.config import ModelConfig
from workbench.core.model import Model
from workbench.data.tokenizer import ByteTokenizer
from workbench.export.bigram import ablation_figure, density_figure, surprisal_figure
from workbench.export.report import Report


@pytest.fixture(scope="module")
def result() -> BigramResult:
    model = Model(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_mlp=64),
                  tokenizer=ByteTokenizer())  # fmt: skip
    tokens = default_windows(model, "train", 16, 24)
    settings = MaskSettings(lam=1.0, lr=0.05, batch_size=4, max_steps=8, beta_growth=1.05)
    trainer = find_subnetwork(model, tokens, settings=settings, progress=False)
    return measure(trainer, default_windows(model, "val", 4, 24))


def test_view_shows_the_results_numbers_and_follows_a_click(result):
    box = result.widget()
    np.testing.assert_allclose(box.layers.array, result.kept_per_layer.numpy(), atol=1e-7)
    np.testing.assert_allclose(box.matrices.array, result.kept_per_matrix.numpy(), atol=1e-7)
    box.matrices.select(matrix=5)
    assert box.density.title.startswith(f"kept fraction in {result.matrix_names[5]}")
    np.testing.assert_allclose(box.density.array, result.density_maps[5].numpy(), atol=1e-7)
    sub, bigram = box.strips
    np.testing.assert_allclose(bigram.array, result.strip_bigram.numpy(), atol=1e-6)
    assert len(sub.tokens) == len(result.strip_subnetwork)


def test_density_maps_are_the_downsampled_kept_fraction(result):
    # W_in of d_model 32 x d_mlp 64 is small enough to be kept at full resolution: 0/1 cells
    index = result.matrix_names.index("blocks.0.mlp.W_in")
    grid = result.density_maps[index]
    assert grid.shape == (32, 64)
    assert set(grid.unique().tolist()) <= {0.0, 1.0}
    assert float(grid.mean()) == pytest.approx(float(result.kept_per_matrix[index]), abs=1e-6)


def test_figures_carry_the_results_values(result):
    fig = result.figure()
    kept = [None if v == 0 else 100 * v for v in result.kept_per_matrix.double().tolist()]
    assert list(fig.data[0].y) == pytest.approx(kept)
    np.testing.assert_allclose(fig.data[2].y, result.alignment[0, 1].numpy())  # full: next
    assert len(density_figure(result).data) == len(result.matrix_names)
    assert list(ablation_figure(result).data[0].y) == list(result.ablation.values())
    np.testing.assert_allclose(surprisal_figure(result, 10).data[1].y,
                               result.strip_subnetwork[:10].numpy())  # fmt: skip


def test_report_section_marks_a_short_run(result):
    report = Report("t")
    get_analysis("bigram_subnetwork").report_section(report, result)
    html = report.to_html()
    assert "NOT converged" in html or "converged" in html
    assert f"{result.ablation['complement']:.4f}" in html
    assert torch.isfinite(result.alignment).all()


def test_stored_default_result_is_reproduced_from_its_stored_masks():
    """assets/bigram: the committed run's masks, re-measured now, give its numbers."""
    import workbench
    from workbench.analysis.bigram import default_windows, stored_default_result
    from workbench.analysis.bigram_masks import MaskTrainer
    from workbench.analysis.bigram_targets import BigramTable
    from workbench.core.checkpoint import read_state
    from workbench.models import default_model_dir

    model, _ = workbench.load_default()
    stored = stored_default_result(model)
    assert stored is not None and "stored_run" in stored.metadata.options
    masks = read_state(default_model_dir().parent / "bigram" / "default_masks.safetensors")
    tokens = default_windows(model, "train", 256, 64)
    options = stored.metadata.options
    settings = MaskSettings(**{k: options[k] for k in MaskSettings().to_dict()})
    trainer = MaskTrainer(model, BigramTable.from_tokens(tokens, 259), tokens, settings)
    with torch.no_grad():
        for name, mask in masks.items():
            trainer.scores[name].copy_(mask.float() * 2 - 1)  # kept: s > 0
    again = measure(trainer, default_windows(model, "val", 32, 64))
    assert again.metadata.data_fingerprint == stored.metadata.data_fingerprint
    assert torch.equal(again.kept_per_matrix, stored.kept_per_matrix)
    assert again.pearson_r == pytest.approx(stored.pearson_r, abs=1e-9)
    for name, loss in stored.ablation.items():
        assert again.ablation[name] == pytest.approx(loss, rel=1e-5), name
    report = Report("t")
    get_analysis("bigram_subnetwork").report_section(report, stored)
    assert "Stored result" in report.to_html()
