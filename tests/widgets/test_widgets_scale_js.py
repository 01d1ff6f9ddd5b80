"""The widgets' axis code (workbench/widgets/_scale.js) and the views that use it, run under
node: constant series at any magnitude, tiny values, NaN/inf and empty data give a bounded,
sensible axis and a visible note, never a hang. Skipped when node is missing."""

from __future__ import annotations

import itertools
import json
import math
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import torch

from workbench.widgets import BarChart, Heatmap, LineChart, TokenStrip

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
HERE = pathlib.Path(__file__).parent / "js"
SCALE_JS = pathlib.Path(__file__).parents[2] / "workbench" / "widgets" / "_scale.js"
MAX_TICKS = 50  # WB_MAX_TICKS in _scale.js


def _jsonable(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def run_node(*args: str) -> object:
    done = subprocess.run(
        [NODE, *args], capture_output=True, text=True, timeout=20, check=False
    )  # a tick loop that never ends shows up as TimeoutExpired
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CASES = {
    "constant 1": [1.0] * 5,
    "constant 0": [0.0] * 3,
    "constant 1e16": [1e16] * 4,
    "constant 1e20": [1e20] * 4,
    "constant 3e38": [3e38] * 4,
    "constant -3e38": [-3e38] * 2,
    "constant 1e-30": [1e-30] * 4,
    "tiny span": [1e-30, 2e-30, 3e-30],
    "span lost in rounding": [1e16, 1e16 + 2, 1e16 + 4],
    "full float32 range": [-3.4e38, 3.4e38],
    "with NaN and inf": [1.0, float("nan"), 2.0, float("inf"), float("-inf"), 3.0],
    "all NaN": [float("nan")] * 3,
    "empty": [],
    "ordinary": [0.13, 2.7, 1.1],
}


@pytest.fixture(scope="module")
def scale_results() -> dict[str, dict]:
    inputs = [[_jsonable(v) for v in values] for values in CASES.values()]
    out = run_node(str(HERE / "scale_cases.mjs"), str(SCALE_JS), json.dumps(inputs))
    return dict(zip(CASES, out, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_axis_is_bounded_finite_and_encloses_the_data(case: str, scale_results) -> None:
    result = scale_results[case]
    lo, hi = result["range"]
    axis = result["axis"]
    assert 2 <= len(axis) <= MAX_TICKS and len(result["inner"]) <= MAX_TICKS
    assert all(isinstance(t, float | int) and math.isfinite(t) for t in axis)
    assert lo < hi and axis == sorted(axis)
    finite = [v for v in np.float32(CASES[case]).tolist() if math.isfinite(v)]
    if finite:  # the axis covers every finite value (in float32, as the widget gets it)
        assert axis[0] <= min(finite) and axis[-1] >= max(finite)
        assert len(set(result["labels"])) == len(axis), result["labels"]  # distinct labels
    else:
        assert (lo, hi) == (0, 1)


def test_constant_series_are_centred_with_a_relative_margin(scale_results) -> None:
    for case, value in [("constant 1e20", 1e20), ("constant 1e-30", 1e-30)]:
        lo, hi = scale_results[case]["range"]
        v = float(np.float32(value))
        assert lo < v < hi and (hi - lo) == pytest.approx(0.2 * v, rel=1e-6)
    assert scale_results["constant 0"]["range"] == [-0.5, 0.5]


def test_non_finite_values_are_counted_in_a_note(scale_results) -> None:
    assert scale_results["with NaN and inf"]["note"] == "not plotted: 1 NaN, 1 +inf, 1 -inf"
    assert scale_results["all NaN"]["note"] == "not plotted: 3 NaN"
    assert scale_results["ordinary"]["note"] == ""


def test_ordinary_axis_has_a_round_even_step_and_tight_ends(scale_results) -> None:
    axis = scale_results["ordinary"]["axis"]  # data 0.13 .. 2.7, about 5 ticks asked
    steps = {round(b - a, 12) for a, b in itertools.pairwise(axis)}
    assert len(steps) == 1, axis  # evenly spaced
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5) and 3 <= len(axis) <= 11, axis
    assert axis[0] <= 0.13 < axis[0] + step and axis[-1] - step < 2.7 <= axis[-1]


# -- whole views in a fake DOM ------------------------------------------------------------


def render(widget, tmp_path: pathlib.Path) -> dict:
    """Render the widget's real bundle (`_esm`) with its real trait values."""
    traits: dict = {"floats": {}}
    for name in widget.keys:
        value = getattr(widget, name)
        if isinstance(value, bytes):
            floats = np.frombuffer(value, dtype="<f4").tolist()
            traits["floats"][name] = [_jsonable(v) for v in floats]
        elif name not in ("_esm", "_css", "layout"):
            traits[name] = value
    bundle = tmp_path / "view.mjs"
    bundle.write_text(widget._esm)
    return run_node(str(HERE / "render_view.mjs"), str(bundle), json.dumps(traits, default=str))


@pytest.mark.parametrize("value", [1e16, 1e20, 3e38, 1e-30, 0.0])
def test_line_chart_of_a_constant_series_renders(value: float, tmp_path) -> None:
    out = render(LineChart(torch.arange(6.0), {"loss": torch.full((6,), value)}), tmp_path)
    y_labels = out["axisText"][: len(out["axisText"]) // 2]
    assert 2 <= len(out["axisText"]) <= 2 * MAX_TICKS + 2 and out["nodes"] < 500
    assert len(out["polylines"]) == 1 and len(out["polylines"][0].split()) == 6
    assert out["notes"] == [] and y_labels


def test_line_chart_breaks_at_nan_and_says_so(tmp_path) -> None:
    y = torch.tensor([1.0, 2.0, float("nan"), 3.0, float("inf"), 4.0, 5.0])
    out = render(LineChart(torch.arange(7.0), {"loss": y}), tmp_path)
    assert [len(p.split()) for p in out["polylines"]] == [2, 1, 2]  # gaps, not lines via 0
    assert out["notes"] == ["not plotted: 1 NaN, 1 +inf"]


def test_empty_line_chart_renders(tmp_path) -> None:
    out = render(LineChart(torch.zeros(0), torch.zeros(1, 0)), tmp_path)
    assert out["polylines"] == [] and out["notes"] == []


def test_bar_chart_writes_non_finite_values_instead_of_a_zero_bar(tmp_path) -> None:
    values = torch.tensor([1e20, float("nan"), float("-inf"), 2e20])
    out = render(BarChart(values), tmp_path)
    assert out["nonFinite"] == ["NaN", "-inf"]
    assert out["notes"] == ["not plotted: 1 NaN, 1 -inf"]


@pytest.mark.parametrize(
    "widget",
    [
        lambda: Heatmap(torch.tensor([[1.0, float("nan")], [float("inf"), 3e38]])),
        lambda: TokenStrip(["a", "b", "c"], torch.tensor([float("nan"), 1e-30, 1e-30])),
    ],
    ids=["heatmap", "token_strip"],
)
def test_heatmap_and_token_strip_mark_non_finite_values(widget, tmp_path) -> None:
    out = render(widget(), tmp_path)
    assert len(out["notes"]) == 1 and out["notes"][0].startswith("not plotted: 1 NaN")
    assert "grey" in out["notes"][0]


# -- colour maps (d3-scale-chromatic) and the bundle itself -------------------------------

# Published end and middle colours: viridis (#440154, #fde725), ColorBrewer Blues (#f7fbff,
# #08306b) and RdBu (#053061, #f7f7f7, #67001f), as rgb().
PUBLISHED_COLOURS = [
    ("viridis", 0, "rgb(68, 1, 84)"),
    ("viridis", 1, "rgb(253, 231, 37)"),
    ("blues", 0, "rgb(247, 251, 255)"),
    ("blues", 1, "rgb(8, 48, 107)"),
    ("bluered", 0, "rgb(5, 48, 97)"),
    ("bluered", 0.5, "rgb(247, 247, 247)"),
    ("bluered", 1, "rgb(103, 0, 31)"),
    ("viridis", -3, "rgb(68, 1, 84)"),  # clamped
    ("viridis", "NaN", "rgb(68, 1, 84)"),
]


def test_colour_maps_give_the_published_colours() -> None:
    calls = json.dumps([[name, t] for name, t, _ in PUBLISHED_COLOURS])
    script = (
        f"import {{ wbColorMap }} from {json.dumps(SCALE_JS.as_uri())};"
        f"const calls = {calls};"
        "console.log(JSON.stringify(calls.map(([n, t]) => wbColorMap(n, t === 'NaN' ? NaN : t))));"
    )
    assert run_node("--input-type=module", "-e", script) == [c for _, _, c in PUBLISHED_COLOURS]


LABEXTENSION = pathlib.Path(__file__).parents[2] / "labextension"


@pytest.mark.skipif(
    not (LABEXTENSION / "node_modules/.bin/esbuild").exists(),
    reason="labextension/node_modules not installed (`make labextension`)",
)
def test_committed_scale_bundle_matches_its_source(tmp_path) -> None:
    """_scale.js is committed (inline views need no node); it must be the build of its source."""
    script = json.loads((LABEXTENSION / "package.json").read_text())["scripts"]["build:views"]
    command = script.replace("../workbench/widgets/_scale.js", str(tmp_path / "_scale.js"))
    subprocess.run(
        command,
        shell=True,
        cwd=LABEXTENSION,
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{LABEXTENSION / 'node_modules/.bin'}:{os.environ['PATH']}"},
    )
    assert (tmp_path / "_scale.js").read_text() == SCALE_JS.read_text(), (
        "workbench/widgets/_scale.js is stale: run `cd labextension && npm run build:views`"
    )
