"""`collect_distributed`: one rank's share of a corpus collection, then the reduce."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from workbench.core.collect import fold_batch
from workbench.core.summary import StatsSummary, accumulate
from workbench.dist.corpus import corpus_fingerprint, shard_bounds
from workbench.dist.partials import (
    check_same_job,
    check_world,
    finished,
    partial_path,
)

SUMMARY_FILE = "summary.safetensors"


def init_distributed(init_method: str | None = None, rank: int | None = None,
                     world: int | None = None) -> tuple[int, int]:  # fmt: skip
    """(rank, world size). Joins the process group that `torchrun`/SLURM describe in the
    environment (or `init_method`, e.g. a `file://` store in tests); one process without
    either. gloo on CPU, nccl when CUDA is available."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = world if world is not None else int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    rank = rank if rank is not None else int(os.environ["RANK"])
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method=init_method or "env://", rank=rank,
                            world_size=world, timeout=timedelta(minutes=30))  # fmt: skip
    return rank, world


def collect_distributed(
    model,
    tokens: torch.Tensor,
    mask: torch.Tensor | None,
    stats: Sequence[str],
    out: str | Path,
    *,
    batch_size: int = 8,
    every: int = 10,
    mlp_threshold: float | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> StatsSummary | None:
    """This rank's shard of `tokens` (`[n, pos]`, fixed order), partials every `every`
    batches, then the reduce. Returns the whole collection's summary (on every rank; rank 0
    also writes `out/summary.safetensors`), or None when `stop_after` batches ended the run
    early (a simulated interruption, for tests)."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    model.stats_request(stats, mlp_threshold)  # bad names fail before any batch runs
    if len(tokens) < world:
        raise ValueError(f"{len(tokens)} sequences cannot be shared by {world} ranks")
    job = job_identity(model, tokens, mask, stats, mlp_threshold, batch_size, world)
    check_world(Path(out), world)
    start, stop = shard_bounds(len(tokens), rank, world)
    path = partial_path(Path(out), rank, world)
    summary, done = resume(path, job)
    starts = list(range(start, stop, batch_size))
    started = time.perf_counter()
    bar = tqdm(total=len(starts), initial=done, desc=f"rank {rank}", unit="batch",
               disable=not progress, position=rank)  # fmt: skip
    for i in range(done, len(starts)):
        rows = slice(starts[i], min(starts[i] + batch_size, stop))
        summary = fold_batch(model, summary, tokens[rows], None if mask is None else mask[rows],
                       stats, mlp_threshold)  # fmt: skip
        bar.update(1)
        if (i + 1) % every == 0 or i + 1 == len(starts):
            save_partial(summary, path, job, rank, i + 1, len(starts))
        if stop_after is not None and i + 1 - done >= stop_after and i + 1 < len(starts):
            save_partial(summary, path, job, rank, i + 1, len(starts))
            bar.close()
            return None
    bar.close()
    if summary is None:  # resumed a complete partial
        summary = StatsSummary.load(path)
    collected = time.perf_counter() - started
    return reduce_and_write(summary, Path(out), rank, world, collected)


def job_identity(model, tokens, mask, stats, mlp_threshold, batch_size, world) -> dict:
    cfg = model.cfg
    return {"model": cfg.name, "config_hash": cfg.config_hash(),
            "data_fingerprint": corpus_fingerprint(tokens, mask), "stats": list(stats),
            "mlp_threshold": mlp_threshold, "batch_size": batch_size,
            "n_sequences": len(tokens), "world": world}  # fmt: skip


def resume(path: Path, job: dict) -> tuple[StatsSummary | None, int]:
    """This rank's partial and how many batches it holds (None, 0 for a fresh start)."""
    if not path.exists():
        return None, 0
    summary = StatsSummary.load(path)
    check_same_job(summary.meta.get("partial", {}), job, path)
    return summary, int(summary.meta["partial"]["batches_done"])


def save_partial(summary, path: Path, job: dict, rank: int, done: int, total: int) -> None:
    summary.meta["partial"] = {**job, "rank": rank, "batches_done": done, "n_batches": total,
                               "complete": done == total}  # fmt: skip
    summary.save(path)  # atomic: a kill mid-write leaves the previous partial


def reduce_and_write(summary, out: Path, rank: int, world: int, collected: float):
    started = time.perf_counter()
    if world > 1:
        all_reduce_summary(summary)
        summary.meta["partial"]["complete"] = True
    result = finished(summary)
    result.meta["timing"] = {"collect_s": collected, "reduce_s": time.perf_counter() - started}
    if rank == 0:
        result.save(out / SUMMARY_FILE)
    if world > 1:
        dist.barrier()
    return result


def all_reduce_summary(summary: StatsSummary) -> None:
    """Sum counts, sums and histograms; min and max elementwise; in place, same order on
    every rank (sorted names)."""
    device = torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
    ops = {"min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}

    def reduce(tensor: torch.Tensor, op) -> torch.Tensor:
        moved = tensor.to(device)
        dist.all_reduce(moved, op=op)
        return moved.cpu()

    for name in sorted(summary.accumulators):
        acc = summary.accumulators[name]
        for field in acc.FIELDS:
            setattr(acc, field, reduce(getattr(acc, field), ops.get(field, dist.ReduceOp.SUM)))
    for name in sorted(summary.fire_counts):
        summary.fire_counts[name] = reduce(summary.fire_counts[name], dist.ReduceOp.SUM)
    totals = reduce(torch.tensor([summary.tokens, summary.sequences]), dist.ReduceOp.SUM)
    summary.tokens, summary.sequences = int(totals[0]), int(totals[1])
