"""Variant tensors made inside a forward land on the inputs' device (issue #20, run 8: see
tests/core/test_core_meta_device.py). "meta" stands in for a GPU: mixing it with a CPU
tensor raises."""

import torch

from workbench import Model, ModelConfig
from workbench.variants.position import SinusoidalPositions


def test_sinusoidal_table_is_built_on_the_position_ids_device() -> None:
    table = SinusoidalPositions(8).embed(torch.zeros(2, 5, dtype=torch.long, device="meta"))
    assert table.device.type == "meta" and table.shape == (2, 5, 8)


def test_mamba_scan_matrix_is_built_on_the_inputs_device() -> None:
    cfg = ModelConfig(d_model=8, n_layers=1, n_heads=2, d_vocab=16, position="none",
                      attention={"name": "mamba", "d_state": 4})  # fmt: skip
    ssm = Model(cfg).blocks[0].attn.to("meta")
    delta, b, c = (torch.zeros(2, 9, n, device="meta") for n in (16, 4, 4))
    m = ssm.scan_matrix(delta, b, c, rows=4)
    assert m.device.type == "meta" and m.shape == (2, 16, 9, 9)
