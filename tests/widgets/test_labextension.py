"""The Workbench JupyterLab extension is built and installed: `jupyter labextension list`.

`make labextension` builds `labextension/` with node and links it into the venv. Without a
build (no node on the machine) the tests of the build skip, except under CI (`CI=true`), which
has node and must ship the extension.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "workbench/labextension"
SOURCE = REPO / "labextension/package.json"

UNSAFE_DOM = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(")


@pytest.fixture
def built() -> Path:
    if not (BUILT / "package.json").exists():
        if os.environ.get("CI"):
            pytest.fail("the JupyterLab extension is not built: `make labextension` must run in CI")
        pytest.skip("labextension not built (needs node: `make labextension`)")
    return BUILT


def test_extension_sources_never_parse_kernel_text_as_html():
    sources = sorted((REPO / "labextension/src").glob("*.ts"))
    assert sources, "no TypeScript sources found"
    for source in sources:
        text = source.read_text()
        assert [word for word in UNSAFE_DOM if word in text] == [], source.name


def test_labextension_list_reports_enabled_and_ok(built):
    listing = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)  # colour codes
    version = json.loads(SOURCE.read_text())["version"]
    pattern = rf"@workbench/labextension v{re.escape(version)} enabled\s+OK \(python, workbench\)"
    assert re.search(pattern, text), text


def test_widget_packages_are_shared_singletons_not_bundled(built):
    package = json.loads((built / "package.json").read_text())
    shared = package["jupyterlab"]["sharedPackages"]
    for name in ("@jupyter-widgets/base", "@jupyter-widgets/jupyterlab-manager"):
        assert shared[name] == {"bundled": False, "singleton": True}
    install = json.loads((built / "install.json").read_text())
    assert install["packageName"] == "workbench"
