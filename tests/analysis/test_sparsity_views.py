"""Registered views, figures and report section of the activation sparsity results."""

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis.registry import get_analysis
from workbench.analysis.sparsity import compute
from workbench.analysis.top_contexts import collect_top_contexts
from workbench.export.report import Report
from workbench.widgets.neuron import DistributionBars, NeuronCard
from workbench.widgets.sparsity import sparsity_dashboard


def test_bars_select_layer_shows_busiest_neuron_and_strip() -> None:
    model, _ = workbench.load_default()
    text = "the old dog sat on the mat"
    result = compute(model, text, progress=False)
    box = result.widget()
    np.testing.assert_allclose(box.bars.array, result.nonzero_frac.numpy())
    box.bars.select(layer=2)
    _, cache = model.run_with_cache(model.to_tokens(text), names_filter="blocks.2.mlp.hook_post")
    on = cache["blocks.2.mlp.hook_post"][0] > 0  # [pos, d_mlp]
    np.testing.assert_array_equal(box.strip.array, on.sum(-1).numpy())
    busiest = int(on.sum(0).argmax())
    assert on.sum(0)[busiest] == on.sum(0).max() and box.neuron.value == busiest
    assert box.card.title == f"layer 2, neuron {busiest}"
    assert box.card.facts[0].startswith(f"fires on {int(on[:, busiest].sum())} of {on.shape[0]}")
    assert "nonzero fraction (|a| > 0)" in box.card.facts[0]


def test_dashboard_card_shows_top_contexts_as_text() -> None:
    model, _ = workbench.load_default()
    tokens = workbench.analysis.corpus_tokens(model, n_sequences=3, seq_len=32)
    contexts = collect_top_contexts(model, tokens, k=3, window=2, progress=False).result(model)
    box = sparsity_dashboard(compute(model, tokens, progress=False), contexts)
    box.bars.select(layer=1)
    box.neuron.value = 7
    rows = box.card.contexts
    assert [r["value"] for r in rows] == contexts.values[1, 7].tolist()
    seq, pos = int(contexts.sequence[1, 7, 0]), int(contexts.position[1, 7, 0])
    assert rows[0]["tokens"][rows[0]["at"]] == model.to_str_tokens(tokens[seq])[pos]


def test_thresholded_figure_names_the_threshold() -> None:
    fields = dict(d_model=32, n_layers=2, n_heads=2, d_vocab=259, n_ctx=64, mlp="gelu", seed=0)
    model = Model(ModelConfig(**fields)).eval()
    tokens = torch.randint(3, 259, (2, 8), generator=torch.Generator().manual_seed(0))
    result = compute(model, tokens, mlp_threshold=0.02, progress=False)
    fig = result.figure()
    assert "thresholded fraction (|a| > 0.02)" in fig.layout.title.text
    assert "|a| > 0.02" in fig.layout.yaxis.title.text
    np.testing.assert_allclose(fig.data[0].median, 100 * result.quantiles[:, 2].double().numpy())
    box = result.widget()
    assert "|a| > 0.02" in box.bars.title and "|a| > 0.02" in box.bars.value_label


def test_registered_analysis_and_report_section() -> None:
    analysis = get_analysis("activation_sparsity")
    model, _ = workbench.load_default()
    result = analysis.compute(model)
    assert result.nonzero_frac.shape == (3,) and result.n_tokens == 16 * 128
    report = Report("sparsity")
    analysis.report_section(report, result)
    html = report.to_html()
    assert "Activation sparsity" in html and "dead neurons" in html


NODE = shutil.which("node")
RENDER = pathlib.Path(__file__).parents[1] / "widgets" / "js" / "render_view.mjs"


def render(widget, tmp_path: pathlib.Path) -> dict:
    """The widget's real bundle run in node's fake DOM (tests/widgets/js/render_view.mjs)."""
    traits: dict = {"floats": {}}
    for name in widget.keys:
        value = getattr(widget, name)
        if isinstance(value, bytes):
            traits["floats"][name] = np.frombuffer(value, dtype="<f4").tolist()
        elif name not in ("_esm", "_css", "layout"):
            traits[name] = value
    bundle = tmp_path / "view.mjs"
    bundle.write_text(widget._esm)
    done = subprocess.run([NODE, str(RENDER), str(bundle), json.dumps(traits, default=str)],
                          capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_bars_and_card_render_in_node(tmp_path) -> None:
    values = torch.tensor([0.3, 0.1])
    quantiles = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5], [0.0, 0.05, 0.1, 0.15, 0.2]])
    out = render(DistributionBars(values, quantiles, value_label="nonzero fraction"), tmp_path)
    assert {"0", "1", "layer", "nonzero fraction"} <= set(out["axisText"])
    card = NeuronCard()
    card.contexts = [{"tokens": ["<img src=x onerror=alert(1)>", "b"], "at": 0, "value": 1.5,
                      "where": "sequence 0, position 0"}]  # fmt: skip
    card.note = "a note"
    out = render(card, tmp_path)
    assert out["notes"] == ["a note"] and out["nodes"] > 3
