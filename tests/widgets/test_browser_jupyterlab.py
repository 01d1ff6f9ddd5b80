"""JupyterLab 4 in headless Debian Chromium: widgets render, link, and never run token HTML.

Starts `jupyter lab` on 127.0.0.1 with a token on a copy of the notebooks, drives it with the
PyPI `playwright` package pointed at /usr/bin/chromium (no `playwright install`), runs all
cells and inspects the DOM. Set WORKBENCH_UPDATE_SCREENSHOTS=1 to refresh docs/img/*.png.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SMOKE = REPO / "tests/widgets/assets/widgets_smoke.ipynb"
QUICKSTART = next(
    iter(sorted((REPO / "notebooks").glob("*quickstart*.ipynb"))),
    REPO / "notebooks/quickstart.ipynb",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install chromium"
    ),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAB_SETTINGS = {
    # Start the notebook's kernel without the "Select Kernel" dialog, which otherwise shows
    # up when the kernel specs arrive late (seen under pytest-xdist on 2 cores).
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
    # No news feed or update check: no toast in the screenshot, no request to the internet.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_settings(directory: Path) -> Path:
    for plugin, values in LAB_SETTINGS.items():
        path = directory / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return directory


@dataclass(frozen=True)
class LabServer:
    base: str
    token: str
    log_path: Path
    runtime_dir: Path  # where the server writes kernel connection files


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a temporary copy of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    log_path = tmp_path_factory.mktemp("lab_log") / "lab.log"
    for notebook in (*sorted(SMOKE.parent.glob("*.ipynb")), QUICKSTART):
        if notebook.exists():
            shutil.copy(notebook, root / notebook.name)
    settings = write_lab_settings(root / ".lab-settings")
    port, token = _free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("lab_runtime")
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
        JUPYTER_RUNTIME_DIR=str(runtime),
    )
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            f"--IdentityProvider.token={token}",
            "--no-browser",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={root / '.lab-workspaces'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
        yield LabServer(base, token, log_path, runtime)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


class PageWatch:
    """Collects console errors, uncaught exceptions and dialogs (e.g. an injected alert)."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: self.errors.append(f"uncaught: {err}"))
        page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def start_ready_kernel(lab: LabServer, name: str) -> None:
    """Start the notebook's session through the REST API and wait until its kernel answers.

    If the page connects while the kernel is still starting, jupyter_server 2.21 can fail the
    websocket (AttributeError on `connection.kernel_ws_protocol`, seen under pytest-xdist on
    2 cores) and the notebook ends up with no kernel. With a ready session the page just
    attaches to it. The server reports "starting" until a client connects, so readiness is
    checked with a kernel client on the connection file.
    """
    body = {"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}}
    request = urllib.request.Request(
        f"{lab.base}/api/sessions?token={lab.token}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        kernel_id = json.load(response)["kernel"]["id"]
    connection_file = lab.runtime_dir / f"kernel-{kernel_id}.json"
    deadline = time.monotonic() + 30
    while not connection_file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"no connection file for kernel {kernel_id}:\n{lab.log_path.read_text()}")
        time.sleep(0.2)
    # Under load the heartbeat can miss a beat while the kernel starts; jupyter_client then
    # reports "Kernel died" although it is only slow. Ask again before giving up.
    for attempt in range(3):
        client = BlockingKernelClient(connection_file=str(connection_file))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            return
        except RuntimeError:
            if attempt == 2:
                raise
            time.sleep(2)
        finally:
            client.stop_channels()


KERNEL_CONNECTED = """() => {
    const name = document.querySelector('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName');
    const state = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return name && /Python/.test(name.textContent) && state && state.dataset.status === 'idle';
}"""


def wait_for_connected_kernel(page, attempts: int = 3) -> None:
    """Wait for the notebook to show an idle Python kernel; reload if it came up without one.

    On a loaded machine JupyterLab sometimes starts a second kernel whose websocket
    jupyter_server fails with a 500 while it is still starting (see `start_ready_kernel`), and
    the notebook is left with "No Kernel". A reload attaches to the now running session.
    """
    for attempt in range(attempts):
        try:
            page.wait_for_function(KERNEL_CONNECTED, timeout=30_000)
            return
        except playwright_api.TimeoutError:
            if attempt == attempts - 1:
                raise
            page.reload()


def open_and_run(browser, lab: LabServer, name: str):
    """Open notebook `name`, wait for an idle kernel, run all cells, wait until done."""
    log_path = lab.log_path
    start_ready_kernel(lab, name)
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    watch = PageWatch(page)
    # A workspace of its own per notebook, reset: no tabs or panels restored from earlier pages.
    workspace = "wb-" + Path(name).stem.replace("_", "-")
    page.goto(f"{lab.base}/lab/workspaces/{workspace}/tree/{name}?reset&token={lab.token}")
    wait_for_connected_kernel(page)
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
    # Done when every code cell has a number in its prompt and the kernel is idle again.
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=90_000,
        )
    except playwright_api.TimeoutError:
        shot = Path(tempfile.gettempdir()) / f"failed_{name}.png"
        page.screenshot(path=str(shot))
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        pytest.fail(
            f"cells did not finish (prompts {prompts}); screenshot {shot}; console errors "
            f"{watch.errors}; server log:\n{log_path.read_text()}"
        )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    return page, watch


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    target_dir = REPO / "docs/img" if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") else tmp_path
    target = target_dir / name
    page.locator(".wb-heatmap").first.scroll_into_view_if_needed()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(target))
    return target


def test_smoke_notebook_renders_links_and_escapes(browser, lab, tmp_path):
    page, watch = open_and_run(browser, lab, SMOKE.name)
    page.wait_for_selector(".wb-heatmap .wb-cell", timeout=30_000)
    assert page.locator(".jp-OutputArea-output .wb-heatmap .wb-cell").count() == 2 * 4
    for selector in (".wb-attention", ".wb-tokens", ".wb-lines polyline", ".wb-codeview"):
        assert page.locator(selector).count() >= 1, f"{selector} did not render"
    assert page.locator(".wb-codeview .wb-tok-keyword").first.text_content() == "def"
    # panel(bars, title="Layers") opened a Workbench panel (right area) holding the bar chart.
    assert page.locator(".jp-NotebookPanel").count() == 1  # only this notebook is open
    link = ".wb-lab-panel-button:text-is('Shown in the Workbench panel “Layers”')"
    assert page.locator(link).count() == 1
    page.wait_for_selector("#jp-right-stack .wb-lab-panel .wb-bars", timeout=20_000)

    # Click layer 1, head 2: the kernel links it to the pattern view and the bar chart.
    page.locator(".wb-heatmap .wb-cell[data-row='1'][data-col='2']").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.wb-attention .wb-title')]"
        ".some(t => t.textContent === 'Layer 1, head 2')",
        timeout=20_000,
    )
    page.wait_for_selector(".wb-bars rect.wb-bar.wb-selected[data-index='1']", timeout=20_000)

    hostile = '<img src=x onerror="alert(1);window.__wb_pwned=1">'
    token_texts = page.locator(".wb-tokens .wb-token").all_text_contents()
    assert hostile in token_texts
    assert page.locator(".wb-widget img").count() == 0
    page.locator(f".wb-tokens .wb-token:text-is('{hostile}')").first.hover()
    assert page.evaluate("() => window.__wb_pwned === undefined")
    assert watch.dialogs == []
    assert watch.errors == [], watch.errors
    save_screenshot(page, tmp_path, "jupyterlab_widgets_smoke.png")
    page.close()


@pytest.mark.skipif(not QUICKSTART.exists(), reason="no notebooks/*quickstart*.ipynb yet")
def test_quickstart_notebook_renders(browser, lab, tmp_path):
    page, watch = open_and_run(browser, lab, QUICKSTART.name)
    page.wait_for_selector(".wb-widget", timeout=30_000)
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert [text for text in stderr.all_text_contents() if "Error" in text] == []
    assert page.locator(".jp-NotebookPanel").count() == 1  # only this notebook is open
    # Clicking a head in the dashboard's heatmap shows that head's pattern.
    page.locator(".wb-heatmap .wb-cell[data-row='0'][data-col='1']").first.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.wb-attention .wb-title')]"
        ".some(t => t.textContent.endsWith('Layer 0, head 1'))",
        timeout=20_000,
    )
    assert watch.dialogs == []
    assert watch.errors == [], watch.errors
    save_screenshot(page, tmp_path, "jupyterlab_quickstart.png")
    page.close()
