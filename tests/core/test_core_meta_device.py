"""Tensors a function creates land on its inputs' device (issue #20, run 8: mutants that
dropped `device=` survived, since CI has no GPU). The "meta" device stands in for a GPU: an
op mixing a CPU tensor with a meta tensor raises, so a tensor made on the default device
instead of the input's fails here as it would on CUDA."""

import torch

from workbench import Model, ModelConfig
from workbench.core.padding import roll_rows


def test_roll_rows_builds_its_index_on_the_rows_device() -> None:
    x, shift = torch.zeros(2, 5, 3, device="meta"), torch.zeros(2, dtype=torch.long, device="meta")
    out = roll_rows(x, shift, dim=1)
    assert out.device.type == "meta" and out.shape == (2, 5, 3)


def test_accumulated_bias_sums_on_the_models_device() -> None:
    cfg = ModelConfig(d_model=16, n_layers=2, n_heads=2, d_mlp=32, d_vocab=11, n_ctx=8)
    model = Model(cfg).to("meta")
    bias = model.accumulated_bias(2, mlp_input=False)
    assert bias.device.type == "meta" and bias.shape == (16,)
