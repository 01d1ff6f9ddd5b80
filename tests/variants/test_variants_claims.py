"""The papers' claims, as tests."""

import math

import torch

from workbench import Model, ModelConfig
from workbench.variants.position import RotaryPositions
from workbench.variants.reparam import SpectralRescale

CFG = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=16, n_ctx=64, seed=0)


def test_sigmoid_row_mass_stays_order_one_as_n_grows() -> None:
    """Ramapuram et al. 2024: with b = -log n the attention mass per row is O(1) at init."""
    model = Model(CFG.replace(attention="sigmoid", causal=False, position="none", n_ctx=4096))
    masses = []
    for n in (16, 256, 2048):
        tokens = torch.randint(0, 16, (1, n), generator=torch.Generator().manual_seed(n))
        masses.append(model.run_with_stats(tokens, ["attn.row_mass"])["attn.row_mass"].mean())
    assert all(0.2 < m < 2.0 for m in masses), masses
    without_bias = Model(CFG.replace(attention={"name": "sigmoid", "bias": 0.0}, causal=False,
                                     position="none", n_ctx=4096))  # fmt: skip
    tokens = torch.randint(0, 16, (1, 2048), generator=torch.Generator().manual_seed(0))
    assert without_bias.run_with_stats(tokens, ["attn.row_mass"])["attn.row_mass"].mean() > 500


def test_rope_scores_depend_only_on_relative_position() -> None:
    rope = RotaryPositions(rotary_dim=8, base=10000.0)
    q, k = torch.randn(1, 1, 1, 8).expand(1, 6, 1, 8), torch.randn(1, 1, 1, 8).expand(1, 6, 1, 8)

    def scores(offset: int) -> torch.Tensor:
        pos = torch.arange(6) + offset
        rq, rk = rope.rotate(q, pos), rope.rotate(k, pos)
        return torch.einsum("bqhd,bkhd->qk", rq, rk)

    torch.testing.assert_close(scores(0), scores(37), atol=1e-4, rtol=1e-4)


def test_sigma_reparam_spectral_norm_equals_gamma() -> None:
    """Zhai et al. 2023: W_hat = gamma / sigma(W) W has spectral norm gamma."""
    weight = torch.randn(24, 40, generator=torch.Generator().manual_seed(0))  # a fixed spectral gap
    rescale = SpectralRescale(weight, lambda w: w)
    rescale.gamma.data.fill_(2.5)
    rescale.train()
    for _ in range(200):  # power iteration converges over training steps
        w_hat = rescale(weight)
    assert math.isclose(torch.linalg.matrix_norm(w_hat, 2).item(), 2.5, rel_tol=1e-4)


def test_sigma_reparam_model_equals_plain_model_at_init() -> None:
    plain = Model(CFG).eval()
    reparam = Model(CFG.replace(reparam="sigma_reparam")).eval()
    tokens = torch.randint(0, 16, (2, 12), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(reparam(tokens), plain(tokens), atol=5e-3, rtol=5e-3)


def test_topk_keeps_k_neurons_per_token() -> None:
    model = Model(CFG.replace(mlp={"name": "topk_relu", "k": 8}))
    tokens = torch.randint(0, 16, (2, 12), generator=torch.Generator().manual_seed(2))
    stats = model.run_with_stats(tokens, ["mlp.nonzero_frac"])
    assert torch.all(stats["mlp.nonzero_frac"] <= 8 / CFG.d_mlp + 1e-6)


def test_pre_ln_equals_pre_rmsnorm_equals_pre_crmsnorm() -> None:
    """Jiang et al. 2023: a Pre-LN model converts to Pre-RMSNorm and Pre-CRMSNorm exactly."""
    from workbench.variants.norm_conversion import to_pre_crmsnorm, to_pre_rmsnorm

    model = Model(CFG.replace(n_layers=2, mlp="swiglu"))
    data = torch.randint(0, 16, (8, 16), generator=torch.Generator().manual_seed(3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):  # a little training moves the norm gains and biases away from 1 and 0
        opt.zero_grad()
        model(data, return_type="loss").backward()
        opt.step()
    model.eval()
    rms, crms = to_pre_rmsnorm(model), to_pre_crmsnorm(model)
    assert rms.cfg.norm.name == "rmsnorm" and crms.cfg.d_model == CFG.d_model - 1
    expected = model(data)
    torch.testing.assert_close(rms(data), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(crms(data), expected, atol=1e-4, rtol=1e-4)


def test_linear_attention_parallel_equals_recurrent() -> None:
    from workbench.variants.recurrent_mixers import (
        linear_attention_chunked,
        linear_attention_recurrent,
    )

    q, k, v = (torch.randn(2, 3, 40, 8, dtype=torch.float64) for _ in range(3))
    parallel = torch.tril(q @ k.transpose(-1, -2)) @ v
    torch.testing.assert_close(linear_attention_recurrent(q, k, v), parallel)
    for chunk in (1, 7, 64):
        torch.testing.assert_close(linear_attention_chunked(q, k, v, chunk), parallel)
    cfg = CFG.replace(n_layers=2, attention="linear")
    tokens = torch.randint(0, 16, (2, 20), generator=torch.Generator().manual_seed(0))
    recurrent = Model(cfg.replace(attention={"name": "linear", "mode": "recurrent"}))
    torch.testing.assert_close(Model(cfg)(tokens), recurrent(tokens), atol=1e-5, rtol=1e-5)


def test_deltanet_chunked_equals_recurrent() -> None:
    from workbench.variants.recurrent_mixers import delta_rule_chunked, delta_rule_recurrent

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 70, 8, dtype=torch.float64, generator=gen) for _ in range(3))
    q, k = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(k, dim=-1)
    beta = torch.rand(2, 3, 70, dtype=torch.float64, generator=gen)
    expected = delta_rule_recurrent(q, k, v, beta)
    for chunk in (1, 16, 64, 128):
        torch.testing.assert_close(delta_rule_chunked(q, k, v, beta, chunk), expected)
    cfg = CFG.replace(n_layers=2, attention={"name": "deltanet", "chunk": 8})
    tokens = torch.randint(0, 16, (2, 20), generator=gen)
    recurrent = Model(cfg.replace(attention={"name": "deltanet", "mode": "recurrent"}))
    torch.testing.assert_close(Model(cfg)(tokens), recurrent(tokens), atol=1e-5, rtol=1e-5)


def test_sigma_reparam_normalizes_each_attention_weight_as_its_linear_map() -> None:
    """Run 8 (issue #20): in a model the per-head tensors are read as the maps they apply:
    W_Q/W_K/W_V [head, d_model, d_head] as d_model -> head * d_head, W_O [head, d_head,
    d_model] as head * d_head -> d_model; gamma is the spectral norm of that map."""
    model = Model(CFG.replace(reparam="sigma_reparam"))
    attn = model.blocks[0].attn
    as_map = {
        "W_Q": lambda w: w.permute(1, 0, 2).reshape(32, -1),
        "W_K": lambda w: w.permute(1, 0, 2).reshape(32, -1),
        "W_V": lambda w: w.permute(1, 0, 2).reshape(32, -1),
        "W_O": lambda w: w.reshape(-1, 32),
    }
    for name, to_matrix in as_map.items():
        rescale = attn.parametrizations[name][0].train()
        weight = attn.parametrizations[name].original.detach()
        with torch.no_grad():
            rescale.gamma.fill_(2.5)
            for _ in range(100):  # power iteration converges over training steps
                w_hat = rescale(weight)
        norm = torch.linalg.matrix_norm(to_matrix(w_hat), 2).item()
        assert math.isclose(norm, 2.5, rel_tol=1e-3), name
