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


def test_visible_keys_moves_left_padded_positions_to_the_scores_device() -> None:
    """Run 10: per-row positions of left-padded rows (a CPU tensor here) go to the device the
    mask is built on before the local window compares them."""
    from types import SimpleNamespace

    from workbench.kernels.attention.local import LocalMask

    from workbench.variants.attention import visible_keys

    rows = torch.tensor([[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]])
    ctx = SimpleNamespace(row_pos_ids=rows, causal=True, key_padding_mask=None)
    mask = visible_keys(ctx, 5, 5, torch.device("meta"), local=LocalMask(window=2))
    assert mask.device.type == "meta" and mask.shape == (2, 1, 5, 5)
