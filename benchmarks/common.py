"""Shared benchmark helpers: wall time and peak resident memory of one measured call.

Peak memory on CPU is read from the kernel (VmHWM in /proc/self/status) after resetting
it with `clear_refs`, so it covers every allocation of the call, torch's included, and
excludes whatever the set-up (model building, warm-up) peaked at before.
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_mib(fn: Callable[[], object]) -> float:
    """Peak resident memory above the current level while `fn()` runs, in MiB."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return (peak - before) / 1024


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_ratio(
    fn: Callable[[], object], peer: Callable[[], object], repeats: int = 7
) -> tuple[float, float, float]:
    """(median seconds of fn, of peer, median of the per-pair ratios fn/peer). The two run
    alternately, so a machine whose load drifts during the run slows both alike."""
    fn(), peer()
    mine, theirs = [], []
    for _ in range(repeats):
        for times, f in ((theirs, peer), (mine, fn)):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    return statistics.median(mine), statistics.median(theirs), statistics.median(ratios)


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, {gpu}"
