"""The Workbench JupyterLab extension in headless Chromium: sidebar, panel, reload, escaping.

Same JupyterLab server and Chromium as `test_browser_jupyterlab.py` (its fixtures). The
notebook loads the default model, computes an entropy result and builds a model whose name is
hostile HTML. Set WORKBENCH_UPDATE_SCREENSHOTS=1 to refresh docs/img/jupyterlab_sidebar.png.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from test_browser_jupyterlab import (  # noqa: F401  (fixtures)
    REPO,
    browser,
    lab,
    open_and_run,
)

NOTEBOOK = "labext_sidebar.ipynb"
WORKSPACE = "wb-labext-sidebar"
HOSTILE = "<img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REPO / "workbench/labextension/package.json").exists(),
        reason="labextension not built (needs node: `make labextension`)",
    ),
]


def wait_for_saved_panel(server, timeout: float = 20) -> None:
    """The layout restorer saves the workspace a little after a change; wait for our panel."""
    url = f"{server.base}/lab/api/workspaces/{WORKSPACE}?token={server.token}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:
            if "workbench-panel:" in json.dumps(json.load(response)):
                return
        time.sleep(0.5)
    pytest.fail("the Workbench panel was not saved in the workspace")


def restart_kernel(server) -> None:
    """Restart the notebook's kernel through the REST API (its widget models are lost)."""
    with urllib.request.urlopen(f"{server.base}/api/sessions?token={server.token}") as response:
        [kernel_id] = [s["kernel"]["id"] for s in json.load(response) if s["path"] == NOTEBOOK]
    url = f"{server.base}/api/kernels/{kernel_id}/restart?token={server.token}"
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=60).close()


def test_sidebar_lists_objects_opens_a_panel_and_survives_reload(browser, lab, tmp_path):  # noqa: F811
    page, watch = open_and_run(browser, lab, NOTEBOOK)
    page.click(".jp-SideBar .lm-TabBar-tab[data-id='workbench-sidebar']")
    sidebar = page.locator("#workbench-sidebar")
    for name in ("model", "result", "hostile"):
        page.wait_for_selector(
            f"#workbench-sidebar .wb-lab-item[data-name='{name}']", timeout=60_000
        )
    model = sidebar.locator(".wb-lab-item[data-name='model']")
    assert model.locator(".wb-lab-summary").text_content().startswith("workbench-default: 3L")
    assert model.locator(".wb-lab-params").text_content().endswith("params")
    assert (
        sidebar.locator(".wb-lab-item[data-name='result'] .wb-lab-kind").text_content() == "result"
    )
    # The hostile model name is text: no <img> element, no dialog, no script ran.
    hostile = sidebar.locator(".wb-lab-item[data-name='hostile'] .wb-lab-summary")
    assert hostile.text_content().startswith(HOSTILE)
    assert sidebar.locator("img").count() == 0

    sidebar.locator(".wb-lab-item[data-name='result'] .wb-lab-open").click()
    panel_cells = ".lm-DockPanel .wb-lab-panel .wb-heatmap .wb-cell"
    page.wait_for_selector(panel_cells, timeout=90_000)
    assert page.locator(".lm-DockPanel .lm-TabBar-tabLabel:text-is('result')").count() == 1
    target_dir = REPO / "docs/img" if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(target_dir / "jupyterlab_sidebar.png"))
    sidebar.locator(".wb-lab-item[data-name='hostile'] .wb-lab-right").click()
    page.wait_for_selector("#jp-right-stack .wb-lab-panel .wb-codeview", timeout=90_000)
    assert page.locator(".wb-lab-panel img").count() == 0

    # Reload (same workspace): the panel comes back, re-rendered from the kernel.
    wait_for_saved_panel(lab)
    # Save first: a notebook with unsaved changes makes the browser ask before leaving.
    page.locator(".jp-NotebookPanel .jp-Notebook").click()
    page.keyboard.press("Control+s")
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)", timeout=20_000)
    assert "reset" not in page.url  # JupyterLab dropped `?reset` from the address on load
    page.reload()
    page.wait_for_selector(panel_cells, timeout=90_000)
    page.wait_for_selector("#jp-right-stack .wb-lab-panel .wb-codeview", timeout=90_000)
    assert page.locator("#workbench-sidebar .wb-lab-item").count() == 3

    # A restarted kernel holds no views: after a reload the panel says so, in text.
    restart_kernel(lab)
    page.reload()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.lm-DockPanel .wb-lab-panel .wb-lab-message')]"
        ".some(m => m.textContent.startsWith('The kernel that held this panel is gone'))",
        timeout=90_000,
    )
    assert page.locator(".wb-lab-panel .wb-heatmap").count() == 0
    assert watch.dialogs == []
    assert watch.errors == [], watch.errors
    page.close()


def test_palette_lists_the_workbench_commands(browser, lab):  # noqa: F811
    page = browser.new_page()
    page.goto(f"{lab.base}/lab/workspaces/wb-palette?reset&token={lab.token}")
    page.wait_for_selector(".jp-SideBar .lm-TabBar-tab[data-id='workbench-sidebar']")
    page.keyboard.press("Control+Shift+c")
    page.keyboard.type("Workbench")
    labels = page.locator(".lm-CommandPalette-itemLabel").all_text_contents()
    assert "Workbench: Show the Sidebar" in labels
    assert "Workbench: Export the Current Panel's Figure" in labels
    assert "Workbench: Open an Object in a Panel (right area)" in labels
    page.close()
