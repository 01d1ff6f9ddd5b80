"""The circuit diagram widget: expand/collapse relayouts, a click shows the hook and wires,
and statistics from a cache, `Stats` or `StatsSummary` appear at the right box (compared
with the same statistics read directly, in float64)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis.diagrams import compute
from workbench.core.collect import collect_stats
from workbench.widgets import CircuitDiagram, view

NODE = shutil.which("node")


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(ModelConfig(d_model=32, n_layers=2, n_heads=2, d_vocab=50, n_ctx=16)).eval()


@pytest.fixture(scope="module")
def result(model):
    return compute(model, seq_len=6)


def test_view_is_registered_and_opens_the_first_block(result):
    widget = view(result)
    assert isinstance(widget, CircuitDiagram)
    assert "blocks.0.attn" in widget.expanded and "blocks.1" not in widget.expanded
    ids = {item.get("id") for item in widget.scene["items"]}
    assert "blocks.0.attn.weights" in ids and "blocks.1" in ids and "blocks.1.attn" not in ids


def test_toggle_opens_and_closes_a_group(result):
    widget = CircuitDiagram(result)
    before = len(widget.scene["items"])
    widget.toggle("blocks.1")
    assert "blocks.1" in widget.expanded and len(widget.scene["items"]) > before
    widget.toggle("blocks.1")
    assert len(widget.scene["items"]) == before
    with pytest.raises(KeyError, match="Did you mean"):
        widget.toggle("blocks.9")


def test_click_shows_hook_and_traced_wires(result):
    widget = CircuitDiagram(result)
    widget.select(node="blocks.0.attn.q")
    assert widget.details["hook"] == "blocks.0.attn.hook_q"
    assert widget.details["shape"] == [["batch", 1], ["pos", 6], ["heads", 2], ["d_head", 16]]
    assert widget.details["joined"] == ["d_model"] and widget.details["stats"] == []


def test_cache_statistics_at_the_hook(model, result):
    tokens = torch.arange(6)[None]
    _, cache = model.run_with_cache(tokens)
    widget = CircuitDiagram(result, stats=cache)
    widget.select(node="blocks.1.mlp.act")
    rows = dict(widget.details["stats"])
    post = cache["blocks.1.mlp.hook_post"].double()
    assert float(rows["mean"]) == pytest.approx(float(post.mean()), rel=1e-3)
    assert float(rows["max"]) == pytest.approx(float(post.max()), rel=1e-3)


def test_run_with_stats_and_summary_show_per_head_entropy(model, result):
    tokens = torch.arange(12).view(2, 6) % 50
    stats = model.run_with_stats(tokens, ["attn.entropy"])
    widget = CircuitDiagram(result, stats=stats)
    widget.select(node="blocks.1.attn.weights")
    shown = dict(widget.details["stats"])["attn.entropy (mean)"]
    expected = stats["attn.entropy"][1].double().mean((0, 2))
    assert shown.startswith(f"[{float(expected[0]):.4g}, {float(expected[1]):.4g}]")
    summary = collect_stats(model, tokens, ["attn.entropy"])
    widget = CircuitDiagram(result, stats=summary)
    widget.select(node="blocks.1.attn")
    shown = dict(widget.details["stats"])["attn.entropy (mean over 12 tokens)"]
    assert shown.startswith(f"[{float(expected[0]):.4g}")
    with pytest.raises(TypeError, match="ActivationCache, Stats or StatsSummary"):
        CircuitDiagram(result, stats={"attn.entropy": 1})


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_browser_code_draws_labels_as_text_and_a_click_opens_a_group(result, tmp_path):
    widget = CircuitDiagram(result)
    widget.select(node="blocks.0.attn.weights")
    bundle = tmp_path / "view.mjs"
    bundle.write_text(widget._esm)
    traits = {k: getattr(widget, k) for k in ("scene", "expanded", "details", "selected", "title")}
    harness = Path(__file__).parent / "js" / "render_diagram.mjs"
    done = subprocess.run([NODE, str(harness), str(bundle), json.dumps(traits), "blocks.1"],
                          capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "softmax" in out["texts"] and "blocks.0.attn.hook_pattern" in out["texts"]
    assert out["rects"] == sum(1 for i in widget.scene["items"] if i["t"] == "rect")
    # a click on the closed block 1 selects it and opens it
    assert ["selected", {"node": "blocks.1"}] in out["sets"]
    assert ["expanded", sorted([*widget.expanded, "blocks.1"])] in out["sets"]


PAGE = """<html><body><div id=el></div><script type=module>
const traits = TRAITS;
window.sets = [];
const model = { get: (k) => traits[k], on() {}, off() {}, save_changes() {},
  set: (k, v) => { traits[k] = v; window.sets.push([k, v]); } };
const blob = new Blob([ESM], { type: "text/javascript" });
const view = (await import(URL.createObjectURL(blob))).default;
view.render({ model, el: document.getElementById("el") });
window.done = true;
</script></body></html>"""


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium")
def test_pan_zoom_and_click_in_chromium(result, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    widget = CircuitDiagram(result)
    traits = {k: getattr(widget, k) for k in ("scene", "expanded", "details", "selected", "title")}
    page_file = tmp_path / "page.html"
    page_file.write_text(
        PAGE.replace("TRAITS", json.dumps(traits)).replace("ESM", json.dumps(widget._esm))
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_file.as_uri())
        page.wait_for_function("window.done === true")
        view_box = "document.querySelector('svg.wb-diagram').getAttribute('viewBox')"
        box = lambda: [float(v) for v in page.evaluate(view_box).split()]  # noqa: E731
        start, start_text = box(), page.evaluate(view_box)
        page.mouse.move(600, 200)
        page.mouse.wheel(0, -300)
        page.wait_for_function(f"{view_box} !== {json.dumps(start_text)}")
        assert box()[2] < start[2]  # zoomed in
        page.mouse.move(600, 250)
        page.mouse.down()
        page.mouse.move(400, 250, steps=5)
        page.mouse.up()
        assert box()[0] > 0  # panned right
        page.click("text=fit")
        page.click('[data-node="blocks.1"]')
        sets = page.evaluate("window.sets")
        browser.close()
    assert not errors
    assert ["selected", {"node": "blocks.1"}] in sets
    assert ["expanded", sorted([*widget.expanded, "blocks.1"])] in sets
