"""Macaron and gated-residual (GTrXL) block layouts against their defining formulas."""

import pytest
import torch
import torch.nn.functional as F

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=16, seed=4)
TOKENS = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(1))


def ln(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.w, norm.b, 1e-5)


def ffn(x, mlp):
    return torch.relu(x @ mlp.W_in + mlp.b_in) @ mlp.W_out + mlp.b_out


def causal_attention(x, attn):
    """Plain multi-head causal softmax attention from the weights (float64)."""
    q, k, v = (torch.einsum("pd,hde->hpe", x, w) + b[:, None] for w, b in
               ((attn.W_Q, attn.b_Q), (attn.W_K, attn.b_K), (attn.W_V, attn.b_V)))  # fmt: skip
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    future = torch.ones(x.shape[0], x.shape[0], dtype=torch.bool).triu(1)
    z = scores.masked_fill(future, float("-inf")).softmax(-1) @ v
    return torch.einsum("hpe,hed->pd", z, attn.W_O) + attn.b_O


def test_macaron_is_half_ffn_attention_half_ffn() -> None:
    model = Model(CFG.replace(block="macaron")).double().eval()
    with torch.no_grad():  # non-trivial norm weights, so each norm's place matters
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.normal_(0.3, 0.5, generator=torch.Generator().manual_seed(len(name)))
    _, cache = model.run_with_cache(TOKENS)
    for layer, block in enumerate(model.blocks):
        for row in range(len(TOKENS)):
            x = cache[f"blocks.{layer}.hook_resid_pre"][row]
            r = x + 0.5 * ffn(ln(x, block.layout.ln), block.layout.mlp)
            m = r + causal_attention(ln(r, block.ln1), block.attn)
            out = m + 0.5 * ffn(ln(m, block.ln2), block.mlp)
            torch.testing.assert_close(cache[f"blocks.{layer}.layout.hook_resid"][row], r)
            torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_mid"][row], m)
            torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_post"][row], out)
            mlp_out = cache[f"blocks.{layer}.hook_mlp_out"][row]
            torch.testing.assert_close(m + mlp_out, out)  # mlp_out is what the stream adds
    names = model.hook_names()
    assert names.index("blocks.0.layout.mlp.hook_post") < names.index("blocks.0.attn.hook_q")


@pytest.mark.parametrize("placement", ["none", "peri"])
def test_macarons_first_half_ffn_follows_the_norm_placement(placement) -> None:
    """Run 8 (issue #20): without norms the half-FFN reads the raw stream (no layout.ln);
    peri-LN also normalizes its output before halving it (layout.ln_out)."""
    model = Model(CFG.replace(block="macaron", norm_placement=placement)).double().eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.normal_(0.3, 0.5, generator=torch.Generator().manual_seed(len(name)))
    _, cache = model.run_with_cache(TOKENS)
    for layer, block in enumerate(model.blocks):
        layout = block.layout
        assert (layout.ln is None, layout.ln_out is None) == (placement == "none",) * 2
        x = cache[f"blocks.{layer}.hook_resid_pre"]
        if placement == "none":
            r = x + 0.5 * ffn(x, layout.mlp)
        else:
            r = x + 0.5 * ln(ffn(ln(x, layout.ln), layout.mlp), layout.ln_out)
        torch.testing.assert_close(cache[f"blocks.{layer}.layout.hook_resid"], r)


def test_macaron_mlp_statistics_describe_the_blocks_mlp() -> None:
    model = Model(CFG.replace(block="macaron")).eval()
    stats = model.run_with_stats(TOKENS, ["mlp.nonzero_frac"])
    _, cache = model.run_with_cache(TOKENS, names_filter=lambda n: n.endswith("mlp.hook_post"))
    for layer in range(2):
        expected = (cache[f"blocks.{layer}.mlp.hook_post"] != 0).double().mean(-1)
        torch.testing.assert_close(stats["mlp.nonzero_frac", layer].double(), expected)


def test_gated_residual_follows_the_gru_gate_formula() -> None:
    model = Model(CFG.replace(block={"name": "gated_residual", "gate_bias": 1.0}))
    model = model.double().eval()
    _, cache = model.run_with_cache(TOKENS)
    for layer, block in enumerate(model.blocks):
        x = cache[f"blocks.{layer}.hook_resid_pre"]
        y = torch.relu(cache[f"blocks.{layer}.hook_attn_out"])
        g = block.layout.attn_gate
        r = torch.sigmoid(y @ g.W_r + x @ g.U_r)
        z = torch.sigmoid(y @ g.W_z + x @ g.U_z - g.b_g)
        h = torch.tanh(y @ g.W_g + (r * x) @ g.U_g)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_mid"], (1 - z) * x + z * h)
        torch.testing.assert_close(cache[f"blocks.{layer}.layout.attn_gate.hook_z"], z)


def test_a_large_gate_bias_makes_each_block_the_identity() -> None:
    model = Model(CFG.replace(block={"name": "gated_residual", "gate_bias": 1e3})).eval()
    logits, cache = model.run_with_cache(TOKENS)
    for layer in range(2):
        pre = cache[f"blocks.{layer}.hook_resid_pre"]
        assert torch.equal(cache[f"blocks.{layer}.hook_resid_post"], pre)
    x = model.embed.W_E[TOKENS] + model.pos_embed.W_pos[: TOKENS.shape[1]]  # no blocks at all
    fin = model.ln_final
    expected = F.layer_norm(x, (32,), fin.w, fin.b, 1e-5) @ model.unembed.W_U + model.unembed.b_U
    torch.testing.assert_close(logits, expected)
    moderate = Model(CFG.replace(block={"name": "gated_residual", "gate_bias": 0.0})).eval()
    _, cache = moderate.run_with_cache(TOKENS)
    assert not torch.allclose(cache["blocks.0.hook_resid_post"], cache["blocks.0.hook_resid_pre"])


@pytest.mark.parametrize("block", ["macaron", "gated_residual"])
def test_new_layouts_refuse_post_norm_and_train(block) -> None:
    with pytest.raises(ValueError, match=f"{block}.*post"):
        Model(CFG.replace(block=block, norm_placement="post"))
    model = Model(CFG.replace(block=block))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = model(TOKENS, return_type="loss")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05


def test_macaron_half_ffns_follow_each_layers_schedule() -> None:
    """Each layer's first half-FFN is that layer's MLP (its variant, and options given per
    layer such as topk_relu's k) with that layer's norm."""
    cfg = CFG.replace(block="macaron", mlp=["relu", "swiglu"], norm=["layernorm", "rmsnorm"])
    model = Model(cfg)
    for block in model.blocks:
        assert type(block.layout.mlp) is type(block.mlp)
        assert set(block.layout.mlp.state_dict()) == set(block.mlp.state_dict())
        assert type(block.layout.ln) is type(block.ln2)
    assert type(model.blocks[0].mlp) is not type(model.blocks[1].mlp)
    per_layer_k = Model(CFG.replace(block="macaron", mlp={"name": "topk_relu", "k": (2, 5)}))
    _, cache = per_layer_k.run_with_cache(TOKENS, names_filter=lambda n: n.endswith("hook_post"))
    for layer, k in enumerate((2, 5)):
        for name in (f"blocks.{layer}.layout.mlp.hook_post", f"blocks.{layer}.mlp.hook_post"):
            assert int((cache[name] != 0).sum(-1).max()) == k, name
