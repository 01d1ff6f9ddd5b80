"""The patching analysis: its result, JSON round trip, views, figure and report section."""

import numpy as np
import pytest
import torch

import workbench
from workbench import Model, ModelConfig
from workbench.analysis import Result
from workbench.analysis.patching import PatchingResult, as_matrix, compute, repeated_tokens_task
from workbench.analysis.registry import get_analysis
from workbench.export import Report

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=30, n_ctx=32, mlp="none", seed=2,
                  init_range=0.2)  # fmt: skip


@pytest.fixture(scope="module")
def result() -> PatchingResult:
    return compute(Model(CFG), site="head_pos", progress=False)


def test_result_fields_against_plain_formulas(result) -> None:
    model = Model(CFG).eval()
    task = repeated_tokens_task(model)
    with torch.no_grad():
        logprobs = model(task.clean).double().log_softmax(-1)
    targets = task.clean[:, 13:]  # half = 12: the second copy after its first token
    expected = logprobs[:, 12:-1].gather(-1, targets[..., None]).mean()
    assert abs(result.clean_metric - float(expected)) < 1e-5
    assert result.patched.shape == result.attribution.shape == (2, 24, 4)
    pair = torch.stack([result.patched.flatten(), result.attribution.flatten()]).double()
    assert abs(result.pearson_r - float(torch.corrcoef(pair)[0, 1])) < 1e-9
    gap = result.clean_metric - result.corrupted_metric
    expected = (result.patched.double() - result.corrupted_metric) / gap
    torch.testing.assert_close(result.normalized(result.patched), expected)
    (index, value), *_ = result.top(3)
    sign = 1 if gap > 0 else -1
    assert value == float(result.patched[index])
    assert sign * value == float((sign * result.patched).max())
    assert set(result.seconds) == {"patching", "attribution"}


def test_json_round_trip_is_exact(result, tmp_path) -> None:
    back = Result.from_json(result.to_json(tmp_path / "patching.json"))
    assert isinstance(back, PatchingResult)
    assert torch.equal(back.patched, result.patched)
    assert torch.equal(back.attribution, result.attribution)
    assert (back.pearson_r, back.axes, back.site) == (result.pearson_r, result.axes, "head_pos")


def test_head_pos_matrix_rows_are_layer_head_pairs(result) -> None:
    grid = as_matrix(result, result.patched)
    assert grid["row_labels"][5] == "L1H1" and grid["values"].shape == (8, 24)
    assert grid["values"][5, 7] == result.patched[1, 7, 1]


def test_view_and_figure_show_the_normalized_values(result) -> None:
    expected = as_matrix(result, result.normalized(result.attribution).float())["values"]
    box = result.widget()
    np.testing.assert_allclose(box.heatmaps[1].array, expected.numpy(), atol=1e-6)
    box.heatmaps[0].select(head=3, pos=2)
    assert box.heatmaps[1].selected == {"head": 3, "pos": 2}  # linked
    fig = result.figure()
    np.testing.assert_allclose(fig.data[1].z, expected.double().numpy(), atol=1e-6)
    assert f"r = {result.pearson_r:.3f}" in fig.layout.annotations[2].text


def test_one_method_and_report_section() -> None:
    model, _ = workbench.load_default()
    heads = get_analysis("patching_heads").compute(model)
    assert heads.patched.shape == (3, 4) and heads.metadata.model_name == "workbench-default"
    only = compute(Model(CFG), site="resid", methods=["attribution"], progress=False)
    assert only.patched is None and only.pearson_r is None and only.methods == ["attribution"]
    report = Report("patching")
    get_analysis("patching_heads").report_section(report, heads)
    html = report.to_html()
    assert "Pearson r" in html and "Activation and attribution patching" in html


def test_bad_requests_are_named() -> None:
    model = Model(CFG)
    clean = torch.zeros(2, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="methods must be"):
        compute(model, site="head", methods=["exact"])
    with pytest.raises(ValueError, match="together"):
        compute(model, clean)
    with pytest.raises(ValueError, match="Did you mean"):
        compute(model, site="heads")
    with pytest.raises(ValueError, match="no 'patching' values"):
        compute(model, methods=["attribution"], progress=False).top()
