"""Block layouts (sequential, parallel) and the scaled rotary tables: their defining formulas.

Hugging Face parity for the same variants (GPT-NeoX parallel blocks, Llama linear/llama3
RoPE) is in tests/adapters/.
"""

import json
import math

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.checkpoint import load_model, save_model, write_manifest
from workbench.variants.position import RotaryPositions

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=16, seed=1)
TOKENS = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(0))


def randomize_norms(model: Model) -> Model:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.normal_(0.5, 0.3, generator=torch.Generator().manual_seed(len(name)))
    return model


@pytest.mark.parametrize("placement", ["pre", "peri"])
def test_parallel_block_is_x_plus_attn_plus_mlp_of_the_same_input(placement) -> None:
    """y = x + attn(ln1(x)) + mlp(ln2(x)); resid_mid = x + attn_out (documented)."""
    model = randomize_norms(Model(CFG.replace(block="parallel", norm_placement=placement)))
    _, cache = model.run_with_cache(TOKENS)
    for layer, block in enumerate(model.blocks):
        x = cache[f"blocks.{layer}.hook_resid_pre"]
        ctx = model._context(TOKENS, None, None).at_layer(layer)
        attn = block.attn(block.ln1(x), ctx)
        mlp = block.mlp(block.ln2(x), ctx)
        if placement == "peri":
            attn, mlp = block.ln1_out(attn), block.ln2_out(mlp)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_attn_out"], attn)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_mlp_out"], mlp)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_mid"], x + attn)
        torch.testing.assert_close(cache[f"blocks.{layer}.hook_resid_post"], x + attn + mlp)


def test_parallel_and_sequential_have_the_same_hooks_but_differ() -> None:
    sequential, parallel = Model(CFG), Model(CFG.replace(block="parallel"))
    assert sequential.hook_names() == parallel.hook_names()
    parallel.load_state_dict(sequential.state_dict())
    assert not torch.allclose(sequential(TOKENS), parallel(TOKENS), atol=1e-3)


def test_parallel_refuses_post_norm() -> None:
    with pytest.raises(ValueError, match="parallel.*post"):
        Model(CFG.replace(block="parallel", norm_placement="post"))


def test_configs_saved_without_a_block_field_load_as_sequential(tmp_path) -> None:
    model = Model(CFG)
    save_model(model, tmp_path)
    config = tmp_path / "config.json"
    text = config.read_text()
    assert '"block"' in text
    meta = json.loads(text)
    del meta["config"]["block"]
    config.write_text(json.dumps(meta))
    (tmp_path / "manifest.json").unlink()  # as saved before the field (and manifests) existed
    write_manifest(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.cfg.block.name == "sequential"
    torch.testing.assert_close(loaded(TOKENS), model.eval()(TOKENS))


def test_rotary_linear_is_rotary_at_position_over_factor() -> None:
    """Position interpolation (Chen et al. 2023): angle at p is the plain angle at p/4."""
    scaled = ModelConfig(d_model=32, n_heads=4, position={"name": "rotary_linear", "factor": 4.0})
    rope = scaled.position.build(scaled)
    plain = RotaryPositions(rotary_dim=8, base=10000.0)
    x = torch.randn(1, 12, 2, 8, generator=torch.Generator().manual_seed(0))
    pos = torch.arange(12)
    torch.testing.assert_close(rope.rotate(x, pos), plain.rotate(x, pos.double() / 4))


def test_rotary_llama3_scales_long_wavelengths_and_keeps_short_ones() -> None:
    cfg = ModelConfig(
        d_model=256, n_heads=2,
        position={"name": "rotary_llama3", "factor": 8.0, "original_max_len": 2048},
    )  # fmt: skip
    freq = cfg.position.build(cfg).inv_freq.double()
    plain = 10000.0 ** (-torch.arange(0, 128, 2, dtype=torch.float64) / 128)
    wavelength = 2 * math.pi / plain
    short, long = wavelength < 2048 / 4, wavelength > 2048 / 1
    torch.testing.assert_close(freq[short], plain[short])
    torch.testing.assert_close(freq[long], plain[long] / 8)
    between = ~short & ~long
    assert between.any() and bool(
        ((freq[between] < plain[between]) & (freq[between] > plain[between] / 8)).all()
    )


def test_rotary_llama3_band_is_the_linear_blend_of_the_paper() -> None:
    """Between the two wavelength limits: smooth = (L / wavelength - low) / (high - low),
    freq = (1 - smooth) * f / factor + smooth * f, in float64 from the Llama 3.1 formula."""
    low, high, factor, length = 1.5, 6.0, 8.0, 2048
    cfg = ModelConfig(
        d_model=256, n_heads=2,
        position={"name": "rotary_llama3", "factor": factor, "original_max_len": length,
                  "low_freq_factor": low, "high_freq_factor": high},
    )  # fmt: skip
    freq = cfg.position.build(cfg).inv_freq.double()
    plain = 10000.0 ** (-torch.arange(0, 128, 2, dtype=torch.float64) / 128)
    wavelength = 2 * math.pi / plain
    between = (wavelength >= length / high) & (wavelength <= length / low)
    smooth = (length / wavelength[between] - low) / (high - low)
    expected = (1 - smooth) * plain[between] / factor + smooth * plain[between]
    assert int(between.sum()) >= 3
    torch.testing.assert_close(freq[between], expected, rtol=1e-6, atol=0)
