"""Paper-style figure export: SVG/PDF/PNG files parse, carry their labels and metadata."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import plotly.graph_objects as go
import pytest

from workbench.export import (
    OKABE_ITO,
    ChromiumNotFoundError,
    apply_style,
    chromium_path,
    export_figure,
    export_figures,
    plotly_text,
)
from workbench.export._embed import embed_pdf_info, embed_svg_metadata

needs_chromium = pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium: apt-get install chromium"
)
SVG_NS = "{http://www.w3.org/2000/svg}"
METADATA = {"model_name": "tiny-2l", "config_hash": "0123abcd", "seed": 7}


def loss_figure() -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=[0, 100, 200, 300], y=[3.2, 2.1, 1.7, 1.6], name="softmax")
    fig.add_scatter(x=[0, 100, 200, 300], y=[3.2, 2.4, 2.0, 1.8], name="sigmoid")
    return fig.update_layout(xaxis_title="training step", yaxis_title="validation loss")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian chromium: apt-get install chromium")
    out = tmp_path_factory.mktemp("figures")
    fig = loss_figure()
    return {
        "svg": export_figure(fig, out / "loss.svg", metadata=METADATA),
        "pdf": export_figure(fig, out / "loss.pdf", width="double", metadata=METADATA),
        "png": export_figure(fig, out / "loss.png", width="single", dpi=200),
    }


@needs_chromium
def test_svg_parses_and_holds_titles_and_metadata(exported):
    root = ET.parse(exported["svg"]).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("width") == "322"  # 3.35 in at 96 px/in
    texts = {el.text for el in root.iter(f"{SVG_NS}text")}
    assert {"training step", "validation loss", "softmax", "sigmoid"} <= texts
    embedded = json.loads(root.find(f"{SVG_NS}metadata").text)
    assert embedded["model_name"] == "tiny-2l" and embedded["style"] == "paper"
    side = json.loads(exported["svg"].with_name("loss.svg.json").read_text())
    assert side == embedded
    assert "Times New Roman" in exported["svg"].read_text()  # serif paper font


@needs_chromium
def test_pdf_has_pages_text_and_info(exported):
    data = exported["pdf"].read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) >= 1
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian poppler-utils) not installed: text check skipped")
    text = subprocess.run(
        ["pdftotext", str(exported["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "training step" in text and "validation loss" in text
    info = subprocess.run(
        ["pdfinfo", str(exported["pdf"])], capture_output=True, text=True, check=True
    ).stdout
    assert "Subject:         workbench figure" in info
    assert '"model_name": "tiny-2l"' in info
    width_pt = float(re.search(r"Page size:\s+([\d.]+) x", info).group(1))
    assert width_pt == pytest.approx(7.0 * 72, abs=1)  # double column


@needs_chromium
def test_png_signature_size_and_aspect(exported):
    data = exported["png"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width == pytest.approx(3.35 * 200, abs=2)  # single column at 200 dpi
    assert height / width == pytest.approx(0.75, rel=0.01)


@needs_chromium
def test_a_batch_keeps_each_figure_with_its_path_and_metadata(tmp_path):
    labels = ["alpha", "beta", "gamma", "delta"]
    jobs = [
        (loss_figure().update_layout(xaxis_title=label), tmp_path / f"{label}.svg", {"i": i})
        for i, label in enumerate(labels)
    ]
    jobs.append((loss_figure(), tmp_path / "loss.pdf", None))
    written = export_figures(jobs, width="double")
    assert written == [path for _, path, _ in jobs]
    for i, label in enumerate(labels):
        root = ET.parse(tmp_path / f"{label}.svg").getroot()
        texts = {el.text for el in root.iter(f"{SVG_NS}text")}
        assert label in texts and not (set(labels) - {label}) & texts
        assert json.loads(root.find(f"{SVG_NS}metadata").text)["i"] == i
        side = json.loads((tmp_path / f"{label}.svg.json").read_text())
        assert side == {"style": "paper", "width": "double", "format": "svg", "i": i}
    assert (tmp_path / "loss.pdf").read_bytes().startswith(b"%PDF-")


def test_a_batch_with_a_bad_suffix_writes_nothing(tmp_path):
    jobs = [(loss_figure(), tmp_path / "a.svg"), (loss_figure(), tmp_path / "b.jpeg")]
    with pytest.raises(ValueError, match="figure format"):
        export_figures(jobs)
    assert list(tmp_path.iterdir()) == []


def test_missing_browser_error_says_how_to_install(tmp_path, monkeypatch):
    with pytest.raises(ChromiumNotFoundError, match="apt-get install -y chromium"):
        export_figure(loss_figure(), tmp_path / "x.pdf", browser_path=tmp_path / "no-chromium")
    monkeypatch.setenv("WORKBENCH_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(ChromiumNotFoundError, match="No executable browser at"):
        export_figure(loss_figure(), tmp_path / "x.svg")
    assert chromium_path(required=False) is None
    assert not (tmp_path / "x.svg").exists()


def test_bad_suffix_and_style_suggest_valid_names(tmp_path):
    with pytest.raises(ValueError, match=r"valid: \['.pdf', '.png', '.svg'\]"):
        export_figure(loss_figure(), tmp_path / "x.jpeg")
    with pytest.raises(ValueError, match="Did you mean: paper"):
        apply_style(loss_figure(), style="papr")
    with pytest.raises(ValueError, match="Did you mean: double"):
        apply_style(loss_figure(), width="doubel")


def test_paper_style_values_and_original_untouched():
    fig = loss_figure()
    styled = apply_style(fig, style="paper", width="double")
    assert (styled.layout.width, styled.layout.height) == (672, 282)
    assert "serif" in styled.layout.font.family and styled.layout.font.size == 12  # 9 pt
    assert tuple(styled.layout.colorway) == OKABE_ITO
    assert styled.layout.paper_bgcolor == "white" and styled.layout.xaxis.linewidth == 0.75
    assert fig.layout.width is None and fig.layout.font.family is None


def test_plotly_text_escapes_markup():
    assert plotly_text('<b>x</b> & "y"') == "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;"


def test_embed_helpers_reject_wrong_formats():
    with pytest.raises(ValueError, match="not an SVG"):
        embed_svg_metadata(b"<html></html>", {})
    with pytest.raises(ValueError, match="not a PDF"):
        embed_pdf_info(b"hello", {"Title": "x"})


def test_svg_metadata_is_escaped():
    svg = embed_svg_metadata(
        b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', {"d": "</metadata><x>"}
    )
    root = ET.fromstring(svg)  # still well-formed
    assert json.loads(root.find(f"{SVG_NS}metadata").text) == {"d": "</metadata><x>"}
