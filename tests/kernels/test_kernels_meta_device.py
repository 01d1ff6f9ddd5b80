"""Kernel tensors land on their inputs' device (issue #20, run 10: mutants that dropped
`device=` survived, since CI has no GPU). As in tests/core/test_core_meta_device.py, the
"meta" device stands in for a GPU: mixing a CPU tensor with a meta tensor raises."""

import torch
from workbench.kernels.attention._tiling import query_blocks
from workbench.kernels.mlp.chunked import mlp_activation_chunked


def test_query_blocks_give_positions_on_the_queries_device() -> None:
    q = torch.zeros(1, 2, 5, 4, device="meta")
    blocks = list(query_blocks(q, n_k=7, chunk=2))
    assert [tuple(block.shape) for block, _ in blocks] == [(1, 2, 2, 4)] * 2 + [(1, 2, 1, 4)]
    assert all(pos.device.type == "meta" for _, pos in blocks)
    cpu = [pos.tolist() for _, pos in query_blocks(torch.zeros(1, 2, 5, 4), 7, 2)]
    assert cpu == [[2, 3], [4, 5], [6]]  # the last 5 of 7 positions


def test_mlp_statistics_are_made_on_the_activations_device() -> None:
    post, stats = mlp_activation_chunked(torch.zeros(2, 5, 16, device="meta"), chunk=4)
    assert post.device.type == "meta"
    assert {name: t.device.type for name, t in stats.items()} == {
        "nonzero_frac": "meta",
        "fire_count": "meta",
    }
