"""Cache decompositions and weight views on the #23 variants: exact (float64 sums against the
cached forward pass) or refused with an error that names the layer and the reason.

References are the model's own cached streams, norm outputs and attention scores, never the
decomposition code.
"""

import math

import pytest
import torch
from reference_model import randomize_parameters

from workbench.core.cache_norm import DecompositionError
from workbench.core.config import ModelConfig
from workbench.core.model import Model
from workbench.core.model_views import ViewError

TOKENS = torch.randint(0, 40, (2, 7), generator=torch.Generator().manual_seed(1))
SMALL = dict(d_model=32, n_layers=2, n_heads=2, d_mlp=48, d_vocab=40, n_ctx=16)


def run(**overrides):
    model = Model(ModelConfig(**{**SMALL, **overrides})).double().eval()
    randomize_parameters(model)
    with torch.no_grad():
        _, cache = model.run_with_cache(TOKENS)
    return model, cache


def exact(a, b) -> None:
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(attention="topk_softmax"),
        dict(attention={"name": "topk_softmax", "k": 2}),
        dict(attention={"name": "probsparse", "u": 2}),
        dict(attention="retention"),
        dict(attention="collapsed", attn_bias=True),
        dict(attention="mssa"),
        dict(mlp="pattention"),
        dict(mlp={"name": "matformer", "width": 12}),
        dict(attention=["softmax", "gla"], mlp=["matformer", "swiglu"]),
    ],
    ids=[
        "topk",
        "topk2",
        "probsparse",
        "retention",
        "collapsed",
        "mssa",
        "pattention",
        "matformer12",
        "hybrid",
    ],  # fmt: skip
)
def test_per_head_and_per_neuron_stacks_sum_to_the_stream(overrides):
    _, cache = run(**overrides)
    with torch.no_grad():
        final = cache["resid_post", -1]
        exact(cache.get_full_resid_decomposition().sum(0), final)
        exact(cache.get_full_resid_decomposition(expand_neurons=False).sum(0), final)
        exact(cache.stack_head_results(layer=1, incl_remainder=True).sum(0), cache["resid_pre", 1])


def test_matformer_neurons_are_its_active_width_per_layer():
    _, cache = run(mlp=[{"name": "matformer", "width": 12}, "relu"])
    stack, labels = cache.stack_neuron_results(layer=2, return_labels=True)
    assert labels[11] == "L0N11" and labels[12] == "L1N0" and len(labels) == 12 + 48
    terms = stack[:12].sum(0) + cache.model.blocks[0].mlp.b_out
    exact(terms, cache["blocks.0.hook_mlp_out"])


def test_a_mamba_hybrid_decomposes_by_sublayer_and_refuses_heads_naming_the_layer():
    model, cache = run(attention=["mamba", "softmax"])
    with torch.no_grad():
        exact(cache.decompose_resid().sum(0), cache["resid_post", -1])
        stack = cache.decompose_resid(layer=1)
        folded = cache.apply_ln_to_stack(stack, 1).sum(0)
        ln1 = model.blocks[1].ln1
        exact(folded * ln1.w + ln1.b, cache["blocks.1.ln1.hook_normalized"])
    match = r"blocks\.0\.attn is a SelectiveSSM.*layers with heads: blocks\.1"
    with pytest.raises(DecompositionError, match=match):
        cache.stack_head_results()
    with pytest.raises(DecompositionError, match=r"blocks\.0\.attn"):
        model.accumulated_bias(1)
    with pytest.raises(ViewError, match=r"model\.W_Q: blocks\.0\.attn is a SelectiveSSM"):
        model.W_Q  # noqa: B018
    with pytest.raises(ViewError, match=r"model\.QK: blocks\.0\.attn"):
        model.QK  # noqa: B018
    assert model.blocks[1].attn.W_Q.shape == (2, 32, 16)  # per layer it exists


def test_heads_before_a_mamba_layer_are_still_exact():
    _, cache = run(attention=["softmax", "mamba"])
    with torch.no_grad():
        exact(cache.stack_head_results(layer=1, incl_remainder=True).sum(0), cache["resid_pre", 1])


def test_identity_mixer_adds_zeros_and_its_stream_is_read_by_ln2():
    model, cache = run(attention=["identity", "softmax"])
    assert not cache["blocks.0.hook_attn_out"].any()
    with torch.no_grad():
        exact(cache.decompose_resid().sum(0), cache["resid_post", -1])
        # layer 0 has no ln1: the norm reading resid_pre is ln2 (resid_mid == resid_pre)
        folded = cache.apply_ln_to_stack(cache.decompose_resid(layer=0), 0).sum(0)
        ln2 = model.blocks[0].ln2
        exact(folded * ln2.w + ln2.b, cache["blocks.0.ln2.hook_normalized"])
    with pytest.raises(DecompositionError, match=r"blocks\.0\.attn is the identity mixer"):
        cache.stack_head_results()


def test_macaron_includes_the_first_half_ffn_and_refuses_per_neuron_terms():
    model, cache = run(block="macaron")
    with torch.no_grad():
        stack, labels = cache.decompose_resid(return_labels=True)
        assert labels[:5] == ["embed", "pos_embed", "0_layout_mlp_out", "0_attn_out", "0_mlp_out"]
        exact(stack.sum(0), cache["resid_post", -1])
        without_first = stack[[i for i, n in enumerate(labels) if "layout" not in n]].sum(0)
        assert (without_first - cache["resid_post", -1]).abs().max() > 1e-3  # it matters
        full = cache.get_full_resid_decomposition(expand_neurons=False)
        exact(full.sum(0), cache["resid_post", -1])
        # the stream into layer 1 is read first by the half-FFN's norm, layout.ln
        folded = cache.apply_ln_to_stack(cache.decompose_resid(layer=1), 1).sum(0)
        ln = model.blocks[1].layout.ln
        exact(folded * ln.w + ln.b, cache["blocks.1.layout.ln.hook_normalized"])
    with pytest.raises(DecompositionError, match=r"blocks\.0 is a macaron block"):
        cache.get_full_resid_decomposition()
    with pytest.raises(DecompositionError, match=r"blocks\.0 is 'macaron'"):
        cache.decompose_resid(layer=1, mlp_input=True)
    with pytest.raises(DecompositionError) as err:  # the refusal names the method asked
        model.accumulated_bias(1)
    assert str(err.value) == (
        "accumulated_bias: blocks.0 is a macaron block: two half-FFNs (layout.mlp, then mlp, "
        "each output halved), so its neurons are not mlp.W_out's alone; use "
        "expand_neurons=False / decompose_resid (it includes 0_layout_mlp_out)"
    )


def test_gated_residual_is_refused_because_the_stream_is_not_a_sum():
    _, cache = run(block="gated_residual")
    plain = cache["resid_pre", 0] + cache["blocks.0.hook_attn_out"]
    assert (plain - cache["resid_mid", 0]).abs().max() > 1e-3  # why it must refuse
    for method in ("decompose_resid", "stack_head_results", "get_full_resid_decomposition"):
        with pytest.raises(DecompositionError, match=r"blocks\.0, blocks\.1 use .*gated_residual"):
            getattr(cache, method)()


def test_ista_neurons_are_refused_and_its_sublayer_sum_stays_exact():
    _, cache = run(mlp="ista")
    with pytest.raises(DecompositionError, match=r"blocks\.0\.mlp is a ISTABlock.*ISTA"):
        cache.stack_neuron_results(layer=1)
    with torch.no_grad():
        exact(
            cache.get_full_resid_decomposition(expand_neurons=False).sum(0), cache["resid_post", -1]
        )


def masked_close(expected, scores) -> None:
    keep = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
    exact(expected[..., keep], scores[..., keep])


def test_collapsed_qk_is_its_w_qk_and_w_q_does_not_exist():
    model, cache = run(attention="collapsed", attn_bias=True)
    attn = model.blocks[0].attn
    with pytest.raises(ViewError, match=r"model\.W_Q: blocks\.0\.attn is a CollapsedAttention"):
        model.W_Q  # noqa: B018
    x = cache["blocks.0.ln1.hook_normalized"]
    with torch.no_grad():  # the scores of the forward pass, from the QK view
        qk = model.QK.AB[0]
        bilinear = torch.einsum("bqd,hde,bke->bhqk", x, qk, x)
        key_bias = torch.einsum("hd,bkd->bhk", attn.b_QK, x)[:, :, None]
        expected = (bilinear + key_bias) / math.sqrt(model.cfg.d_head)
        masked_close(expected, cache["blocks.0.attn.hook_attn_scores"])
        ov = model.OV.AB[0]  # W_OV: head h adds pattern_h x W_OV[h]
        z = torch.einsum("bhqk,bkd->bqhd", cache["blocks.0.attn.hook_pattern"], x)
        out = torch.einsum("bqhd,hde->bqe", z, ov) + attn.b_O
        exact(out, cache["blocks.0.hook_attn_out"])


def test_mssa_qk_and_ov_are_its_basis_products():
    model, cache = run(attention="mssa")
    x = cache["blocks.0.ln1.hook_normalized"]
    with torch.no_grad():
        qk, ov = model.QK.AB[0], model.OV.AB[0]
        scores = torch.einsum("bqd,hde,bke->bhqk", x, qk, x) / math.sqrt(model.cfg.d_head)
        masked_close(scores, cache["blocks.0.attn.hook_attn_scores"])
        mixed = torch.einsum("bhqk,bkd->bqhd", cache["blocks.0.attn.hook_pattern"], x)
        out = torch.einsum("bqhd,hde->bqe", mixed, ov) + model.blocks[0].attn.b_O
        exact(out, cache["blocks.0.hook_attn_out"])
    with pytest.raises(ViewError, match=r"blocks\.0\.attn is a MSSA, which has no W_V"):
        model.W_V  # noqa: B018


def test_mixed_inner_sizes_of_qk_are_refused():
    model, _ = run(attention=["collapsed", "softmax"])
    with pytest.raises(ViewError, match=r"model\.QK: layers factor it with different inner"):
        model.QK  # noqa: B018


def test_w_pos_under_a_position_schedule_names_the_schedule():
    model, _ = run(position=["rotary", "none"])
    with pytest.raises(ViewError, match=r"position \['rotary', 'none'\] has no learned"):
        model.W_pos  # noqa: B018
