"""The TransformerLens cache methods and weight views equal TransformerLens's own, on a
`TransformerBridge.boot_native` model converted with `from_transformer_lens` (fp32, 1e-5)."""

import pytest
import torch

pytest.importorskip("transformer_lens")
from tl_reference import bridge, pair  # noqa: E402

ATOL = 1e-5
TOKENS = torch.randint(0, 60, (3, 9), generator=torch.Generator().manual_seed(0))


def close(ours, theirs) -> None:
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


@pytest.fixture(scope="module", params=["LN", "RMS"])
def caches(request):
    tl, model = pair(normalization_type=request.param)
    with torch.no_grad():
        _, theirs = tl.run_with_cache(TOKENS)
        _, ours = model.run_with_cache(TOKENS)
    return theirs, ours


def both(caches, method: str, **kwargs):
    theirs, ours = caches
    with torch.no_grad():
        return getattr(ours, method)(**kwargs), getattr(theirs, method)(**kwargs)


def check(caches, method: str, **kwargs) -> None:
    (ours, our_labels), (theirs, their_labels) = both(caches, method, return_labels=True, **kwargs)
    assert our_labels == their_labels
    close(ours, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"incl_mid": True}, {"apply_ln": True}, {"layer": 1, "apply_ln": True, "mlp_input": True},
     {"layer": 1, "apply_ln": True, "pos_slice": -1}, {"pos_slice": (2, 6)}],
)  # fmt: skip
def test_accumulated_resid(caches, kwargs) -> None:
    check(caches, "accumulated_resid", **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"mode": "attn"}, {"mode": "mlp", "apply_ln": True}, {"layer": 1, "mlp_input": True,
     "apply_ln": True}, {"incl_embeds": False, "pos_slice": [0, 4]}, {"apply_ln": True}],
)  # fmt: skip
def test_decompose_resid(caches, kwargs) -> None:
    check(caches, "decompose_resid", **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"incl_remainder": True, "apply_ln": True}, {"layer": 1, "pos_slice": -1},
     {"layer": 1, "incl_remainder": True, "apply_ln": True}],
)  # fmt: skip
def test_stack_head_results(caches, kwargs) -> None:
    check(caches, "stack_head_results", **kwargs)


def test_compute_head_results(caches) -> None:
    theirs, ours = caches
    with torch.no_grad():
        theirs.compute_head_results()
        ours.compute_head_results()
    for layer in range(2):
        key = f"blocks.{layer}.attn.hook_result"
        close(ours[key], theirs[key])


@pytest.mark.parametrize(
    "kwargs",
    [{"layer": 2}, {"layer": 2, "apply_ln": True, "incl_remainder": True},
     {"layer": 1, "mlp_input": True, "apply_ln": True, "incl_remainder": True},
     {"layer": 2, "neuron_slice": (3, 20), "pos_slice": -1}, {"layer": 2, "neuron_slice": 5}],
)  # fmt: skip
def test_stack_neuron_results(caches, kwargs) -> None:
    check(caches, "stack_neuron_results", **kwargs)


@pytest.mark.parametrize("apply_ln", [False, True])
@pytest.mark.parametrize("project", ["none", "1d", "2d"])
def test_stack_neuron_results_projected(caches, apply_ln, project) -> None:
    direction = torch.randn(32, 3, generator=torch.Generator().manual_seed(2))
    onto = {"none": None, "1d": direction[:, 0], "2d": direction}[project]
    ours, theirs = both(
        caches, "stack_neuron_results", layer=2, apply_ln=apply_ln, incl_remainder=True,
        project_output_onto=onto,
    )  # fmt: skip
    close(ours, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"expand_neurons": False}, {"apply_ln": True}, {"layer": 1, "mlp_input": True,
     "apply_ln": True}, {"layer": 1, "expand_neurons": False, "pos_slice": -1}],
)  # fmt: skip
def test_get_full_resid_decomposition(caches, kwargs) -> None:
    check(caches, "get_full_resid_decomposition", **kwargs)


@pytest.mark.parametrize("project", ["1d", "2d"])
def test_get_full_resid_decomposition_projected(caches, project) -> None:
    direction = torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
    onto = direction[:, 0] if project == "1d" else direction
    for kwargs in ({"apply_ln": True}, {"layer": 1, "mlp_input": True, "apply_ln": True}, {}):
        ours, theirs = both(caches, "get_full_resid_decomposition", project_output_onto=onto,
                            pos_slice=-1, **kwargs)  # fmt: skip
        close(ours, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"layer": 1}, {"layer": 1, "mlp_input": True}, {"layer": 0, "batch_slice": [0, 2]},
     {"recompute_ln": True}],
)  # fmt: skip
def test_apply_ln_to_stack(caches, kwargs) -> None:
    theirs, _ = caches
    stack = theirs.decompose_resid(layer=0)
    ours, tl = both(caches, "apply_ln_to_stack", residual_stack=stack, **kwargs)
    close(ours, tl)


def test_apply_slice_to_batch_dim(caches) -> None:
    theirs, ours = caches
    for index in (1, (0, 2)):
        sliced_ours, sliced_theirs = (
            ours.apply_slice_to_batch_dim(index),
            theirs.apply_slice_to_batch_dim(index),
        )
        assert sliced_ours.has_batch_dim == sliced_theirs.has_batch_dim
        close(sliced_ours["resid_post", 1], sliced_theirs["blocks.1.hook_resid_post"])


def test_stack_activation_and_transformer_lens_argument_order(caches) -> None:
    from workbench.core.cache import ActivationCache

    theirs, ours = caches
    for name in ("pattern", "resid_mid", "post"):
        close(ours.stack_activation(name), theirs.stack_activation(name))
    swapped = ActivationCache(ours.cache_dict, ours.model, False)  # TransformerLens's order
    assert swapped.model is ours.model and swapped.has_batch_dim is False


@pytest.mark.parametrize("norm", ["LN", "RMS"])
def test_logit_attrs_equals_tl_on_a_folded_bridge(norm) -> None:
    """TransformerLens's `logit_attrs` is right once the final norm's weight is folded into
    W_U (`fold_ln`); ours folds it itself, on the unfolded weights."""
    tl, model = pair(normalization_type=norm)
    folded = bridge(normalization_type=norm)
    folded.process_weights(
        fold_ln=True, center_writing_weights=False, center_unembed=False, fold_value_biases=False
    )
    with torch.no_grad():
        _, theirs = folded.run_with_cache(TOKENS)
        _, ours = model.run_with_cache(TOKENS)
        stack = ours.get_full_resid_decomposition(pos_slice=-1)
        args = dict(tokens=TOKENS[:, -1], incorrect_tokens=TOKENS[:, 0], pos_slice=-1)
        close(ours.logit_attrs(stack, **args), theirs.logit_attrs(stack, **args))
        full = ours.decompose_resid()
        close(ours.logit_attrs(full, tokens=7), theirs.logit_attrs(full, tokens=7))
        # one token per example over all 9 positions (batch 3 != pos 9): each example's
        # slice is the single-token attribution just checked against TransformerLens
        per_example = ours.logit_attrs(full, tokens=TOKENS[:, -1])
        for b in range(3):
            single = ours.logit_attrs(full, tokens=int(TOKENS[b, -1]))
            close(per_example[:, b], single[:, b])


def test_weight_views() -> None:
    tl, model = pair()
    names = ["W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O", "W_in", "W_out", "b_in",
             "b_out", "W_E", "W_U", "b_U", "W_pos"]  # fmt: skip
    for name in names:
        close(getattr(model, name), getattr(tl, name))
    assert model.all_head_labels == tl.all_head_labels
    tokens = torch.tensor([[3, 5], [7, 9]])
    close(model.tokens_to_residual_directions(tokens), tl.tokens_to_residual_directions(tokens))
    close(model.tokens_to_residual_directions(4), tl.tokens_to_residual_directions(4))
    close(model.accumulated_bias(1, mlp_input=True), tl.accumulated_bias(1, mlp_input=True))


def test_qk_ov_circuits_with_rotary_and_grouped_query_heads() -> None:
    """Rotary models permute query/key dimensions on conversion: W_Q differs by that
    permutation, the QK circuit (a sum over them) does not."""
    tl, model = pair(positional_embedding_type="rotary", n_key_value_heads=2)
    for name in ("QK", "OV"):
        ours, theirs = getattr(model, name), getattr(tl, name)
        assert ours.shape == theirs.shape
        close(ours.AB, theirs.AB)
        close(ours.S, theirs.S)
        close(ours.norm(), theirs.norm())
        eig = lambda m: torch.sort(m.eigenvalues.abs(), dim=-1).values  # noqa: E731
        close(eig(ours), eig(theirs))
