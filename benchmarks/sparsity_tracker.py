"""Overhead of `SparsityTracker` (probe sparsity) on training: time with it / without it.

The measurement is `tracker_overhead.py`'s (default model architecture, alternating runs,
the tracker's own calls timed within each tracked run). Target: <= 5%.

Usage: python benchmarks/sparsity_tracker.py [--steps 50] [--every 25] [--repeats 2]
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tracker_overhead import main  # noqa: E402

from workbench.analysis.sparsity_training import SparsityTracker  # noqa: E402

if __name__ == "__main__":
    main(SparsityTracker, __doc__.splitlines()[0], steps=50, repeats=2)
