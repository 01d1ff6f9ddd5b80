"""Per-layer schedules (hybrids) and the identity mixer: identical schedules are the plain
model, errors name the field and layer, configs round trip, hybrids train, and statistics
of a hybrid come back keyed by the layers that have them (never stacked across a gap)."""

import pytest
import torch
import torch.nn.functional as F

from workbench import Model, ModelConfig
from workbench.cli import main
from workbench.core.checkpoint import load_model, save_model
from workbench.core.schedule import cycle, every
from workbench.core.stats import check_complete
from workbench.core.validate import ConfigError

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=16, seed=2)
TOKENS = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(0))
HYBRID = CFG.replace(attention=["deltanet", "softmax"])


@pytest.mark.parametrize(
    "field,spec",
    [
        ("attention", "sigmoid"),
        ("mlp", "gelu"),
        ("norm", "rmsnorm"),
        ("block", "parallel"),
        ("position", "rotary"),
    ],  # fmt: skip
)
def test_a_schedule_of_identical_specs_is_the_plain_config(field, spec) -> None:
    plain = Model(CFG.replace(**{field: spec})).eval()
    scheduled = Model(CFG.replace(**{field: [spec, {"name": spec}]})).eval()
    assert torch.equal(plain(TOKENS), scheduled(TOKENS))


def test_schedule_errors_name_the_field_and_the_layer() -> None:
    with pytest.raises(ConfigError, match=r"ModelConfig.attention lists 3 specs.*n_layers is 2"):
        CFG.replace(attention=["softmax"] * 3)
    with pytest.raises(ConfigError, match=r"ModelConfig.attention\[1\].*'sofmax'.*softmax"):
        CFG.replace(attention=["softmax", "sofmax"])
    with pytest.raises(ConfigError, match=r"ModelConfig.mlp\[0\].bogus"):
        CFG.replace(mlp=[{"name": "relu", "bogus": 1}, "relu"])
    with pytest.raises(ConfigError, match="ModelConfig.reparam is model-wide"):
        CFG.replace(reparam=["none", "none"])
    with pytest.raises(ValueError, match=r"ModelConfig.position\[0\] \(learned\).*relative"):
        Model(CFG.replace(position=["learned", "rotary"]))
    with pytest.raises(ConfigError, match="n_layers is 3"):
        HYBRID.replace(n_layers=3)
    with pytest.raises(AttributeError, match=r"per-layer schedule.*cfg.spec\('attention'"):
        _ = HYBRID.attention.name


def test_schedule_helpers() -> None:
    assert every(3, "softmax", "deltanet", n_layers=6) == ["deltanet", "deltanet", "softmax"] * 2
    assert cycle(["a", "b"], n_layers=3) == ["a", "b", "a"]


def test_hybrid_builds_each_layers_variant_and_round_trips(tmp_path) -> None:
    model = Model(HYBRID).eval()
    assert [type(b.attn).__name__ for b in model.blocks] == [
        "DeltaNetMixer",
        "SoftmaxAttentionModule",
    ]
    assert ModelConfig.from_dict(HYBRID.to_dict()) == HYBRID
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.cfg == HYBRID
    assert torch.equal(loaded.eval()(TOKENS), model(TOKENS))


def test_hybrid_trains() -> None:
    model = Model(CFG.replace(attention=["deltanet", "softmax"], mlp=["relu", "gelu"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(TOKENS, return_type="loss")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0] - 0.05
    assert all(p.grad is not None for n, p in model.named_parameters() if "W_beta" in n)


def test_hybrid_stats_name_the_layers_that_lack_a_statistic() -> None:
    model = Model(HYBRID).eval()
    stats = model.run_with_stats(TOKENS, ["attn.entropy", "mlp.nonzero_frac"])
    assert stats.absent == {"attn.entropy": (0,)}
    assert set(stats.by_layer("attn.entropy")) == {1}
    assert stats["mlp.nonzero_frac"].shape[0] == 2  # every layer has it: stacks as before
    _, cache = model.run_with_cache(TOKENS, names_filter="blocks.1.attn.hook_pattern")
    p = cache["blocks.1.attn.hook_pattern"].double()
    expected = -torch.where(p > 0, p * p.clamp_min(1e-300).log(), 0.0).sum(-1)
    torch.testing.assert_close(stats["attn.entropy", 1].double(), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(KeyError, match=r"absent in layers 0 \(deltanet\).*by_layer"):
        stats["attn.entropy"]
    with pytest.raises(KeyError, match=r"Layer 0 \(deltanet\) gives no 'attn.entropy'"):
        stats["attn.entropy", 0]
    with pytest.raises(KeyError, match="absent"):
        stats.layer_means("attn.entropy")
    assert stats.nonfinite() == {"attn.entropy": 0, "mlp.nonzero_frac": 0}


def test_statistics_that_need_every_layer_refuse_a_hybrid_naming_layers() -> None:
    model = Model(HYBRID)
    with pytest.raises(ValueError, match=r"only in layers \[1\]; layers 0 \(deltanet\)"):
        model.stats_request(["attn.entropy"])
    with pytest.raises(ValueError, match="not supported"):  # no layer has it at all
        model.run_with_stats(TOKENS, ["attn.gate"])


def test_info_names_each_layers_variant(tmp_path, capsys) -> None:
    save_model(Model(HYBRID), tmp_path / "hybrid")
    assert main(["info", "--model", str(tmp_path / "hybrid")]) == 0
    out = capsys.readouterr().out
    assert "layer 0: attention=deltanet mlp=relu" in out
    assert "layer 1: attention=softmax" in out and "(+ attn.entropy" in out
    assert "identity" in out  # the registry lists the identity mixer


def test_all_identity_mixers_equal_a_manual_mlp_only_model() -> None:
    model = Model(CFG.replace(attention="identity")).double().eval()
    _, cache = model.run_with_cache(TOKENS)
    assert not any(name.startswith("blocks.0.attn.") for name in model.hook_names())
    assert not any(name.startswith("blocks.0.ln1") for name in model.hook_names())
    x = model.embed.W_E[TOKENS] + model.pos_embed.W_pos[: TOKENS.shape[1]]
    for block in model.blocks:
        ln, mlp = block.ln2, block.mlp
        h = F.layer_norm(x, (32,), ln.w, ln.b, 1e-5) @ mlp.W_in + mlp.b_in
        x = x + torch.relu(h) @ mlp.W_out + mlp.b_out
    logits = F.layer_norm(x, (32,), model.ln_final.w, model.ln_final.b, 1e-5) @ model.unembed.W_U
    torch.testing.assert_close(model(TOKENS), logits + model.unembed.b_U)
    assert torch.equal(cache["blocks.0.hook_attn_out"], torch.zeros_like(x))
    assert torch.equal(cache["blocks.1.hook_resid_mid"], cache["blocks.1.hook_resid_pre"])


def test_identity_layer_hook_out_is_patchable_and_gives_no_attention_stats() -> None:
    model = Model(CFG.replace(attention=["identity", "softmax"])).eval()
    plain = model(TOKENS)
    patched = model.run_with_hooks(
        TOKENS, fwd_hooks=[("blocks.0.hook_attn_out", lambda t, hook: t + 1.0)]
    )
    assert not torch.allclose(plain, patched)
    stats = model.run_with_stats(TOKENS, ["attn.entropy"])
    assert stats.absent == {"attn.entropy": (0,)} and stats.layers("attn.entropy") == (1,)


def test_per_layer_positions_rotate_only_their_layers() -> None:
    """position=["rotary", "none"]: layer 0's scores are rotated q.k, layer 1's plain q.k."""
    model = Model(CFG.replace(position=["rotary", "none"])).eval()
    _, cache = model.run_with_cache(TOKENS)
    assert "blocks.0.attn.hook_rot_q" in cache and "blocks.1.attn.hook_rot_q" not in cache
    future = torch.ones(9, 9, dtype=torch.bool).triu(1)
    for layer, (q, k) in enumerate([("rot_q", "rot_k"), ("q", "k")]):
        qs, ks = (cache[f"blocks.{layer}.attn.hook_{n}"] for n in (q, k))
        scores = torch.einsum("bqhe,bkhe->bhqk", qs, ks) / 8**0.5
        expected = scores.masked_fill(future, float("-inf"))
        torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_attn_scores"], expected)


def test_mamba_hybrid_with_rotary_attention_layers_trains() -> None:
    """Mamba refuses rotary positions (it has no queries to rotate); a position schedule
    gives them to the attention layers only."""
    with pytest.raises(ValueError, match="mamba"):
        Model(CFG.replace(attention=["mamba", "softmax"], position="rotary"))
    cfg = CFG.replace(attention=["mamba", "softmax"], position=["none", "rotary"])
    model = Model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = model(TOKENS, return_type="loss")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_completeness_check_still_demands_every_layer_not_declared_absent() -> None:
    value = {("attn.entropy", 0): torch.zeros(1)}
    with pytest.raises(RuntimeError, match=r"'attn.entropy' missing for layers \[1\]"):
        check_complete(value, ["attn.entropy"], 2)  # a uniform model: no layer may lack it
    check_complete(value, ["attn.entropy"], 2, {"attn.entropy": (1,)})
    both = {**value, ("attn.entropy", 1): torch.zeros(1)}
    with pytest.raises(RuntimeError, match=r"given by layers declared absent \[1\]"):
        check_complete(both, ["attn.entropy"], 2, {"attn.entropy": (1,)})
    uniform = Model(CFG).run_with_stats(TOKENS, ["attn.entropy"])
    assert uniform.absent == {} and uniform["attn.entropy"].shape[0] == 2


def test_schedules_of_every_field_round_trip_through_a_checkpoint(tmp_path) -> None:
    cfg = CFG.replace(
        attention=["mamba", {"name": "softmax", "window": 4}],
        position=["none", {"name": "comrope", "block_size": 4}],  # a position with weights
        block=["macaron", "gated_residual"],
        norm=["rmsnorm", "layernorm"],
        mlp=["gelu", "relu"],
    )
    model = Model(cfg).eval()
    assert "blocks.1.positions.generator" in model.state_dict()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path).eval()
    assert loaded.cfg == cfg
    assert torch.equal(loaded(TOKENS), model(TOKENS))
