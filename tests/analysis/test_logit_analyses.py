"""Logit lens and direct logit attribution against the model's own logits and plain float64
formulas; registration, JSON round trip, views, figures and report sections."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from reference_model import randomize_parameters

import workbench
from workbench import Model, ModelConfig
from workbench.analysis import Result, get_analysis, logit_attribution, logit_lens
from workbench.core.cache_norm import DecompositionError
from workbench.data.tokenizer import ByteTokenizer

TEXT = "the old dog sat on the mat"


def tiny(**overrides) -> Model:
    tok = ByteTokenizer()
    cfg = dict(d_model=32, n_layers=2, n_heads=4, d_mlp=64, d_vocab=tok.vocab_size, n_ctx=64)
    model = Model(ModelConfig(**{**cfg, **overrides}), tokenizer=tok).eval()
    randomize_parameters(model)
    return model


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_logit_lens_last_row_is_the_model_output(norm) -> None:
    model = tiny(norm=norm)
    result = logit_lens.compute(model, TEXT, top_k=3)
    with torch.no_grad():
        logits = model(model.to_tokens(TEXT))[0, :-1].double()
    targets = model.to_tokens(TEXT)[0, 1:]
    probs = logits.softmax(-1)
    expected = probs.gather(-1, targets[:, None])[:, 0]
    torch.testing.assert_close(result.target_prob[-1].double(), expected, atol=1e-5, rtol=0)
    rank = (logits > logits.gather(-1, targets[:, None])).sum(-1)
    assert torch.equal(result.target_rank[-1], rank)
    assert torch.equal(result.top_tokens[-1], logits.topk(3).indices)
    assert result.top_strings[-1][0] == model.to_str_tokens(logits.topk(3).indices[0])


def test_logit_lens_middle_row_is_the_final_norm_of_that_stream() -> None:
    """Plain float64: layer_norm(resid_pre 1) @ W_U + b_U, target given as a string."""
    model = tiny()
    result = logit_lens.compute(model, TEXT, target="o")
    _, cache = model.run_with_cache(model.to_tokens(TEXT))
    ln = model.ln_final
    normed = F.layer_norm(cache["resid_pre", 1][0].double(), (32,), ln.w.double(), ln.b.double())
    logits = normed @ model.unembed.W_U.double() + model.unembed.b_U.double()
    target = model.to_single_token("o")
    expected = logits.softmax(-1)[:, target]
    torch.testing.assert_close(result.target_prob[1].double(), expected, atol=1e-5, rtol=0)
    assert result.layer_labels == ["0_pre", "1_pre", "final_post"]


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm", "crmsnorm"])
def test_attributions_sum_to_the_logit_difference(norm) -> None:
    model = tiny(norm=norm)
    result = logit_attribution.compute(model, TEXT, position=5, answer="d", wrong="x")
    with torch.no_grad():
        logits = model(model.to_tokens(TEXT))[0, 5]
    diff = logits[model.to_single_token("d")] - logits[model.to_single_token("x")]
    total = result.component_attr.double().sum() + result.constant
    torch.testing.assert_close(total, diff.double(), atol=1e-5, rtol=0)
    assert result.component_labels[:3] == ["embed", "pos_embed", "0_attn_out"]


def test_head_attribution_is_the_plain_formula() -> None:
    """Head L1H2: z @ W_O, centred, over the final scale, dotted with w * (W_U[a] - W_U[b])."""
    model = tiny()
    result = logit_attribution.compute(model, TEXT, position=4, answer=100, wrong=101)
    _, cache = model.run_with_cache(model.to_tokens(TEXT))
    out = cache["z", 1][0, 4, 2].double() @ model.blocks[1].attn.W_O[2].double()
    resid = cache["resid_post", 1][0, 4].double()
    scale = ((resid - resid.mean()).pow(2).mean() + model.cfg.eps).sqrt()
    w_u = model.unembed.W_U.double()
    direction = model.ln_final.w.double() * (w_u[:, 100] - w_u[:, 101])
    expected = ((out - out.mean()) / scale) @ direction
    torch.testing.assert_close(result.head_attr[1, 2].double(), expected, atol=1e-5, rtol=0)


def test_attention_only_model_keeps_its_head_attributions() -> None:
    """mlp="none": per-head shares exist (and add up to each layer's attention term),
    neurons are absent with the reason."""
    model = tiny(mlp="none")
    with torch.no_grad():
        for block in model.blocks:
            block.attn.b_O.zero_()  # then a layer's attention term is its heads' sum
    result = logit_attribution.compute(model, TEXT, position=5, answer="d", wrong="x")
    assert result.neuron_attr is None and "have no MLP" in result.unit_note
    assert result.head_attr.shape == (model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        component = result.component_attr[result.component_labels.index(f"{layer}_attn_out")]
        torch.testing.assert_close(result.head_attr[layer].sum(), component, atol=1e-5, rtol=0)


def test_attribution_defaults_and_refusals() -> None:
    model = tiny()
    result = logit_attribution.compute(model, TEXT)
    with torch.no_grad():
        top2 = model(model.to_tokens(TEXT))[0, -1].topk(2).indices.tolist()
    assert [result.answer, result.wrong] == top2
    peri = logit_attribution.compute(tiny(norm_placement="peri"), TEXT)
    assert peri.head_attr is None and "peri" in peri.unit_note
    with pytest.raises(DecompositionError, match="post"):
        logit_attribution.compute(tiny(norm_placement="post"), TEXT)
    with pytest.raises(ValueError, match="outside"):
        logit_attribution.compute(model, TEXT, position=99)


@pytest.mark.parametrize("module", [logit_lens, logit_attribution], ids=["lens", "dla"])
def test_default_model_round_trip_view_figure_report(module, tmp_path) -> None:
    from workbench.export import Report, figure
    from workbench.widgets import view

    model, _ = workbench.load_default()
    name = {logit_lens: "logit_lens", logit_attribution: "logit_attribution"}[module]
    analysis = get_analysis(name)
    result = analysis.compute(model)  # defaults: a corpus window
    loaded = Result.from_json(result.to_json(tmp_path / "r.json"))
    assert type(loaded) is type(result) and loaded.token_strings == result.token_strings
    assert view(result) is not None and len(figure(result).data) >= 1
    report = Report("t")
    analysis.report_section(report, result)
    assert name.split("_")[1] in report.to_html().lower()
    # rendering to PDF/SVG: tests/export/test_export_report.py exports every registered figure
