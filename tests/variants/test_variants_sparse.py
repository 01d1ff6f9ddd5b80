"""Claims of top-k softmax, ProbSparse, collapsed attention and the pooling mixer."""

import math

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.variants.attention_collapsed import collapse_model

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=32, seed=0)
GEN = torch.Generator().manual_seed(0)


def tokens(batch: int = 2, n: int = 12) -> torch.Tensor:
    return torch.randint(0, 16, (batch, n), generator=GEN)


def randomize(model: Model, std: float = 0.3) -> Model:
    """Large random weights (biases included), so that attention is far from uniform."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=GEN) * std)
    return model.double().eval()


@pytest.mark.parametrize("attention", [{"name": "topk_softmax", "k": 12},
                                       {"name": "probsparse", "u": 12}])  # fmt: skip
def test_k_or_u_at_least_the_number_of_keys_equals_softmax(attention) -> None:
    toks = tokens()
    softmax = randomize(Model(CFG))
    sparse = Model(CFG.replace(attention=attention)).double().eval()
    sparse.load_state_dict(softmax.state_dict())
    torch.testing.assert_close(sparse(toks), softmax(toks))  # SDPA path vs the eager one


def test_topk_keeps_the_k_largest_scores_of_each_query() -> None:
    model = randomize(Model(CFG.replace(attention={"name": "topk_softmax", "k": 3})))
    _, cache = model.run_with_cache(tokens())
    scores, pattern = cache["attn_scores", 0], cache["pattern", 0]
    for row_s, row_p in zip(scores.flatten(0, 2), pattern.flatten(0, 2), strict=True):
        keep = row_s.argsort(descending=True)[: min(3, int(torch.isfinite(row_s).sum()))]
        expected = torch.zeros_like(row_p)
        expected[keep] = row_s[keep].exp() / row_s[keep].exp().sum()
        torch.testing.assert_close(row_p, expected)


def test_probsparse_lazy_queries_take_the_mean_of_the_visible_values() -> None:
    model = randomize(Model(CFG.replace(attention={"name": "probsparse", "u": 2})))
    _, cache = model.run_with_cache(tokens(1, 10))
    scores, pattern = cache["attn_scores", 0][0], cache["pattern", 0][0]  # [head, q, k]
    visible = torch.isfinite(scores)
    measure = torch.stack([s[v].max() - s[v].mean() for s, v in zip(scores.flatten(0, 1),
                           visible.flatten(0, 1), strict=True)]).view(4, 10)  # fmt: skip
    for h in range(4):
        active = set(measure[h].topk(2).indices.tolist())
        for i in range(10):
            if i in active:
                expected = scores[h, i].softmax(-1)
            else:
                expected = visible[h, i].double() / visible[h, i].sum()
            torch.testing.assert_close(pattern[h, i], expected)


@pytest.mark.parametrize("ov", [True, False])
def test_converting_a_factored_model_to_collapsed_heads_keeps_the_logits(ov) -> None:
    model = randomize(Model(CFG.replace(n_kv_heads=2, position="alibi")))
    collapsed = collapse_model(model, ov=ov)
    assert collapsed.blocks[0].attn.W_QK.shape == (4, 32, 32)
    toks = tokens()
    torch.testing.assert_close(collapsed(toks), model(toks), rtol=1e-9, atol=1e-9)
    stats = collapsed.run_with_stats(toks, ["attn.entropy"])  # the softmax kernel still runs
    torch.testing.assert_close(stats["attn.entropy"], model.run_with_stats(toks, ["attn.entropy"])
                               ["attn.entropy"])  # fmt: skip


def test_symmetric_collapsed_heads_have_symmetric_scores() -> None:
    cfg = CFG.replace(attention={"name": "collapsed", "symmetric": True}, causal=False,
                      attn_bias=False)  # fmt: skip
    model = randomize(Model(cfg))
    for block in model.blocks:
        block.attn.b_QK.data.zero_()  # attn_bias=False: randomize() wrote into it anyway
    _, cache = model.run_with_cache(tokens())
    scores = cache["attn_scores", 0]
    assert (scores - scores.transpose(-1, -2)).abs().max() < 1e-12 < scores.abs().max()


def pool_out(model: Model, toks: torch.Tensor, mask=None) -> torch.Tensor:
    _, cache = model.run_with_cache(toks, attention_mask=mask)
    return cache["blocks.0.hook_attn_out"]


def test_pool_size_one_gives_zero_output() -> None:
    model = randomize(Model(CFG.replace(attention={"name": "pool", "pool_size": 1},
                                        position="none")))  # fmt: skip
    assert pool_out(model, tokens()).abs().max() == 0


@pytest.mark.parametrize("causal", [True, False])
def test_pool_is_the_window_mean_minus_the_token(causal) -> None:
    cfg = CFG.replace(attention={"name": "pool", "pool_size": 3}, position="none", causal=causal,
                      norm_placement="none")  # fmt: skip
    model = randomize(Model(cfg))
    toks = tokens(1, 8)
    _, cache = model.run_with_cache(toks)
    x = cache["blocks.0.hook_resid_pre"][0]
    for t in range(8):
        lo, hi = (max(0, t - 2), t + 1) if causal else (max(0, t - 1), min(8, t + 2))
        expected = x[lo:hi].mean(0) - x[t]
        torch.testing.assert_close(cache["blocks.0.hook_attn_out"][0, t], expected)


def test_pool_ignores_left_padding() -> None:
    model = randomize(Model(CFG.replace(attention="pool", position="none")))
    toks = tokens(1, 8)
    padded = torch.cat([torch.zeros(1, 3, dtype=toks.dtype), toks], 1)
    mask = torch.cat([torch.zeros(1, 3), torch.ones(1, 8)], 1).long()
    torch.testing.assert_close(pool_out(model, padded, mask)[:, 3:], pool_out(model, toks))


@pytest.mark.parametrize("factor", [0.3, 5.0])
def test_probsparse_u_is_informers_ceil_c_ln_l_and_at_least_one(factor) -> None:
    """Run 8 (issue #20): u = max(1, ceil(c ln L_Q)), checked for short sequences too, where
    c ln L_Q < 1 (a floor of 2 there went unnoticed); L_Q counts the real queries only."""
    attn = Model(CFG.replace(attention={"name": "probsparse", "factor": factor})).blocks[0].attn
    for n in range(1, 10):
        visible = torch.ones(n, n, dtype=torch.bool).tril()[None, None]
        assert attn.active_queries(visible).tolist() == [max(1, math.ceil(factor * math.log(n)))]
    padded = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    padded[1, :, :, 4:] = False  # row 1: 4 real tokens, then 2 padded keys
    expected = [max(1, math.ceil(factor * math.log(n))) for n in (6, 4)]
    assert attn.active_queries(padded).tolist() == expected


@pytest.mark.parametrize("attn_bias", [True, False])
def test_collapsed_query_key_bias_trains_only_with_attn_bias(attn_bias) -> None:
    """Run 8: like every other attention bias, b_QK is frozen (at 0) without attn_bias."""
    model = Model(CFG.replace(attention="collapsed", attn_bias=attn_bias))
    for block in model.blocks:
        assert block.attn.b_QK.requires_grad is attn_bias


def test_collapsed_attention_refuses_rotating_positions_in_full() -> None:
    with pytest.raises(ValueError) as err:
        Model(CFG.replace(attention="collapsed", position="rotary"))
    assert str(err.value) == (
        "collapsed attention has no separate queries and keys to rotate (one W_QK), so "
        "position='rotary' would be silently ignored; use 'learned', 'alibi' or 'none'"
    )
