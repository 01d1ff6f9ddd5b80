"""Overhead of `EntropyTracker` on training: wall time with the tracker / without it.

The measurement is `tracker_overhead.py`'s (default model architecture, alternating runs,
the tracker's own calls timed within each tracked run). Target: <= 5%.

Usage: python benchmarks/entropy_tracker.py [--steps 100] [--every 25] [--repeats 3]
"""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from tracker_overhead import main  # noqa: E402

from workbench.analysis.entropy_training import EntropyTracker  # noqa: E402

if __name__ == "__main__":
    main(EntropyTracker, __doc__.splitlines()[0], steps=100, repeats=3)
