"""Claims of MatFormer, TokenFormer's Pattention, CRATE (ISTA, MSSA), AlgoFormer's looped
model with untied prefix/suffix, and EvoMoE's dense-to-sparse gate."""

import pytest
import torch
import torch.nn.functional as F

from workbench import Model, ModelConfig
from workbench.variants.mlp_nested import ista_step

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=32, d_mlp=64, seed=0)
GEN = torch.Generator().manual_seed(0)


def tokens(batch: int = 2, n: int = 10) -> torch.Tensor:
    return torch.randint(0, 16, (batch, n), generator=GEN)


def randomize(model: Model, std: float = 0.3) -> Model:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=GEN) * std)
    return model.double().eval()


def test_matformer_width_equals_the_full_mlp_with_later_neurons_zeroed() -> None:
    nested = randomize(Model(CFG.replace(mlp={"name": "matformer", "width": 16})))
    plain = Model(CFG.replace(mlp="relu")).double().eval()  # the ordinary ReLU MLP
    state = nested.state_dict()
    for layer in range(2):
        state[f"blocks.{layer}.mlp.W_out"] = state[f"blocks.{layer}.mlp.W_out"].clone()
        state[f"blocks.{layer}.mlp.W_out"][16:] = 0
    plain.load_state_dict(state)
    toks = tokens()
    torch.testing.assert_close(nested(toks), plain(toks))
    for block in nested.blocks:
        block.mlp.set_width(64)
    assert (nested(toks) - plain(toks)).abs().max() > 1e-3  # the full width differs
    _, cache = nested.run_with_cache(toks)
    assert cache["blocks.0.mlp.hook_post"].shape[-1] == 64


def test_pattention_is_tokenformer_attention_over_parameter_tokens() -> None:
    model = randomize(Model(CFG.replace(mlp={"name": "pattention", "n_tokens": 24})))
    _, cache = model.run_with_cache(tokens())
    mlp = model.blocks[0].mlp
    x = cache["blocks.0.ln2.hook_normalized"]
    scores = x @ mlp.K_P.T
    theta = F.gelu(scores * 24**0.5 / scores.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(cache["blocks.0.hook_mlp_out"], theta @ mlp.V_P)


def test_pattention_zero_initialized_new_tokens_leave_outputs_unchanged() -> None:
    model = randomize(Model(CFG.replace(mlp={"name": "pattention", "n_tokens": 24})))
    toks = tokens()
    before = model(toks)
    for block in model.blocks:
        block.mlp.grow(8)
    assert model.blocks[0].mlp.K_P.shape == (32, 32)
    torch.testing.assert_close(model(toks), before, rtol=0, atol=0)
    grown_cfg = model.cfg.replace(mlp={"name": "pattention", "n_tokens": 32, "tau_tokens": 24})
    rebuilt = Model(grown_cfg).double().eval()
    rebuilt.load_state_dict(model.state_dict())  # a saved grown model rebuilds the same
    torch.testing.assert_close(rebuilt(toks), before, rtol=0, atol=0)
    with torch.no_grad():  # once the new tokens learn something, the output moves
        model.blocks[0].mlp.K_P[24:] = 1.0
        model.blocks[0].mlp.V_P[24:] = 1.0
    assert (model(toks) - before).abs().max() > 1e-3


def test_ista_block_equals_one_proximal_gradient_step() -> None:
    """min_{a>=0} lam |a|_1 + 1/2 |z - D a|^2: a1 = prox(z - eta grad), prox(u) = relu(u - eta
    lam), the gradient taken by autograd at a = z."""
    z, d = torch.randn(5, 8, generator=GEN).double(), torch.randn(8, 8, generator=GEN).double()
    a = z.clone().requires_grad_(True)
    (0.5 * (z - a @ d.T).square().sum()).backward()
    expected = F.relu(z - 0.1 * a.grad - 0.1 * 0.2)
    torch.testing.assert_close(ista_step(z, d, step=0.1, lam=0.2), expected)
    model = randomize(Model(CFG.replace(mlp={"name": "ista", "lam": 0.2})))
    _, cache = model.run_with_cache(tokens())
    x, mlp = cache["blocks.0.ln2.hook_normalized"], model.blocks[0].mlp
    torch.testing.assert_close(cache["blocks.0.hook_mlp_out"], ista_step(x, mlp.D, 0.1, 0.2))


def test_mssa_ties_query_key_value_and_output_to_one_subspace_per_head() -> None:
    model = randomize(Model(CFG.replace(attention="mssa", position="none")))
    _, cache = model.run_with_cache(tokens())
    x, attn = cache["blocks.0.ln1.hook_normalized"], model.blocks[0].attn
    out = attn.b_O.expand(2, 10, 32).clone()
    for h in range(4):
        z = x @ attn.W_U[h]
        scores = z @ z.transpose(-1, -2) / 8**0.5
        scores = scores.masked_fill(~torch.ones(10, 10, dtype=torch.bool).tril(), float("-inf"))
        out = out + scores.softmax(-1) @ z @ attn.W_U[h].T
    torch.testing.assert_close(cache["blocks.0.hook_attn_out"], out)


def test_algoformer_loop_has_untied_prefix_and_suffix_blocks() -> None:
    cfg = CFG.replace(n_layers=6, reparam={"name": "looped", "period": 2, "prefix": 1,
                                           "suffix": 1})  # fmt: skip
    model = Model(cfg)
    w = [block.attn.W_Q for block in model.blocks]
    assert w[1] is w[3] and w[2] is w[4] and w[1] is not w[2]  # the loop of 2 blocks
    assert all(w[0] is not v for v in w[1:]) and all(w[5] is not v for v in w[:5])
    per_block = sum(p.numel() for p in Model(CFG.replace(n_layers=1)).blocks.parameters())
    assert sum(p.numel() for p in model.blocks.parameters()) == 4 * per_block
    with pytest.raises(ValueError, match="looped blocks"):
        Model(cfg.replace(reparam={"name": "looped", "period": 5, "prefix": 1, "suffix": 1}))


def moe_cfg(**gate) -> ModelConfig:
    return CFG.replace(mlp={"name": "moe", "n_experts": 4, "k": 1, **gate})


def test_dense_to_sparse_gate_goes_from_a_dense_mixture_to_top1() -> None:
    dts = randomize(Model(moe_cfg(gate="dense_to_sparse", temperature=3.0, threshold=0.0)))
    toks = tokens()
    _, cache = dts.run_with_cache(toks)
    x, mlp = cache["blocks.0.ln2.hook_normalized"], dts.blocks[0].mlp
    gate = (x @ mlp.W_router / 3.0).softmax(-1)
    dense = sum(gate[..., e, None] * (F.relu(x @ ex.W_in + ex.b_in) @ ex.W_out)
                for e, ex in enumerate(mlp.experts)) + mlp.b_out  # fmt: skip
    torch.testing.assert_close(cache["blocks.0.hook_mlp_out"], dense)

    top1 = Model(moe_cfg()).double().eval()
    top1.load_state_dict(dts.state_dict())
    for block in dts.blocks:
        block.mlp.set_temperature(1e-4)
    torch.testing.assert_close(dts(toks), top1(toks))


def test_ista_counts_its_relu_zeros_without_a_threshold() -> None:
    """Run 10: the ISTA code is a ReLU output with exact zeros, so `mlp.nonzero_frac` needs
    no `mlp_threshold` and is the fraction of positive code entries."""
    model = randomize(Model(CFG.replace(mlp={"name": "ista", "lam": 0.2})))
    tokens = torch.randint(0, 16, (2, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        stats = model.run_with_stats(tokens, ["mlp.nonzero_frac"])
        _, cache = model.run_with_cache(tokens)
    for layer in range(2):
        fired = (cache["post", layer] > 0).double().mean(-1)
        assert 0 < float(fired.mean()) < 1
        torch.testing.assert_close(stats["mlp.nonzero_frac", layer].double(), fired)
