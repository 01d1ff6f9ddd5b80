"""What the Workbench sidebar lists, computed in Python (the browser test covers the display)."""

from workbench import Model, ModelConfig
from workbench.kernel_objects import describe_objects


def test_models_are_summarised_with_their_variants_and_parameter_count() -> None:
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=32, seed=0)
    hybrid = Model(cfg.replace(attention=["deltanet", "softmax"], mlp="gelu"))
    listed = describe_objects({"hybrid": hybrid, "number": 3, "_private": hybrid})
    assert [row["name"] for row in listed] == ["hybrid"]  # not plain values, not _names
    row = listed[0]
    assert row["kind"] == "model"
    assert row["params"] == sum(p.numel() for p in hybrid.parameters())
    assert "2L d32 h4 · [deltanet, softmax], layernorm, gelu" in row["summary"]
