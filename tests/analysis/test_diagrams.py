"""Circuit diagrams (Abbott 2024) extracted from the model: every registered variant,
structure snapshots, sizes from the trace, FLOPs against torch's FlopCounterMode."""

import functools
import json
import os
import re
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from workbench import Model, ModelConfig
from workbench.analysis import diagrams, get_analysis
from workbench.analysis.diagrams import DiagramResult, compute
from workbench.analysis.result import Result
from workbench.core.config import VARIANT_FIELDS
from workbench.core.registry import REGISTRIES

SNAPSHOT = Path(__file__).with_name("diagram_signatures.json")
FIELD_OF = {registry.family: field for field, registry in VARIANT_FIELDS.items()}
VARIANTS = [(family, name) for family, reg in REGISTRIES.items() for name in reg.names()]


def tiny(**overrides) -> Model:
    fields = dict(d_model=32, n_layers=1, n_heads=2, d_vocab=50, n_ctx=16, seed=0)
    return Model(ModelConfig(**{**fields, **overrides})).eval()


def variant_model(family: str, name: str) -> Model:
    extra = {"n_layers": 3} if name == "looped" else {}  # a loop needs iterations to show
    return tiny(**{FIELD_OF[family]: name}, **extra)


@functools.cache
def variant_result(family: str, name: str) -> tuple[Model, DiagramResult]:
    """One model and diagram per variant, shared by the tests below (built once)."""
    model = variant_model(family, name)
    return model, compute(model, seq_len=8)


@pytest.fixture(scope="module")
def signatures() -> dict[str, str]:
    return json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}


@pytest.mark.parametrize(("family", "name"), VARIANTS, ids=[f"{f}-{n}" for f, n in VARIANTS])
def test_every_variant_renders_and_matches_its_structure(family, name, signatures):
    model, result = variant_result(family, name)
    svg = result.to_svg()
    xml.dom.minidom.parseString(svg)  # well-formed XML
    assert not [n.id for n in result.root.walk() if n.kind == "unknown"]  # every class has a rule
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert result.root.param_bytes == params  # every parameter drawn exactly once
    signature = result.root.signature()
    key = f"{family}/{name}"
    if os.environ.get("WORKBENCH_UPDATE_DIAGRAMS"):
        signatures[key] = signature
        SNAPSHOT.write_text(json.dumps(signatures, indent=0, sort_keys=True) + "\n")
    assert signatures.get(key) == signature, f"structure of {key} changed (see the snapshot)"


@pytest.mark.parametrize(("family", "name"), VARIANTS, ids=[f"{f}-{n}" for f, n in VARIANTS])
def test_each_hook_belongs_to_one_box_of_its_cached_shape(family, name):
    model, result = variant_result(family, name)
    _, cache = model.run_with_cache(torch.arange(8)[None])
    leaves = [n for n in result.root.walk() if n.hook and not n.children]
    hooks = [n.hook for n in leaves]
    assert len(hooks) == len(set(hooks)), "two boxes claim the same hook point"
    for node in leaves:
        assert [a.size for a in node.output] == list(cache[node.hook].shape), node.id


def test_variants_differ_where_their_computation_differs():
    def labels(family, name):
        return [n.label for n in variant_result(family, name)[1].root.walk()]

    assert "sigmoid(s + b)" in labels("attention", "sigmoid")
    assert "softmax" in labels("attention", "softmax")
    assert "RMSNorm" in labels("norm", "rmsnorm") and "LayerNorm" not in labels("norm", "rmsnorm")
    assert "GLU split" in labels("mlp", "swiglu")
    assert "ComRoPE" in labels("position", "comrope") and "RoPE" in labels("position", "rotary")
    assert "S += beta (v - S k) k^T" in labels("attention", "deltanet")
    assert "looped x3" in labels("reparam", "looped")
    assert any(label.startswith("MoE (top-") for label in labels("mlp", "moe"))


def test_softmax_is_marked_on_key_pos_and_contractions_name_their_axes():
    root = compute(tiny(), seq_len=8).root
    assert "causal mask" in root.find("blocks.0.attn.scores").note
    encoder = compute(tiny(causal=False), seq_len=8).root
    assert encoder.find("blocks.0.attn.scores").note == "no causal mask"
    assert root.find("blocks.0.attn.weights").reduced == ("key_pos",)
    assert root.find("blocks.0.attn.scores").joined == ("d_head",)
    assert root.find("blocks.0.attn.mix").joined == ("key_pos",)
    assert root.find("blocks.0.attn.out").joined == ("heads", "d_head")
    assert root.find("blocks.0.mlp.out").joined == ("d_mlp",)
    assert root.find("blocks.0.attn_residual").layout == "residual"


def test_axis_sizes_come_from_the_trace():
    wide = compute(tiny(d_head=16), seq_len=8)
    narrow = compute(tiny(d_head=8), seq_len=5)
    q = {a.name: a.size for a in narrow.root.find("blocks.0.attn.q").output}
    assert q == {"batch": 1, "pos": 5, "heads": 2, "d_head": 8}
    assert "d_head 16" in wide.to_svg() and "d_head 16" not in narrow.to_svg()
    assert "d_head 8" in narrow.to_svg() and "pos 5" in narrow.to_svg()


def test_grouped_query_keys_are_labelled_kv_heads():
    result = compute(tiny(n_heads=4, n_kv_heads=2), seq_len=8)
    k = result.root.find("blocks.0.attn.k").output
    assert [(a.name, a.size) for a in k][2] == ("kv_heads", 2)


def eager_flops(model: Model, tokens) -> dict[str, int]:
    """FlopCounterMode per module. A hook on hook_pattern makes attention take its einsum
    path: FlopCounterMode has no formula for the CPU flash-attention op SDPA dispatches to."""
    force_eager = [(lambda n: n.endswith("hook_pattern"), lambda t, hook: None)]
    with torch.no_grad(), model.hooks(fwd_hooks=force_eager), FlopCounterMode(display=False) as c:
        model(tokens)
    return {name: sum(ops.values()) for name, ops in c.get_flop_counts().items()}


@pytest.mark.parametrize("mlp", ["relu", "swiglu"])
def test_flops_agree_with_torch_flop_counter(mlp):
    model = tiny(d_model=64, n_heads=4, n_ctx=64, mlp=mlp)
    result = compute(model, seq_len=32)
    measured = eager_flops(model, torch.arange(32)[None] % 50)
    for ours, theirs in (
        ("blocks.0.attn", "Model.blocks.0.attn"),
        ("blocks.0.mlp", "Model.blocks.0.mlp"),
    ):
        estimate = result.root.find(ours).flops
        assert abs(estimate - measured[theirs]) <= 0.05 * measured[theirs], (
            ours,
            estimate,
            measured[theirs],
        )


def test_group_costs_are_the_sums_of_their_children():
    root = compute(tiny(n_layers=2), seq_len=8).root
    for node in root.walk():
        if node.children:
            assert node.flops == node.repeat * sum(c.flops for c in node.children)
            assert node.param_bytes == sum(c.param_bytes for c in node.children)
    model_params = sum(p.numel() * p.element_size() for p in tiny(n_layers=2).parameters())
    assert root.param_bytes == model_params  # every parameter drawn exactly once


def test_json_round_trip_keeps_the_structure(tmp_path):
    result = compute(tiny(), seq_len=8)
    loaded = Result.from_json(result.to_json(tmp_path / "diagram.json"))
    assert isinstance(loaded, DiagramResult)
    assert loaded.root.signature() == result.root.signature()
    assert loaded.to_svg() == result.to_svg()


def test_given_tokens_set_the_traced_length_and_export_writes_svg_and_tex(tmp_path):
    result = compute(tiny(), torch.arange(5)[None])
    assert result.seq_len == 5 and result.metadata.n_tokens == 5
    svg = result.export(tmp_path / "d.svg")
    xml.dom.minidom.parseString(svg.read_text())
    assert json.loads((tmp_path / "d.svg.json").read_text())["model_name"] == "workbench-model"
    assert result.export(tmp_path / "d.tex").read_text().startswith("\\documentclass")


def test_bad_inputs_raise_with_names():
    model = tiny()
    with pytest.raises(ValueError, match="seq_len must be in"):
        compute(model, seq_len=17)
    with pytest.raises(KeyError, match="Did you mean"):
        compute(model, seq_len=4).root.find("blocks.0.atn")
    with pytest.raises(ValueError, match="either data or seq_len"):
        compute(model, torch.arange(4)[None], seq_len=4)


def swiglu_tikz() -> str:
    return compute(tiny(mlp="swiglu"), seq_len=4).to_tikz(root="blocks.0")


def test_tikz_is_a_well_formed_standalone_document():
    tex = swiglu_tikz()
    assert tex.startswith("\\documentclass") and "d\\_model 32" in tex
    defined = set(re.findall(r"\\definecolor\{(\w+)\}\{HTML\}\{[0-9A-F]{6}\}", tex))
    used = set(re.findall(r"(?:fill|draw|text)=(c\d+)", tex))
    assert used and used <= defined  # every colour is defined before use
    body = re.sub(r"\\[{}]", "", tex)  # escaped braces are text
    assert body.count("{") == body.count("}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_tikz_compiles_with_pdflatex(tmp_path):
    tex = swiglu_tikz()
    has_standalone = subprocess.run(["kpsewhich", "standalone.cls"], capture_output=True).stdout
    if not has_standalone.strip():
        # A minimal TeX install (texlive-latex-base + pgf) lacks the standalone class
        # (texlive-latex-extra): still compile every line of the picture, in article.
        first, rest = tex.split("\n", 1)
        assert first.startswith("\\documentclass") and "standalone" in first
        tex = "\\documentclass{article}\\usepackage{tikz}\\pagestyle{empty}\n" + rest
    (tmp_path / "d.tex").write_text(tex)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "d.tex"], cwd=tmp_path,
                         capture_output=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")


def test_registered_for_the_report():
    entry = get_analysis("circuit_diagram")
    assert entry.compute is diagrams.compute
    from workbench.export.report import Report

    report = Report("t")
    entry.report_section(report, compute(tiny(), seq_len=4))
    html = report.to_html()
    assert "Neural circuit diagram" in html and "blocks.0" in html


def block_labels(result: DiagramResult, block: str) -> list[str]:
    return [n.label for n in result.root.find(block).walk()]


def test_a_hybrid_draws_each_block_from_its_own_layers_variant():
    model = tiny(
        n_layers=3, attention=["mamba", "softmax", "identity"], mlp=["relu", "ista", "relu"]
    )
    result = compute(model, seq_len=8)
    assert "Mamba selective SSM" in block_labels(result, "blocks.0")
    assert "softmax" not in block_labels(result, "blocks.0")
    assert "softmax" in block_labels(result, "blocks.1")
    assert any(label.startswith("ISTA step") for label in block_labels(result, "blocks.1"))
    wire = result.root.find("blocks.2.attn")  # identity: a wire that ends at resid_mid
    assert wire.kind == "wire" and wire.hook == "blocks.2.hook_resid_mid" and wire.flops == 0
    assert result.root.param_bytes == sum(p.numel() * 4 for p in model.parameters())


def test_a_local_window_is_marked_on_the_key_pos_reduction():
    spec = {"name": "softmax", "window": 3, "dilation": 2, "global_tokens": 1}
    weights = compute(tiny(attention=spec), seq_len=8).root.find("blocks.0.attn.weights")
    assert weights.reduced == ("key_pos (window 3, dilation 2, 1 global)",)
    assert "hidden keys get weight 0" in weights.note
    sigmoid = {"name": "sigmoid", "window": 4}
    weights = compute(tiny(attention=sigmoid), seq_len=8).root.find("blocks.0.attn.weights")
    assert weights.reduced == () and weights.label.endswith("window 4")


def test_bidirectional_mamba_draws_both_directions_with_the_branch_at_d_inner():
    model = tiny(attention={"name": "mamba", "bidirectional": True}, causal=False)
    root = compute(model, seq_len=8).root
    d_inner = model.blocks[0].attn.W_out.shape[0]
    assert root.find("blocks.0.attn.in_branch").output[-1].size == d_inner
    conv = root.find("blocks.0.attn.conv")
    assert conv.output[-1].size == 2 * d_inner and "both directions" in conv.label
    assert "forward + reversed" in root.find("blocks.0.attn.scan").label


def test_layouts_draw_their_own_sublayers_and_joins():
    macaron = compute(tiny(block="macaron"), seq_len=8).root
    first = macaron.find("blocks.0.layout.mlp_residual")
    assert first.layout == "residual" and first.hook == "blocks.0.layout.hook_resid"
    assert [c.label for c in first.children][-2:] == ["x 0.5", "+"]
    assert macaron.find("blocks.0.mlp_scale").label == "x 0.5"  # the second half-FFN
    gated = compute(tiny(block="gated_residual"), seq_len=8).root
    join = gated.find("blocks.0.attn_residual").children[-1]
    assert join.label == "GRU gate (replaces +)" and join.hook == "blocks.0.hook_resid_mid"
    assert gated.find("blocks.0.layout.attn_gate.z").hook == "blocks.0.layout.attn_gate.hook_z"


def test_new_mixers_are_drawn_as_what_they_compute():
    def labels(family, name):
        return [n.label for n in variant_result(family, name)[1].root.walk()]

    assert "S = gamma_h S + k^T v" in labels("attention", "retention")
    assert "S = diag(alpha_t) S + k^T v" in labels("attention", "gla")
    assert any(label.startswith("H = exp(delta A_h) H") for label in labels("attention", "mamba2"))
    assert "top-8 softmax" in labels("attention", "topk_softmax")
    assert any(label.startswith("ProbSparse") for label in labels("attention", "probsparse"))
    assert "x W_QK + b_QK" in labels("attention", "collapsed")
    assert "W_Q" not in labels("attention", "collapsed")
    assert "average over pos (window 3)" in labels("attention", "pool")
    assert "Theta V_P" in labels("mlp", "pattention")
    root = variant_result("attention", "collapsed")[1].root
    assert root.find("blocks.0.attn.scores").joined == ("d_model",)  # x W_QK meets x


def test_a_loop_with_untied_prefix_and_suffix_draws_them_around_the_cycle():
    reparam = {"name": "looped", "period": 1, "prefix": 1, "suffix": 1}
    model = tiny(n_layers=5, reparam=reparam)
    root = compute(model, seq_len=8).root
    labels = [c.label for c in root.children if c.kind in ("block", "loop")]
    assert labels == ["block 0", "looped x3", "block 4"]
    assert root.find("blocks.loop").children[0].id == "blocks.1"
    assert root.param_bytes == sum(p.numel() * 4 for p in model.parameters())
