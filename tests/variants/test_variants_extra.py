"""Power-softmax, ComRoPE, PolyReLU/PolyNorm, top-k MoE and looped transformers: each
against a direct reference computation or the paper's claim."""

import pytest
import torch
import torch.nn.functional as F

from workbench import Model, ModelConfig
from workbench.variants.attention_power import PowerSoftmax, power_softmax
from workbench.variants.combinations import COMBINATIONS
from workbench.variants.looped import Looped
from workbench.variants.moe import TopKMoE, moe_load_balancing_loss
from workbench.variants.position import RotaryPositions
from workbench.variants.position_comrope import ComRoPE, ComRoPEPositions

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=16, n_ctx=32, seed=0)


def tokens(batch: int = 2, seq: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 16, (batch, seq), generator=torch.Generator().manual_seed(seed))


# -- power-softmax ---------------------------------------------------------------------------
def test_power_softmax_is_the_even_power_normalized_over_visible_keys() -> None:
    scores = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    for power in (2, 4):
        raw = torch.where(torch.isfinite(scores), scores, 0.0) ** power
        expected = raw / raw.sum(-1, keepdim=True)
        torch.testing.assert_close(power_softmax(scores, power), expected)


def test_power_softmax_pattern_hook_matches_its_weights_and_odd_powers_are_refused() -> None:
    model = Model(CFG.replace(attention=PowerSoftmax(power=4))).eval()
    _, cache = model.run_with_cache(
        tokens(), names_filter=lambda n: "attn_scores" in n or "pattern" in n
    )
    torch.testing.assert_close(cache["pattern", 0], power_softmax(cache["attn_scores", 0], 4))
    with pytest.raises(ValueError, match="even power"):
        PowerSoftmax(power=3)
    with pytest.raises(ValueError, match="attn.entropy"):
        model.run_with_stats(tokens(), ["attn.entropy"])  # no kernel: names what it lacks


# -- ComRoPE ---------------------------------------------------------------------------------
def _trained_comrope(block_size: int = 4) -> ComRoPEPositions:
    rope = ComRoPEPositions(d_head=8, block_size=block_size, base=100.0, init_noise=0.3)
    rope.init_weights(torch.Generator().manual_seed(0))
    return rope


def test_comrope_scores_depend_only_on_relative_position() -> None:
    rope = _trained_comrope()
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(1, 6, 2, 8, generator=gen), torch.randn(1, 6, 2, 8, generator=gen)

    def scores(offset: int) -> torch.Tensor:
        pos = torch.arange(6) + offset
        return torch.einsum("bqhd,bkhd->hqk", rope.rotate(q, pos), rope.rotate(k, pos))

    with torch.no_grad():
        torch.testing.assert_close(scores(0), scores(29), atol=1e-4, rtol=1e-4)
        rot = rope.rotation(torch.arange(5))  # orthogonal: it rotates, never scales
        eye = torch.eye(4).expand_as(rot)
        torch.testing.assert_close(rot @ rot.transpose(-1, -2), eye, atol=1e-5, rtol=1e-5)


def test_comrope_with_2x2_blocks_and_no_noise_is_rope() -> None:
    rope = ComRoPEPositions(d_head=8, block_size=2, base=10000.0, init_noise=0.0)
    rope.init_weights(torch.Generator().manual_seed(0))
    x, pos = torch.randn(2, 7, 3, 8), torch.arange(7)
    # ComRoPE pairs (2j, 2j+1); RotaryPositions pairs (j, j + 4): permute between layouts.
    to_halves = torch.tensor([0, 2, 4, 6, 1, 3, 5, 7])
    expected = RotaryPositions(rotary_dim=8, base=10000.0).rotate(x[..., to_halves], pos)
    with torch.no_grad():
        torch.testing.assert_close(
            rope.rotate(x, pos)[..., to_halves], expected, atol=1e-5, rtol=1e-5
        )


def test_comrope_angle_matrices_train() -> None:
    model = Model(CFG.replace(position=ComRoPE(block_size=4)))
    before = model.pos_embed.generator.detach().clone()
    model(tokens(), return_type="loss").backward()
    assert (
        model.pos_embed.generator.grad is not None
        and model.pos_embed.generator.grad.abs().sum() > 0
    )
    assert torch.equal(before, model.pos_embed.generator.detach())
    with pytest.raises(ValueError, match="block_size"):
        Model(CFG.replace(position=ComRoPE(block_size=3)))


# -- PolyReLU / PolyNorm ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["polyrelu", "polynorm"])
def test_poly_activation_matches_its_formula(name: str) -> None:
    model = Model(CFG.replace(mlp=name)).eval()
    act = model.blocks[0].mlp.act
    with torch.no_grad():
        act.coef.copy_(torch.tensor([0.1, 0.5, -0.25, 0.2]))
    _, cache = model.run_with_cache(tokens(), names_filter=lambda n: n.startswith("blocks.0.mlp"))
    pre, post = cache["blocks.0.mlp.hook_pre"], cache["blocks.0.mlp.hook_post"]
    base = F.relu(pre) if name == "polyrelu" else pre
    terms = [base**i for i in (1, 2, 3)]
    if name == "polynorm":
        terms = [t / (t.pow(2).mean(-1, keepdim=True) + CFG.eps).sqrt() for t in terms]
    expected = 0.1 + 0.5 * terms[0] - 0.25 * terms[1] + 0.2 * terms[2]
    torch.testing.assert_close(post, expected, atol=1e-5, rtol=1e-5)
    assert "blocks.0.mlp.act.coef" in model.state_dict()


# -- mixture of experts ----------------------------------------------------------------------
def _moe_model(**options) -> Model:
    return Model(CFG.replace(mlp=TopKMoE(n_experts=4, k=2, **options))).eval()


def test_moe_output_equals_the_dense_mixture_of_the_chosen_experts() -> None:
    model, x = _moe_model(), torch.randn(2, 9, 32)
    mlp = model.blocks[0].mlp
    with torch.no_grad():
        out = mlp(x, model._context(tokens(2, 9), None, None))
        probs = (x @ mlp.W_router).softmax(-1)
        top, choice = probs.topk(2, dim=-1)
        weights = top / top.sum(-1, keepdim=True)
        every = torch.stack(
            [F.relu(x @ e.W_in + e.b_in) @ e.W_out for e in mlp.experts], dim=-2
        )  # [batch, pos, expert, d_model]
        chosen = every.gather(-2, choice[..., None].expand(-1, -1, -1, 32))
        expected = (weights[..., None] * chosen).sum(-2) + mlp.b_out
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_moe_router_hooks_fire_and_patching_the_choice_changes_the_output() -> None:
    model, toks = _moe_model(), tokens()
    logits, cache = model.run_with_cache(toks)
    assert cache["blocks.0.mlp.hook_router_logits"].shape == (2, 12, 4)
    choice = cache["blocks.0.mlp.hook_router_choice"]
    assert choice.shape == (2, 12, 2) and choice.dtype == torch.int64
    assert "blocks.1.mlp.experts.3.hook_post" in model.hook_names()

    def everyone_to_expert_0_and_1(choice: torch.Tensor, hook) -> torch.Tensor:
        return torch.tensor([0, 1]).expand_as(choice)

    patched = model.run_with_hooks(
        toks, fwd_hooks=[("blocks.0.mlp.hook_router_choice", everyone_to_expert_0_and_1)]
    )
    assert not torch.allclose(patched, logits)
    # all slots on experts 0 and 1: dispatch (1/2, 1/2, 0, 0), so loss = 4 * (P_0 + P_1) / 2
    probs = cache["blocks.0.mlp.hook_router_logits"].softmax(-1).flatten(0, 1).mean(0)
    torch.testing.assert_close(model.blocks[0].mlp.load_balancing_loss, 2 * (probs[0] + probs[1]))


def test_moe_load_balancing_loss_is_one_when_uniform_and_has_a_gradient() -> None:
    model = Model(CFG.replace(mlp=TopKMoE(n_experts=4, k=1)))
    with torch.no_grad():
        for block in model.blocks:
            block.mlp.W_router.zero_()  # uniform router probabilities
    model(tokens(), return_type="loss")
    # P_e = 1/4 whatever the (tied) choice, so each layer's loss is 4 * sum_e f_e / 4 = 1
    torch.testing.assert_close(moe_load_balancing_loss(model), torch.tensor(2.0))
    model(tokens(), return_type="loss")
    moe_load_balancing_loss(model).backward()
    assert model.blocks[0].mlp.W_router.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no MoE"):
        moe_load_balancing_loss(Model(CFG))


def test_moe_mlp_stats_count_routed_neurons() -> None:
    model = _moe_model()
    stats = model.run_with_stats(tokens(), ["mlp.nonzero_frac", "mlp.fire_count"])
    frac, count = stats["mlp.nonzero_frac", 0], stats["mlp.fire_count", 0]
    assert count.shape == (4 * CFG.d_mlp,) and torch.all((frac >= 0) & (frac <= 1))
    assert int(count.sum()) == round(float(frac.sum() * 2 * CFG.d_mlp))
    with pytest.raises(ValueError, match="k <= n_experts"):
        TopKMoE(n_experts=2, k=3)


# -- looped ----------------------------------------------------------------------------------
def test_looped_model_applies_one_block_n_times_with_per_iteration_hooks() -> None:
    cfg = CFG.replace(n_layers=3, reparam=Looped(period=1))
    model = Model(cfg).eval()
    single = sum(p.numel() for p in model.blocks[0].parameters())
    assert sum(p.numel() for p in model.blocks.parameters()) == single
    assert model.blocks[2].mlp.W_in is model.blocks[0].mlp.W_in
    logits, cache = model.run_with_cache(tokens())
    resid = cache["blocks.0.hook_resid_pre"]
    ctx = model._context(tokens(), None, None)
    with torch.no_grad():
        for i in range(3):
            resid = model.blocks[0](resid, ctx)
            torch.testing.assert_close(cache[f"blocks.{i}.hook_resid_post"], resid)
    assert not torch.allclose(cache["blocks.0.hook_resid_post"], cache["blocks.1.hook_resid_post"])


def test_tying_refuses_modules_of_different_structure_and_ties_nothing() -> None:
    """Run 8 (issue #20): a source with fewer submodules is refused before any weight is
    tied (a shorter zip would tie a prefix silently); a matching one ties every weight."""
    from workbench.variants.looped import tie_module_parameters

    gen = torch.Generator().manual_seed(0)
    target = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    torch.nn.init.normal_(target[0].weight, generator=gen)
    before = {n: p.detach().clone() for n, p in target.named_parameters()}
    with pytest.raises(ValueError) as err:
        tie_module_parameters(target, torch.nn.Sequential(torch.nn.Linear(2, 2)))
    assert str(err.value) == (
        "Cannot tie Sequential (3 modules) to Sequential (2 modules): different structure"
    )
    assert {n: p.detach() for n, p in target.named_parameters()}.keys() == before.keys()
    for name, param in target.named_parameters():
        assert torch.equal(param, before[name]), name
    source = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    assert tie_module_parameters(target, source) == 4
    assert target[1].bias is source[1].bias and list(target.parameters()) == []


def test_looped_period_two_cycles_two_blocks_and_round_trips_a_checkpoint(tmp_path) -> None:
    from workbench.core.checkpoint import load_model, save_model

    model = Model(CFG.replace(n_layers=4, reparam={"name": "looped", "period": 2})).eval()
    assert model.blocks[3].attn.W_Q is model.blocks[1].attn.W_Q
    assert model.blocks[2].attn.W_Q is not model.blocks[1].attn.W_Q
    loaded = load_model(save_model(model, tmp_path / "looped"))
    torch.testing.assert_close(loaded(tokens()), model(tokens()))
    with pytest.raises(ValueError, match="period"):
        Model(CFG.replace(reparam=Looped(period=3)))


# -- names, objects, dicts -------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,spec",
    [
        ("attention", PowerSoftmax(power=4)),
        ("position", ComRoPE(block_size=2)),
        ("mlp", TopKMoE(n_experts=3, k=1)),
        ("reparam", Looped(period=1)),
    ],
    ids=["power_softmax", "comrope", "moe", "looped"],
)
def test_specs_round_trip_by_name_object_and_dict(field: str, spec) -> None:
    by_object = CFG.replace(**{field: spec})
    by_dict = ModelConfig.from_dict(by_object.to_dict())
    assert by_dict == by_object and getattr(by_dict, field) == spec
    assert getattr(CFG.replace(**{field: spec.name}), field) == type(spec)()
    with pytest.raises(ValueError, match="Did you mean"):
        CFG.replace(**{field: spec.name + "x"})


# -- combinations ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_combination_trains_and_gives_its_stats(name: str) -> None:
    model = Model(CFG.replace(**COMBINATIONS[name]))
    data = torch.cat([tokens(16, 8, seed=5)] * 2, dim=1)  # copy task: second half repeats
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model(data, return_type="loss")
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.8 * losses[0], f"{name}: {losses[0]:.3f} -> {losses[-1]:.3f}"
    supported = model.supported_stats()
    stats = model.eval().run_with_stats(
        data[:2], [f"{f}.{s}" for f, ss in supported.items() for s in ss], mlp_threshold=0.01
    )
    torch.testing.assert_close(stats.output, model(data[:2]), atol=1e-4, rtol=1e-4)


# -- docs/variants.md generator ----------------------------------------------------------------
def test_doc_generator_claims_name_real_tests_and_probe_reports_a_variant() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "gen_variants_doc.py"
    spec = importlib.util.spec_from_file_location("gen_variants_doc", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.claims_table().count("\n") == len(gen.CLAIMS) + 1
    row = gen.probe(gen.BASE.replace(attention="deltanet"), "attention", steps=20)
    assert row["trains"].startswith("yes") and "`attn.hook_beta`" in row["hooks"]
    assert row["stats"].startswith("attn: mix_entropy") and row["triton"] == "no"
    row = gen.probe(gen.BASE.replace(attention="glu_mixer"), "attention", steps=1)
    assert row["stats"].startswith("attn: none (asking raises")
