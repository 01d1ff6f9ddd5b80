"""The HTML report: one self-contained file, escaped text, figures that render offline."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import plotly
import plotly.graph_objects as go
import pytest

from workbench.cli import main
from workbench.export import Report, markdown_to_html, plotly_text

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags_of(markup: str) -> list[tuple[str, dict]]:
    collector = TagCollector()
    collector.feed(markup)
    return collector.tags


def bar_figure(label: str = "head 0", other: str = "head 1") -> go.Figure:
    return go.Figure(go.Bar(x=[label, other], y=[0.3, 0.7])).update_layout(
        xaxis_title="head", yaxis_title="entropy"
    )


@pytest.fixture
def report_html(tmp_path) -> str:
    report = Report(f"Entropy {HOSTILE}")
    report.add_markdown(f"# Findings\nHeads with **low** entropy; token `{HOSTILE}`.\n\n{HOSTILE}")
    report.add_figure(bar_figure(), caption=f"Entropy per head {HOSTILE}")
    report.add_figure(bar_figure(HOSTILE), caption="second figure")
    report.add_table([["L0H1", 0.123456, 3], [HOSTILE, float("nan"), 4]], header=["head", "H", "n"])
    report.add_html("<p id='trusted'>generated</p>")
    return report.save(tmp_path / "report.html").read_text()


def test_report_is_self_contained(report_html):
    assert report_html.startswith("<!DOCTYPE html>")
    for tag, attrs in tags_of(report_html):
        for attr in ("src", "href"):
            assert not str(attrs.get(attr) or "").startswith(("http:", "https:", "//")), (
                tag,
                attrs,
            )
        assert not (tag == "script" and "src" in attrs), "scripts must be inline"
        assert tag != "link", "stylesheets must be inline"
    banner = f"plotly.js v{plotly.offline.get_plotlyjs_version()}"
    assert report_html.count(banner) == 1  # inlined once for two figures
    assert report_html.count("Plotly.newPlot") == 2


def test_report_escapes_user_text_everywhere(report_html):
    body = report_html.split("</head>", 1)[1]
    tags = tags_of(body)
    assert not any(tag == "img" for tag, _ in tags)
    assert "<script>alert(2)</script>" not in report_html
    assert report_html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 4
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    assert "<p id='trusted'>generated</p>" in body  # add_html is trusted on purpose


def test_table_formats_numbers_and_checks_width():
    report = Report("t").add_table([[1, 2.0 / 3, True]], header=["a", "b", "c"])
    html = report.to_html()
    assert '<td class="num">1</td><td class="num">0.6667</td><td>True</td>' in html
    with pytest.raises(ValueError, match="row 0 has 2 cells, expected 3"):
        Report("t").add_table([[1, 2]], header=["a", "b", "c"])


def test_markdown_is_commonmark_with_tables():
    html = markdown_to_html(
        "## Result\nSome *italic* and **bold** with `x < y`.\n\n- one\n- two [ref](#sec)\n\n"
        "```\nif a < b:\n    pass\n```\n\n| head | H |\n|---|---|\n| L0H1 | 0.12 |\n"
    )
    assert "<h2>Result</h2>" in html
    assert "<em>italic</em>" in html and "<strong>bold</strong>" in html
    assert "<code>x &lt; y</code>" in html
    assert '<li>two <a href="#sec">ref</a></li>' in html
    assert "<pre><code>if a &lt; b:\n    pass\n</code></pre>" in html
    assert "<th>head</th>" in html and "<td>L0H1</td>" in html


def test_markdown_escapes_raw_html_and_drops_script_links():
    html = markdown_to_html(
        f"{HOSTILE}\n\n<div onclick=x>block</div>\n\n[bad](javascript:alert(1))"
    )
    assert tags_of(html) == [("p", {}), ("p", {}), ("p", {})]  # nothing but paragraphs
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;div onclick=x&gt;" in html
    assert "javascript:" in html and "href" not in html


@pytest.fixture(scope="module")
def analysis_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--out", str(out)]) == 0
    return out


def test_report_command_writes_the_registered_sections(analysis_report):
    html = (analysis_report / "report.html").read_text()
    assert "<h2>Statistics overview</h2>" in html
    from workbench.analysis import registered_analyses

    assert html.count("Plotly.newPlot") == len(registered_analyses())  # one figure each
    assert "<th>MLP nonzero fraction</th>" in html
    assert "Training loss" not in html  # the demo's tour is not part of the report
    assert "Not computed" not in html  # every analysis applies to the default model


def test_report_on_an_encoder_says_what_it_could_not_compute(tmp_path):
    """MiniLM (bidirectional, GELU, post-LN, no unembedding): the report is written; the
    analyses that refuse it say why, and --mlp-threshold enables the MLP statistics."""
    assert main(["report", "--model", "minilm", "--mlp-threshold", "0.1", "--out",
                 str(tmp_path)]) == 0  # fmt: skip
    html = (tmp_path / "report.html").read_text()
    assert "Not computed for this model: bigram subnetworks need a causal language model" in html
    assert html.count("has_unembed=False") >= 3  # logit lens, both patching sections
    assert (tmp_path / "results" / "activation_sparsity.json").exists()
    assert not (tmp_path / "results" / "bigram_subnetwork.json").exists()


def test_report_command_leaves_results_and_figures(analysis_report):
    from workbench.analysis import Result, StatsOverviewResult

    loaded = Result.from_json(analysis_report / "results" / "stats_overview.json")
    assert isinstance(loaded, StatsOverviewResult)
    assert loaded.metadata.model_name == "workbench-default" and loaded.metadata.n_tokens
    if Path("/usr/bin/chromium").exists():
        pdf = analysis_report / "figures" / "stats_overview.pdf"
        assert pdf.read_bytes().startswith(b"%PDF-")
        assert "stats_overview.svg" in (analysis_report / "report.html").read_text()


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium")
def test_report_renders_offline_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    # plotly reads <b>, <br>, <a> in labels; plotly_text makes such a token show literally.
    report = Report("offline").add_figure(bar_figure(HOSTILE, plotly_text("<b>x</b>")))
    path = report.save(tmp_path / "r.html")
    requests, errors, dialogs = [], [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_selector(".main-svg .xtick text", timeout=20_000)
        ticks = page.locator(".xtick text").all_text_contents()
        browser.close()
    assert HOSTILE in ticks and "<b>x</b>" in ticks  # shown literally, not interpreted
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []
    assert errors == [] and dialogs == []
