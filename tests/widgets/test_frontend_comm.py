"""The kernel side of the Workbench JupyterLab extension, spoken to over a real comm.

A real ipykernel runs `workbench`; this test plays the extension: it opens the comm
`workbench.labext` with the same messages as `labextension/src/connection.ts` and reads what
the kernel publishes on iopub. The browser test drives the extension itself.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

SETUP = """
import torch
import workbench as wb
from workbench import frontend
from workbench.core import Model, ModelConfig
from workbench.widgets import Heatmap
hostile = Model(ModelConfig(n_layers=1, d_model=32, n_heads=2, d_vocab=40, n_ctx=16,
                            name='<img src=x onerror=alert(1)>'))
heat = Heatmap(torch.rand(2, 3), title="heat")
_private = hostile
"""
PARAMS = """
from torch.nn.utils import parameters_to_vector
print(parameters_to_vector(hostile.parameters()).numel())
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    # Named as jupyter_server names its kernels' connection files: kernel-<id>.json.
    kernel_id = str(uuid.uuid4())
    connection = tmp_path_factory.mktemp("kernel") / f"kernel-{kernel_id}.json"
    manager = KernelManager(kernel_name="python3", connection_file=str(connection))
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code: str) -> list[dict]:
    """Execute `code`; the iopub messages it produced (fails on an error)."""
    msg_id = client.execute(code)
    messages = collect(client, lambda m: m["parent_header"].get("msg_id") == msg_id)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert errors == [], errors
    return messages


def collect(client, belongs, timeout: float = 60) -> list[dict]:
    """iopub messages for which `belongs(msg)` holds, until that parent goes idle."""
    found = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no idle status within {timeout} s; got {found}")
        if not belongs(msg):
            continue
        found.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return found


def comm_request(client, msg_type: str, content: dict, replies: list | None = None) -> list[dict]:
    """Send a comm message the way the frontend does; the comm data the kernel answered
    (all iopub messages it caused are appended to `replies`)."""
    msg = client.session.msg(msg_type, content)
    client.shell_channel.send(msg)
    found = collect(client, lambda m: m["parent_header"].get("msg_id") == msg["header"]["msg_id"])
    (replies if replies is not None else []).extend(found)
    return [m["content"]["data"] for m in found if m["msg_type"] == "comm_msg"]


def stdout(messages: list[dict]) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


def test_handshake_listing_open_and_panels(kernel):
    _, client = kernel
    run(client, SETUP)
    assert stdout(run(client, "print(frontend.frontend_ready())")).strip() == "False"

    # Before any handshake, panel() displays a request plus the inline view (fallback).
    outputs = run(client, "wb.panel(heat, title='Heat')")
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] == "display_data"]
    assert "Workbench JupyterLab extension" in shown[0]["text/plain"]
    request = shown[0]["application/vnd.workbench.panel+json"]
    assert (request["key"], request["area"]) == ("Heat", "right")
    # The kernel names itself as its connection file does (jupyter_server: kernel-<id>.json).
    manager = kernel[0]
    assert request["kernel_id"] == Path(manager.connection_file).stem.removeprefix("kernel-")
    assert len(request["request_id"]) == 32
    inline = shown[1]["application/vnd.jupyter.widget-view+json"]
    assert inline["model_id"] == request["model_id"]
    assert "application/vnd.workbench.fallback+json" in shown[1]

    comm_id = uuid.uuid4().hex
    hello = {
        "comm_id": comm_id,
        "target_name": "workbench.labext",
        "data": {"type": "hello", "version": 1},
    }
    [objects] = comm_request(client, "comm_open", hello)
    assert objects["type"] == "objects"
    [model] = objects["items"]  # the widget, `torch` and `_private` are not listed
    assert model["name"] == "hostile" and model["kind"] == "model"
    assert model["summary"].startswith("<img src=x onerror=alert(1)>: 1L d32 h2")
    assert model["params"] == int(stdout(run(client, PARAMS)))
    assert stdout(run(client, "print(frontend.frontend_ready())")).strip() == "True"

    def send(data: dict, replies: list | None = None) -> list[dict]:
        return comm_request(client, "comm_msg", {"comm_id": comm_id, "data": data}, replies)

    replies: list[dict] = []
    [shown] = send({"type": "open", "name": "hostile", "area": "right"}, replies)
    assert (shown["type"], shown["key"], shown["area"]) == ("show", "hostile", "right")
    # The model summary view was created (its widget comm opened) before `show` named it.
    opened = {
        m["content"]["comm_id"]: m["content"] for m in replies if m["msg_type"] == "comm_open"
    }
    created = opened[shown["model_id"]]
    assert created["data"]["state"]["_esm"]  # an anywidget view
    assert created["data"]["state"]["title"] == "hostile"

    [error] = send({"type": "open", "name": "hostle", "area": "main"})
    assert error["type"] == "error" and "Did you mean: hostile" in error["message"]
    [gone] = send({"type": "reopen", "key": "never shown"})
    assert gone["type"] == "gone"
    [again] = send({"type": "reopen", "key": "Heat"})  # the fallback panel, after a reload
    assert (again["type"], again["model_id"]) == ("show", request["model_id"])

    # With the handshake done, panel() sends the view over the comm and displays nothing.
    outputs = run(client, "wb.panel(heat, title='Heat', area='main')")
    assert [m for m in outputs if m["msg_type"] == "display_data"] == []
    [message] = [m["content"]["data"] for m in outputs if m["msg_type"] == "comm_msg"]
    assert (message["type"], message["key"], message["area"]) == ("show", "Heat", "main")
    [refused] = send({"type": "export", "key": "Heat", "path": "heat.pdf"})
    assert refused["type"] == "error" and "Heatmap, which has no figure" in refused["message"]
    [listed] = send({"type": "list"})
    assert [item["name"] for item in listed["items"]] == ["hostile"]
