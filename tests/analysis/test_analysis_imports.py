"""`workbench.analysis` is pure data: importing it must not pull in plotting or widget code."""

import subprocess
import sys

CHECK = """
import sys
import workbench.analysis
from workbench.analysis import overview, runner, registry, display
loaded = [m for m in ("plotly", "ipywidgets", "anywidget", "kaleido", "markdown_it")
          if m in sys.modules]
print(",".join(loaded))
"""


def test_importing_analysis_loads_no_plotly_or_widgets():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", f"analysis imported {done.stdout.strip()}"


def test_the_check_sees_a_plotly_import():
    # The same check must fail when the import does happen (the test can fail).
    done = subprocess.run(
        [sys.executable, "-c", "import workbench.export\n" + CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "plotly" in done.stdout
