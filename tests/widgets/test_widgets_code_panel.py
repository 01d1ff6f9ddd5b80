"""CodeView highlighting and `panel` argument checks (the kernel side: test_frontend_comm.py)."""

from __future__ import annotations

import pytest
import torch

from workbench.widgets import CodeView, Heatmap, code_to_html, highlight_python, panel

SOURCES = [
    "def f(x):\n    return x + 1  # add one\n",
    'name = f"{value!r:>10}"\nprint(name)\n',
    'doc = """multi\nline <b>"""\n\n\nclass A:\n    pass',
    "x = 'unicode ✓' # no newline at end",
    "if True:\n\tpass\n",
]


@pytest.mark.parametrize("source", SOURCES, ids=range(len(SOURCES)))
def test_segments_reassemble_the_source_exactly(source):
    assert "".join(text for _, text in highlight_python(source)) == source


def test_token_kinds():
    kinds = {text: kind for kind, text in highlight_python("def f(x):\n    return len(x)  # n\n")}
    assert kinds["def"] == "keyword" and kinds["return"] == "keyword"
    assert kinds["f"] == "definition" and kinds["len"] == "builtin" and kinds["x"] == "name"
    assert kinds["# n"] == "comment" and kinds["("] == "operator"


def test_untokenizable_code_is_one_plain_segment():
    source = "x = (1,\n"  # unclosed bracket: tokenize raises at EOF
    assert highlight_python(source) == [["", source]]


def test_code_html_escapes_everything():
    html = code_to_html("s = '<script>alert(1)</script>'  # <b>x</b>")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_code_view_syncs_segments():
    view = CodeView("pass\n", title="t")
    assert view.segments == [["keyword", "pass"], ["", "\n"]]
    view.source = "x = 1"
    assert view.segments[0] == ["name", "x"]


def test_panel_outside_kernel_warns_and_bad_area_suggests():
    heat = Heatmap(torch.rand(2, 2))
    with pytest.warns(RuntimeWarning, match="needs a running Jupyter kernel"):
        assert panel(heat, title="x") is None
    with pytest.raises(ValueError, match="Did you mean: right"):
        panel(heat, area="rihgt")
    with pytest.raises(TypeError, match="got int"):
        panel(3, title="x")
