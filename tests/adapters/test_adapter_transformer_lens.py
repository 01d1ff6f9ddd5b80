"""A TransformerLens 4.x TransformerBridge and its workbench conversion give the same logits."""

import pytest
import torch

pytest.importorskip("transformer_lens")
import transformer_lens.model_bridge.sources.native  # noqa: E402,F401  (registers boot_native)
from transformer_lens.config import TransformerBridgeConfig  # noqa: E402
from transformer_lens.model_bridge import TransformerBridge  # noqa: E402

from workbench.adapters import from_transformer_lens  # noqa: E402


def bridge(**overrides) -> TransformerBridge:
    fields = dict(
        d_model=64,
        n_layers=2,
        n_heads=4,
        d_head=16,
        d_mlp=256,
        d_vocab=100,
        n_ctx=32,
        act_fn="relu",
        normalization_type="LN",
        seed=0,
    )
    return TransformerBridge.boot_native(TransformerBridgeConfig(**{**fields, **overrides}))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"normalization_type": "RMS", "act_fn": "gelu_new"},
        {"positional_embedding_type": "rotary", "n_key_value_heads": 2},
        {"attn_only": True},
    ],
    ids=["ln-relu-learned", "rms-gelu", "rotary-gqa", "attn-only"],
)
def test_same_logits(overrides) -> None:
    tl = bridge(**overrides)
    model = from_transformer_lens(tl)
    tokens = torch.randint(0, 100, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), tl(tokens), atol=1e-5, rtol=0)


def test_same_attention_patterns() -> None:
    tl = bridge()
    model = from_transformer_lens(tl)
    tokens = torch.randint(0, 100, (1, 12), generator=torch.Generator().manual_seed(1))
    _, ours = model.run_with_cache(tokens)
    _, theirs = tl.run_with_cache(tokens)
    for layer in range(2):
        torch.testing.assert_close(
            ours["pattern", layer], theirs[f"blocks.{layer}.attn.hook_pattern"], atol=1e-6, rtol=0
        )


def test_unsupported_bridge_is_a_clear_error() -> None:
    with pytest.raises(NotImplementedError, match="gated"):
        from_transformer_lens(bridge(gated_mlp=True, act_fn="silu"))
