"""`mlp="none"`: attention-only blocks (Elhage et al. 2021). The residual stream is the
embeddings plus the attention outputs and nothing else; MLP hooks and statistics are absent."""

import json

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.registry import MLP

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=20, n_ctx=16, mlp="none", seed=3)


def tokens(batch: int = 2, pos: int = 9) -> torch.Tensor:
    return torch.randint(0, 20, (batch, pos), generator=torch.Generator().manual_seed(0))


def test_logits_equal_embeddings_plus_attention_outputs_in_float64() -> None:
    """Logits rebuilt by hand from the cached `hook_z` of every layer and the weights: no
    MLP term (nor any other) may enter the stream."""
    model = Model(CFG).eval()
    logits, cache = model.run_with_cache(tokens())
    resid = cache["hook_embed"].double() + cache["hook_pos_embed"].double()
    for layer, block in enumerate(model.blocks):
        z = cache[f"blocks.{layer}.attn.hook_z"].double()  # [batch, pos, head, d_head]
        w_o, b_o = block.attn.W_O.double(), block.attn.b_O.double()
        resid = resid + torch.einsum("bphe,hed->bpd", z, w_o) + b_o
    ln = model.ln_final
    mean = resid.mean(-1, keepdim=True)
    var = (resid - mean).square().mean(-1, keepdim=True)
    normed = (resid - mean) / (var + CFG.eps).sqrt() * ln.w.double() + ln.b.double()
    expected = normed @ model.unembed.W_U.double() + model.unembed.b_U.double()
    torch.testing.assert_close(logits.double(), expected, atol=1e-5, rtol=0)


def test_mlp_hooks_are_absent_and_asking_for_them_suggests_names() -> None:
    model = Model(CFG)
    names = model.hook_names()
    for absent in ("blocks.0.hook_mlp_out", "blocks.0.hook_resid_mid", "blocks.1.mlp.hook_post"):
        assert absent not in names
    assert not any(".ln2" in n or ".mlp." in n for n in names)
    assert {"blocks.1.hook_attn_out", "blocks.1.hook_resid_post"} <= set(names)
    with pytest.raises(KeyError, match=r"Unknown hook name 'blocks.0.hook_mlp_out'.*Did you mean"):
        model.run_with_hooks(tokens(), fwd_hooks=[("blocks.0.hook_mlp_out", lambda t, hook: t)])
    assert not any("mlp" in name for name, _ in model.named_parameters())


def test_resid_post_is_resid_pre_plus_attention_output() -> None:
    _, cache = Model(CFG).eval().run_with_cache(tokens())
    for layer in range(CFG.n_layers):
        pre, out = cache["resid_pre", layer], cache["attn_out", layer]
        torch.testing.assert_close(cache["resid_post", layer], pre + out, atol=0, rtol=0)


def test_mlp_statistics_are_refused_clearly() -> None:
    model = Model(CFG)
    assert model.supported_stats()["mlp"] == set()
    with pytest.raises(ValueError, match=r"layers \[0, 1\] have no MLP \(mlp='none'\)"):
        model.run_with_stats(tokens(), ["attn.entropy", "mlp.nonzero_frac"])
    stats = model.run_with_stats(tokens(), ["attn.entropy"])
    assert stats["attn.entropy"].shape == (2, 2, 4, 9)


def test_config_round_trip_and_combinations() -> None:
    assert "none" in MLP.names()
    back = ModelConfig.from_dict(json.loads(json.dumps(CFG.to_dict())))
    assert back == CFG and back.to_dict()["mlp"] == {"name": "none"}
    for other in ({"block": "parallel"}, {"reparam": "sigma_reparam"}, {"norm_placement": "post"}):
        model = Model(CFG.replace(**other)).eval()
        assert model(tokens()).isfinite().all()
        assert "blocks.0.hook_mlp_out" not in model.hook_names()
    with pytest.raises(ValueError, match="has no MLP"):
        Model(CFG).blocks[0].branch(torch.zeros(1, 2, 32), "mlp", None)


def test_cache_decompositions_of_an_attention_only_model_are_exact() -> None:
    """As TransformerLens's attn_only models: no MLP terms, and the stacks still sum to the
    cached stream (float64)."""
    model = Model(CFG).double()
    tokens = torch.randint(0, CFG.d_vocab, (2, 9), generator=torch.Generator().manual_seed(5))
    _, cache = model.run_with_cache(tokens)
    final = cache[f"blocks.{CFG.n_layers - 1}.hook_resid_post"]
    stack, labels = cache.decompose_resid(return_labels=True)
    assert not any("mlp" in label for label in labels)
    torch.testing.assert_close(stack.sum(0), final, atol=1e-10, rtol=0)
    full, names = cache.get_full_resid_decomposition(expand_neurons=True, return_labels=True)
    torch.testing.assert_close(full.sum(0), final, atol=1e-10, rtol=0)
    assert not any(name.startswith("L0N") for name in names)
    assert cache.stack_neuron_results(CFG.n_layers).shape[0] == 0
    _, acc_labels = cache.accumulated_resid(incl_mid=True, return_labels=True)
    assert not any(label.endswith("_mid") for label in acc_labels)
    with pytest.raises(ValueError, match="no MLP"):
        cache.decompose_resid(mlp_input=True)
