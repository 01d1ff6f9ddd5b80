"""Suite-wide set-up: Triton runs in its CPU interpreter when there is no GPU.

TRITON_INTERPRET must be set before any `@triton.jit` definition runs, so it is set
here, before test modules import the kernels.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# `make test` runs two xdist workers on two cores: one thread each avoids oversubscription.
torch.set_num_threads(1)

# Under mutmut (scripts/mutation_run.sh) kernels must import as `kernels.*`, the names its
# mutants carry; see tests/mutmut_kernels.py. Ordinary runs never set this variable.
if "MUTANT_UNDER_TEST" in os.environ:
    import mutmut_kernels

    mutmut_kernels.install()
