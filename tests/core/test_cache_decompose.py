"""Decompositions on workbench-native models: exact where they should be, refused elsewhere.

References are the model's own forward pass (cached streams, each norm's `hook_normalized`,
the logits), never the decomposition code.
"""

import pytest
import torch
from reference_model import randomize_parameters

from workbench.core.cache import ActivationCache, act_name
from workbench.core.cache_norm import DecompositionError
from workbench.core.config import ModelConfig
from workbench.core.model import Model
from workbench.core.model_views import ViewError

TOKENS = torch.randint(0, 40, (2, 8), generator=torch.Generator().manual_seed(0))
SMALL = dict(d_model=32, n_layers=2, n_heads=4, d_mlp=64, d_vocab=40, n_ctx=16)


def run(**overrides):
    model = Model(ModelConfig(**{**SMALL, **overrides})).eval()
    randomize_parameters(model)
    with torch.no_grad():
        logits, cache = model.run_with_cache(TOKENS)
    return model, logits, cache


def close(a, b) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm", "crmsnorm"])
def test_decompositions_sum_to_the_stream(norm) -> None:
    model, _, cache = run(norm=norm)
    with torch.no_grad():
        final = cache["resid_post", -1]
        close(cache.decompose_resid().sum(0), final)
        for expand in (True, False):
            close(cache.get_full_resid_decomposition(expand_neurons=expand).sum(0), final)
        mid = cache.get_full_resid_decomposition(layer=1, mlp_input=True).sum(0)
        close(mid, cache["resid_mid", 1])
        heads = cache.stack_head_results(layer=1, incl_remainder=True)
        close(heads.sum(0), cache["resid_pre", 1])


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm", "crmsnorm"])
def test_folded_norm_rebuilds_each_norm_output(norm) -> None:
    """sum_i lin(c_i) / s * w (+ b) is what each norm hands on: ln1, ln2 and ln_final."""
    model, _, cache = run(norm=norm)
    targets = [(0, False, "blocks.0.ln1"), (1, True, "blocks.1.ln2"), (2, False, "ln_final")]
    with torch.no_grad():
        for layer, mlp_input, name in targets:
            stack = cache.decompose_resid(layer=layer, mlp_input=mlp_input)
            folded = cache.apply_ln_to_stack(stack, layer, mlp_input=mlp_input).sum(0)
            module = model.get_submodule(name)
            rebuilt = folded * module.w + (module.b if hasattr(module, "b") else 0)
            close(rebuilt, cache[f"{name}.hook_normalized"])


@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm", "crmsnorm"])
def test_logit_attributions_sum_to_the_logit_difference(norm) -> None:
    model, logits, cache = run(norm=norm)
    right, wrong = TOKENS[:, -1], TOKENS[:, 0]
    with torch.no_grad():
        stack = cache.get_full_resid_decomposition(pos_slice=-1)
        attrs = cache.logit_attrs(stack, tokens=right, incorrect_tokens=wrong, pos_slice=-1)
        # the constants logit_attrs leaves out: final-norm bias through W_U, and b_U
        w_u, b_u = model.unembed.W_U, model.unembed.b_U
        bias = getattr(model.ln_final, "b", torch.zeros(32))
        const = bias @ (w_u[:, right] - w_u[:, wrong]) + b_u[right] - b_u[wrong]
    rows = torch.arange(2)
    diff = logits[rows, -1, right] - logits[rows, -1, wrong]
    close(attrs.sum(0) + const, diff)


def test_logit_lens_last_layer_is_the_model_logits() -> None:
    model, logits, cache = run(norm="rmsnorm")
    with torch.no_grad():
        resid = cache.accumulated_resid(apply_ln=True)
        close(resid[-1] @ model.W_U + model.b_U, logits)


def test_gated_attention_heads_decompose_exactly() -> None:
    """The gate multiplies z before `hook_z`, so z @ W_O still sums to attn_out."""
    model, _, cache = run(attention="gated")
    with torch.no_grad():
        heads = cache.stack_head_results(layer=1)
        close(heads.sum(0) + model.blocks[0].attn.b_O, cache["attn_out", 0])


def test_peri_norm_refuses_per_head_results_but_decomposes_sublayers() -> None:
    _, _, cache = run(norm_placement="peri")
    with torch.no_grad():
        close(cache.decompose_resid().sum(0), cache["resid_post", -1])
        with pytest.raises(DecompositionError, match="peri.*decompose_resid"):
            cache.stack_head_results()
        with pytest.raises(DecompositionError, match="peri"):
            cache.stack_neuron_results(2)


def test_post_norm_refuses_every_decomposition() -> None:
    _, _, cache = run(norm_placement="post")
    with pytest.raises(DecompositionError, match="post.*residual sum"):
        cache.decompose_resid()
    with pytest.raises(DecompositionError, match="post"):
        cache.get_full_resid_decomposition()
    with pytest.raises(DecompositionError, match="into layer 1"):
        cache.apply_ln_to_stack(cache.accumulated_resid(layer=1), layer=1)


def test_embed_norm_refuses_decompositions() -> None:
    _, _, cache = run(embed_norm=True)
    with pytest.raises(DecompositionError, match="embed_norm"):
        cache.decompose_resid()
    with pytest.raises(DecompositionError, match="embed_norm"):
        cache.stack_head_results()


def test_parallel_block_refuses_mlp_input() -> None:
    _, _, cache = run(block="parallel")
    close(cache.decompose_resid().sum(0), cache["resid_post", -1])
    with pytest.raises(DecompositionError, match="parallel.*reads resid_pre"):
        cache.decompose_resid(layer=1, mlp_input=True)


def test_variants_without_heads_or_neurons_name_the_layer() -> None:
    model, _, cache = run(attention="mamba")
    with pytest.raises(DecompositionError, match=r"blocks\.0\.attn is a .*no attention heads"):
        cache.stack_head_results()
    with pytest.raises(ViewError, match=r"blocks\.0\.attn is a .* has no W_Q"):
        model.W_Q  # noqa: B018
    model, _, cache = run(mlp={"name": "moe", "n_experts": 2, "k": 1})
    with pytest.raises(DecompositionError, match=r"blocks\.0\.mlp .*mixture of experts"):
        cache.stack_neuron_results(1)


def test_missing_views_and_model_are_clear_errors() -> None:
    model, _, cache = run(position="rotary")
    with pytest.raises(ViewError, match="position 'rotary' has no learned"):
        model.W_pos  # noqa: B018
    with pytest.raises(ValueError, match="needs the model"):
        ActivationCache(dict(cache.items())).decompose_resid()
    with pytest.raises(ValueError, match="layer must be in"):
        cache.decompose_resid(layer=5)


def test_scale_is_recomputed_when_not_cached() -> None:
    """A cache without hook_scale (names_filter) gives the same folded stack."""
    model, _, cache = run()
    with torch.no_grad():
        _, partial = model.run_with_cache(TOKENS, names_filter=lambda n: "scale" not in n)
        stack = cache.decompose_resid()
        close(partial.apply_ln_to_stack(stack), cache.apply_ln_to_stack(stack))


def test_toggle_autodiff_sets_global_grad_mode() -> None:
    _, _, cache = run()
    try:
        cache.toggle_autodiff(False)
        assert not torch.is_grad_enabled()
        cache.toggle_autodiff(True)
        assert torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)


def test_short_names_expand_to_hooks_the_cache_holds() -> None:
    """Run 8 (issue #20): every short name `cache[name, layer]` accepts reaches a real hook;
    a norm's `scale` / `normalized` defaults to ln1 (TransformerLens would say
    `blocks.{l}.hook_scale`, which a workbench model does not have)."""
    _, _, cache = run()
    for layer in (0, 1):
        for name in ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "q", "k",
                     "v", "z", "pattern", "attn_scores", "pre", "post"):  # fmt: skip
            assert act_name(name, layer) in cache.cache_dict, name
        for name in ("scale", "normalized"):
            assert act_name(name, layer) == f"blocks.{layer}.ln1.hook_{name}"
            assert act_name(name, layer, "ln2") == f"blocks.{layer}.ln2.hook_{name}"
            for key in (act_name(name, layer), act_name(name, layer, "ln2")):
                assert key in cache.cache_dict, key
    assert act_name("embed", 1) == "hook_embed" and act_name("resid_pre") == "resid_pre"


def test_cache_to_moves_every_tensor_and_keeps_the_rest() -> None:
    """Run 8: `ActivationCache.to` had no test at all."""
    model, _, cache = run()
    moved = cache.to("meta")
    assert list(moved.cache_dict) == list(cache.cache_dict)
    for name, value in moved.cache_dict.items():
        assert value.device.type == "meta" and value.shape == cache[name].shape, name
    assert moved.model is model and moved.has_batch_dim == cache.has_batch_dim


# -- run 9 of the mutation sample: whole messages, defaults and branches no test reached ----


def test_decomposition_refusals_are_whole_messages() -> None:
    from workbench.core.cache_norm import NormFold

    _, _, cache = run()
    stack = cache.decompose_resid()
    with pytest.raises(
        ValueError, match=r"^mlp_input=True has no meaning at the unembedding \(layer n_layers\)$"
    ):
        cache.apply_ln_to_stack(stack, layer=2, mlp_input=True)
    with pytest.raises(
        ValueError,
        match=r"^decompose_resid: no components selected \(incl_embeds=False, layer 0\)$",
    ):
        cache.decompose_resid(layer=0, incl_embeds=False)
    with pytest.raises(
        DecompositionError,
        match=r"^ln_final is a LayerNorm; folding a norm into a residual stack is defined for "
        r"LayerNormModule, RMSNormModule, CRMSNormModule$",
    ):
        NormFold.of(torch.nn.LayerNorm(32), "ln_final")  # torch's own, not workbench's
    _, _, cache = run(block="parallel")
    with pytest.raises(DecompositionError) as caught:
        cache.decompose_resid(layer=1, mlp_input=True)
    assert str(caught.value) == (
        "decompose_resid: mlp_input=True assumes every block's MLP reads resid_mid; "
        "blocks.0 is 'parallel', blocks.1 is 'parallel' (a parallel block's MLP reads "
        "resid_pre, macaron adds a half-FFN before attention, gated_residual gates the "
        "stream); use mlp_input=False"
    )


def test_crmsnorm_scale_is_recomputed_from_its_formula() -> None:
    """CRMSNorm's scale sqrt((sum x^2 + (sum x)^2) / (d + 1) + eps), in float64, against the
    cached hook_scale; and a cache without hook_scale folds the same."""
    model, _, cache = run(norm="crmsnorm")
    x = cache["resid_post", -1].double()
    eps = model.ln_final.eps
    square = (x.pow(2).sum(-1, keepdim=True) + x.sum(-1, keepdim=True).pow(2)) / 33
    close(cache["ln_final.hook_scale"].double(), (square + eps).sqrt())
    with torch.no_grad():
        _, partial = model.run_with_cache(TOKENS, names_filter=lambda n: "scale" not in n)
        stack = cache.decompose_resid()
        close(partial.apply_ln_to_stack(stack), cache.apply_ln_to_stack(stack))


def test_head_stack_before_layer_zero_is_empty_and_remainder_is_the_sliced_stream() -> None:
    _, _, cache = run()
    empty, labels = cache.stack_head_results(layer=0, return_labels=True)
    assert empty.shape == (0, 2, 8, 32) and labels == []
    stack = cache.stack_head_results(layer=0, incl_remainder=True, pos_slice=-1)
    close(stack, cache["resid_pre", 0][None, :, -1])
    stack = cache.stack_head_results(layer=1, incl_remainder=True, pos_slice=[1, 3])
    close(stack.sum(0), cache["resid_pre", 1][:, [1, 3]])


def test_head_results_are_checked_against_the_cached_attention_output() -> None:
    """Weights changed after the run: the heads no longer sum to hook_attn_out, refused."""
    model, _, cache = run()
    with torch.no_grad():
        model.blocks[0].attn.W_O.mul_(2.0)
    with pytest.raises(DecompositionError, match=r"^stack_head_results, blocks\.0\.attn\.hook_"):
        cache.stack_head_results(layer=1)


def test_accumulated_bias_defaults_and_options_by_formula() -> None:
    model, _, _ = run()
    b_o = [block.attn.b_O for block in model.blocks]
    b_out = [block.mlp.b_out for block in model.blocks]
    with torch.no_grad():
        close(model.accumulated_bias(1), b_o[0] + b_out[0])  # default: mlp_input=False
        close(model.accumulated_bias(1, include_mlp_biases=False), b_o[0])
        close(model.accumulated_bias(1, mlp_input=True), b_o[0] + b_out[0] + b_o[1])
    model, _, _ = run(attention=["softmax", "mamba"])
    with pytest.raises(DecompositionError, match=r"^accumulated_bias: blocks\.1\.attn is a "):
        model.accumulated_bias(2)


def test_act_name_expands_pos_embed_like_embed() -> None:
    assert act_name("pos_embed") == "hook_pos_embed"
    assert act_name("embed") == "hook_embed"


def test_peri_norm_refusal_says_what_stays_exact() -> None:
    _, _, cache = run(norm_placement="peri")
    with pytest.raises(DecompositionError) as err:
        cache.stack_head_results()
    assert str(err.value) == (
        "stack_head_results: norm_placement 'peri' normalizes each sublayer's output "
        "(ln1_out/ln2_out), so per-head and per-neuron terms do not sum to attn_out/mlp_out; "
        "use decompose_resid (whole sublayers), which stays exact"
    )


def test_mlp_input_without_mlps_lists_every_layer() -> None:
    _, _, cache = run(mlp="none")
    with pytest.raises(DecompositionError) as err:
        cache.decompose_resid(layer=1, mlp_input=True)
    assert str(err.value) == (
        "decompose_resid: mlp_input=True asks for the stream an MLP reads, but blocks.0, "
        "blocks.1 have no MLP (mlp='none'); use mlp_input=False"
    )


def test_layer_out_of_range_names_the_method() -> None:
    _, _, cache = run()
    with pytest.raises(ValueError) as err:
        cache.stack_activation("resid_pre", layer=3)
    assert str(err.value) == "cache.stack_activation: layer must be in [0, 2] or -1, got 3"
    with pytest.raises(ValueError) as err:
        cache.apply_ln_to_stack(cache.accumulated_resid(layer=1), layer=3)
    assert str(err.value) == "cache.apply_ln_to_stack: layer must be in [0, 2] or -1, got 3"


def test_neuron_results_projected_onto_directions() -> None:
    """post_n * (W_out[n] . d) in float64 against the cached post activations, for one
    direction `[d_model]` and for two `[d_model, 2]`."""
    model, _, cache = run()
    post = cache["blocks.1.mlp.hook_post"].double()
    w_out = model.blocks[1].mlp.W_out.detach().double()
    directions = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        one = cache.get_neuron_results(1, project_output_onto=directions[:, 0])
        two = cache.get_neuron_results(1, project_output_onto=directions)
    close(one.double(), post * (w_out @ directions[:, 0].double()))
    close(two.double(), post[..., None] * (w_out @ directions.double()))


def test_negative_layer_keys_keep_their_sublayer() -> None:
    _, _, cache = run()
    for sub in ["ln1", "ln2"]:
        assert torch.equal(cache["normalized", -1, sub], cache[f"blocks.1.{sub}.hook_normalized"])


def test_a_cache_without_batch_dim_keeps_it_when_moved() -> None:
    model, _, cache = run()
    single = cache.apply_slice_to_batch_dim(0)
    moved = single.to("cpu")
    assert moved.has_batch_dim is False and moved.model is model
    with pytest.raises(ValueError, match="has no batch dimension"):
        moved.apply_slice_to_batch_dim(0)
