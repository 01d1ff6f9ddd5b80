"""`python -m workbench ...` (what `torchrun -m workbench collect ...` runs)."""

import sys

from workbench.cli import main

sys.exit(main())
