"""Batched activation patching and attribution patching against plain references: one
patched forward per patch (written here, not the library's masks), TransformerLens's
`patching` module, the exact linearisation and finite differences."""

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.analysis.patching_atp import attribution_patching, pearson_r
from workbench.analysis.patching_sweep import activation_patching

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=20, n_ctx=16, seed=1, init_range=0.1)
SITES = {
    "resid": "blocks.{}.hook_resid_pre",
    "attn_out": "blocks.{}.hook_attn_out",
    "mlp_out": "blocks.{}.hook_mlp_out",
    "head": "blocks.{}.attn.hook_z",
    "head_pos": "blocks.{}.attn.hook_z",
}


def pair(batch: int = 2, pos: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, 20, (batch, pos), generator=gen)
    return clean, torch.randint(0, 20, (batch, pos), generator=gen)


def logit_diff(logits: torch.Tensor) -> torch.Tensor:
    return (logits[:, -1, 3] - logits[:, -1, 5]).mean()


def one_at_a_time(model, clean, corrupted, metric, site: str) -> torch.Tensor:
    """A plain loop: one forward per patch, the slice assigned by indexing."""
    hook = SITES[site]
    _, cache = model.run_with_cache(clean)
    n_layers, n_pos, n_heads = CFG.n_layers, clean.shape[1], CFG.n_heads
    shape = {"head": (n_layers, n_heads), "head_pos": (n_layers, n_pos, n_heads)}
    out = torch.empty(shape.get(site, (n_layers, n_pos)))
    for index in _indices(out.shape):
        name = hook.format(index[0])

        def patch(act, hook, index=index, name=name):
            act = act.clone()
            if site == "head":
                act[:, :, index[1]] = cache[name][:, :, index[1]]
            elif site == "head_pos":
                act[:, index[1], index[2]] = cache[name][:, index[1], index[2]]
            else:
                act[:, index[1]] = cache[name][:, index[1]]
            return act

        with torch.no_grad():
            out[index] = metric(model.run_with_hooks(corrupted, fwd_hooks=[(name, patch)]))
    return out


def _indices(shape):
    return [tuple(int(i) for i in idx) for idx in torch.cartesian_prod(
        *(torch.arange(n) for n in shape)).reshape(-1, len(shape))]  # fmt: skip


@pytest.mark.parametrize("site", list(SITES))
@pytest.mark.parametrize("per_pass", [1, 5, None], ids=["1", "5", "auto"])
def test_batched_patching_equals_one_patch_at_a_time(site, per_pass) -> None:
    model = Model(CFG).eval()
    clean, corrupted = pair()
    got = activation_patching(model, clean, corrupted, logit_diff, site,
                              patches_per_pass=per_pass, progress=False)  # fmt: skip
    expected = one_at_a_time(model, clean, corrupted, logit_diff, site)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("site", ["resid", "head_pos"])
def test_patching_clean_into_clean_gives_the_clean_metric(site) -> None:
    model = Model(CFG).eval()
    clean, _ = pair()
    clean_metric = logit_diff(model(clean).detach())
    got = activation_patching(model, clean, clean, logit_diff, site, patches_per_pass=7,
                              progress=False)  # fmt: skip
    torch.testing.assert_close(got, torch.full_like(got, float(clean_metric)), atol=1e-5, rtol=0)


def test_same_values_as_transformer_lens_patching() -> None:
    pytest.importorskip("transformer_lens")
    import transformer_lens.model_bridge.sources.native  # noqa: F401
    from transformer_lens import patching
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    from workbench.adapters import from_transformer_lens

    tl_cfg = TransformerBridgeConfig(d_model=32, n_layers=2, n_heads=4, d_head=8, d_mlp=64,
                                     d_vocab=20, n_ctx=16, act_fn="relu",
                                     normalization_type="LN", seed=0)  # fmt: skip
    bridge = TransformerBridge.boot_native(tl_cfg).eval()
    model = from_transformer_lens(bridge)
    clean, corrupted = pair(pos=5)
    _, cache = bridge.run_with_cache(clean)
    with torch.no_grad():
        theirs_heads = patching.get_act_patch_attn_head_out_by_pos(bridge, corrupted, cache,
                                                                   logit_diff)  # fmt: skip
        theirs_resid = patching.get_act_patch_resid_pre(bridge, corrupted, cache, logit_diff)
    ours_heads = activation_patching(model, clean, corrupted, logit_diff, "head_pos",
                                     progress=False)  # fmt: skip
    ours_resid = activation_patching(model, clean, corrupted, logit_diff, "resid", progress=False)
    torch.testing.assert_close(ours_heads, theirs_heads.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_resid, theirs_resid.float(), atol=1e-5, rtol=1e-5)


def test_attribution_is_exact_where_the_metric_is_linear() -> None:
    """Without a final norm the logits are linear in the last layer's head outputs: there,
    AtP must equal real patching; earlier layers are nonlinear (and differ)."""
    # Large weights, so that layer 0's nonlinearity (softmax of layer 1) shows.
    model = Model(CFG.replace(norm_placement="none", mlp="none", init_range=0.4)).eval()
    clean, corrupted = pair()
    for site in ("head", "head_pos"):
        real = activation_patching(model, clean, corrupted, logit_diff, site, progress=False)
        atp = attribution_patching(model, clean, corrupted, logit_diff, site)
        assert float(real[-1].std()) > 0.1  # the patches matter
        torch.testing.assert_close(atp[-1], real[-1], atol=1e-4, rtol=1e-5)
        assert (atp[0] - real[0]).abs().max() > 1e-2


@pytest.mark.parametrize("site", ["resid", "head_pos", "attn_out"])
def test_attribution_equals_a_finite_difference_in_float64(site) -> None:
    model = Model(CFG.replace(init_range=0.3)).double().eval()
    clean, corrupted = pair(seed=3)
    with torch.no_grad():
        corrupted_metric = float(logit_diff(model(corrupted)))
    atp = attribution_patching(model, clean, corrupted, logit_diff, site).double()
    _, cache = model.run_with_cache(clean)
    eps = 1e-6
    for index in [(0, 1), (1, 4)] if site != "head_pos" else [(0, 2, 1), (1, 5, 3)]:
        name = SITES[site].format(index[0])

        def nudge(act, hook, index=index, name=name):
            act = act.clone()
            where = (slice(None), *index[1:])
            act[where] += eps * (cache[name][where] - act[where])
            return act

        with torch.no_grad():
            nudged = logit_diff(model.run_with_hooks(corrupted, fwd_hooks=[(name, nudge)]))
        slope = (float(nudged) - corrupted_metric) / eps
        assert abs(slope - (float(atp[index]) - corrupted_metric)) < 1e-4 * max(1, abs(slope))


def test_pearson_r_matches_torch_corrcoef() -> None:
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    expected = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]).double())[0, 1]
    assert abs(pearson_r(a, b) - float(expected)) < 1e-12
    assert pearson_r(a, torch.ones(3, 5)) != pearson_r(a, torch.ones(3, 5))  # NaN: constant


def test_bad_inputs_are_named() -> None:
    model = Model(CFG).eval()
    clean, corrupted = pair()
    with pytest.raises(ValueError, match="same shape"):
        activation_patching(model, clean, corrupted[:, :-1], logit_diff)
    with pytest.raises(ValueError, match="0-dim tensor.*\\[2\\]"):
        activation_patching(model, clean, corrupted, lambda logits: logits[:, -1, 0])
    with pytest.raises(ValueError, match="Did you mean: head_pos"):
        activation_patching(model, clean, corrupted, logit_diff, site="head_po")
    attn_only = Model(CFG.replace(mlp="none"))
    with pytest.raises(KeyError, match="blocks.0.hook_mlp_out"):
        attribution_patching(attn_only, clean, corrupted, logit_diff, site="mlp_out")


def test_memory_budget_sets_the_patches_per_pass() -> None:
    from workbench.analysis.patching_sweep import bytes_per_row, patches_per_pass_for

    model = Model(CFG)
    row = bytes_per_row(model, n_pos=6)
    assert patches_per_pass_for(model, batch=2, n_pos=6, memory_budget=10 * row) == 5
    assert patches_per_pass_for(model, batch=2, n_pos=6, memory_budget=1) == 1  # at least one
    with pytest.raises(ValueError, match="memory_budget must be > 0"):
        patches_per_pass_for(model, batch=2, n_pos=6, memory_budget=0)
    clean, corrupted = pair()
    small = activation_patching(model.eval(), clean, corrupted, logit_diff, "head",
                                memory_budget=3 * 2 * row, progress=False)  # fmt: skip
    expected = one_at_a_time(model, clean, corrupted, logit_diff, "head")
    torch.testing.assert_close(small, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "variant",
    [{"block": "parallel"}, {"norm_placement": "post"}, {"mlp": "none", "position": "rotary"},
     {"attention": "gated", "mlp": "swiglu"}],
    ids=["parallel", "post-ln", "attn-only-rotary", "gated-swiglu"],
)  # fmt: skip
def test_one_position_head_patches_hold_for_block_variants(variant) -> None:
    """`head_pos` runs the patched block on one position: exact for every block layout."""
    model = Model(CFG.replace(**variant)).eval()
    clean, corrupted = pair()
    got = activation_patching(model, clean, corrupted, logit_diff, "head_pos", progress=False)
    expected = one_at_a_time(model, clean, corrupted, logit_diff, "head_pos")
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
