"""Rendering of results: the view/figure registries, notebook display (live and static), export."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import ipywidgets
import plotly.graph_objects as go
import pytest
import torch
from jaxtyping import Float
from torch import Tensor

from workbench import Model, ModelConfig
from workbench.analysis import Result, ResultMetadata, display_static, overview
from workbench.export import figure
from workbench.widgets import BarChart, Heatmap, view

HAS_CHROMIUM = Path("/usr/bin/chromium").exists()
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class HeadScores(Result):
    scores: Float[Tensor, "layer head"]


@view.register(HeadScores)
def head_scores_view(result: HeadScores) -> Heatmap:
    return Heatmap(result.scores, title="scores")


FIGURE_CALLS: list[str] = []


@figure.register(HeadScores)
def head_scores_figure(result: HeadScores) -> go.Figure:
    FIGURE_CALLS.append(result.metadata.model_name)
    fig = go.Figure(go.Heatmap(z=result.scores.tolist()))
    return fig.update_layout(xaxis_title="head", yaxis_title="layer")


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Unregistered(Result):
    values: Tensor


@pytest.fixture
def result() -> HeadScores:
    meta = ResultMetadata(model_name="toy", config_hash="abc", data_description="random", seed=3)
    return HeadScores(scores=torch.tensor([[0.5, float("nan")], [1.0, 2.0]]), metadata=meta)


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv("WORKBENCH_STATIC", raising=False)
    display_static(None)
    yield
    display_static(None)


def test_registered_view_and_figure_are_found(result):
    assert isinstance(result.widget(), Heatmap)
    assert result.widget().array.shape == (2, 2)
    assert result.figure().layout.xaxis.title.text == "head"


def test_unregistered_types_say_where_to_register():
    unregistered = Unregistered(values=torch.zeros(1), metadata=ResultMetadata(model_name="m",
                                config_hash="h"))  # fmt: skip
    with pytest.raises(NotImplementedError, match=r"Unregistered.*@view\.register\(Unregistered\)"):
        unregistered.widget()
    with pytest.raises(NotImplementedError, match=r"workbench/export/<analysis>\.py"):
        unregistered.figure()


def test_summary_is_short(result):
    assert result.summary() == "HeadScores(model='toy', scores=Tensor[2, 2])"


def test_live_display_is_the_widget_without_a_picture(result, live):
    FIGURE_CALLS.clear()
    bundle = result._repr_mimebundle_()
    assert WIDGET_MIME in bundle and bundle[WIDGET_MIME]["model_id"]
    assert "image/png" not in bundle and "text/html" not in bundle
    assert bundle["text/plain"].startswith("HeadScores(")
    assert FIGURE_CALLS == []  # no figure built, so no Chromium started


@pytest.mark.skipif(not HAS_CHROMIUM, reason="needs Debian chromium: apt-get install chromium")
def test_static_display_is_a_png_and_text(result, live):
    display_static(True)
    bundle = result._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert WIDGET_MIME not in bundle and bundle["text/plain"].startswith("HeadScores(")


def test_static_display_from_the_environment_falls_back_to_html(result, live, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STATIC", "1")
    monkeypatch.setenv("WORKBENCH_CHROMIUM", "/nonexistent/chromium")
    bundle = result._repr_mimebundle_()
    assert "image/png" not in bundle and WIDGET_MIME not in bundle
    assert "Plotly.newPlot" in bundle["text/html"]
    display_static(False)  # the call wins over the variable
    assert WIDGET_MIME in result._repr_mimebundle_()


def test_a_bad_static_setting_is_an_error(result, live, monkeypatch):
    monkeypatch.setenv("WORKBENCH_STATIC", "maybe")
    with pytest.raises(ValueError, match="WORKBENCH_STATIC='maybe'"):
        result._repr_mimebundle_()
    with pytest.raises(TypeError, match="True, False or None"):
        display_static("yes")


def test_overview_view_links_its_tabs():
    cfg = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_vocab=20, n_ctx=8, mlp="relu")
    result = overview.compute(Model(cfg), torch.randint(0, 20, (2, 8)))
    tabs = result.widget()
    assert isinstance(tabs, ipywidgets.Tab) and len(tabs.children) == 5
    entropy, *_, bars = tabs.children
    assert isinstance(bars, BarChart)
    assert entropy.array.tolist() == result.entropy.tolist()
    entropy.select(layer=1, head=0)
    assert bars.selected == {"layer": 1}


@pytest.mark.skipif(not HAS_CHROMIUM, reason="needs Debian chromium: apt-get install chromium")
def test_export_writes_figure_and_metadata(result, tmp_path):
    path = result.export(tmp_path / "scores.svg", width="double")
    assert "<svg" in path.read_text()[:200]
    meta = json.loads((tmp_path / "scores.svg.json").read_text())
    assert meta["model_name"] == "toy" and meta["width"] == "double" and meta["seed"] == 3
