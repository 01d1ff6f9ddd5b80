"""Run a per-query-block function over every block and join the results (chunked paths)."""

from __future__ import annotations

from workbench.kernels.attention._tiling import concat_blocks, prepare, query_blocks


def run_blocks(block_fn, q, k, v, call, chunk: int, **options):
    """Apply `block_fn(q_blk, q_pos, k, v, call=, slopes=, chunk=, **options)` per block."""
    q_s, k_c, v_c, slopes = prepare(q, k, v, call.scale, call.alibi_slopes)
    outs, parts = [], {name: [] for name in call.stats}
    for q_blk, q_pos in query_blocks(q_s, k.shape[2], chunk):
        out, values = block_fn(q_blk, q_pos, k_c, v_c, call=call, slopes=slopes, chunk=chunk,
                               **options)  # fmt: skip
        outs.append(out)
        for name in call.stats:
            parts[name].append(values[name])
    return concat_blocks(outs, parts, q.dtype)
