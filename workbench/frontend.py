"""Kernel side of the Workbench JupyterLab extension (`labextension/`): one comm channel.

The extension opens a comm to target `workbench.labext` when a notebook's kernel is ready and
after each cell (the handshake). The target is registered when `workbench` is imported in a
kernel, so `frontend_ready()` says whether a frontend that can show panels answered. Messages
(all JSON; see `labextension/src/protocol.ts`):

    frontend -> kernel  hello, list, open {name, area}, reopen {key}, export {key, path}
    kernel -> frontend  objects {items}, show {key, title, area, model_id}, gone, close,
                        error {message}, exported {path}

Example:
    >>> import workbench.frontend as frontend
    >>> frontend.frontend_ready()     # False in VS Code, Colab, nbconvert or a script
    False
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from workbench.core.registry import suggest

COMM_TARGET = "workbench.labext"
PROTOCOL_VERSION = 1
AREAS = ("right", "main", "left")


def _shell() -> Any:
    """The running IPython kernel's shell, or None (a script never imports IPython for this)."""
    if "IPython" not in sys.modules:  # every kernel has imported it before running a cell
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


@dataclasses.dataclass(frozen=True)
class ShownPanel:
    """What a panel shows: kept alive so a reloaded page can ask for it again."""

    obj: Any
    widget: Any
    title: str
    area: str

    def show_message(self, key: str) -> dict[str, Any]:
        return {
            "type": "show",
            "key": key,
            "title": self.title,
            "area": self.area,
            "model_id": self.widget.model_id,
        }


class FrontendChannel:
    """The comm the extension opened last, and the panels shown through it (by key)."""

    def __init__(self) -> None:
        self.comm: Any = None
        self.panels: dict[str, ShownPanel] = {}

    @property
    def ready(self) -> bool:
        return self.comm is not None

    def on_open(self, comm: Any, message: dict[str, Any]) -> None:
        version = message["content"]["data"].get("version")
        if version != PROTOCOL_VERSION:
            comm.send({"type": "error", "message": f"protocol {version} is not {PROTOCOL_VERSION}"})
            comm.close()
            return
        self.comm = comm  # a reloaded page opens a new comm; the newest one is the live one
        comm.on_msg(self.on_message)
        comm.on_close(lambda _msg: self._forget(comm))
        self.send_objects()

    def _forget(self, comm: Any) -> None:
        if self.comm is comm:
            self.comm = None

    def send(self, message: dict[str, Any]) -> None:
        if self.comm is not None:
            self.comm.send(message)

    def send_objects(self) -> None:
        from workbench.kernel_objects import describe_objects

        shell = _shell()
        namespace = shell.user_ns if shell is not None else {}
        self.send({"type": "objects", "items": describe_objects(namespace)})

    def show(self, key: str, title: str, area: str, obj: Any, widget: Any) -> None:
        """Ask the extension to show `widget` in panel `key` (replacing what it showed)."""
        self.panels[key] = ShownPanel(obj, widget, title, area)
        self.send(self.panels[key].show_message(key))

    def close(self, key: str) -> None:
        if self.panels.pop(key, None) is not None:
            self.send({"type": "close", "key": key})

    def on_message(self, message: dict[str, Any]) -> None:
        data = message["content"]["data"]
        handlers = {
            "list": lambda: self.send_objects(),
            "open": lambda: self._open(str(data["name"]), str(data.get("area", "main"))),
            "reopen": lambda: self._reopen(str(data["key"])),
            "export": lambda: self._export(str(data["key"]), str(data["path"])),
        }
        handler = handlers.get(data.get("type"))
        if handler is None:
            self.send({"type": "error", "message": f"unknown message {data.get('type')!r}"})
            return
        try:
            handler()
        except Exception as exc:  # an error in one request must not break the channel
            self.send({"type": "error", "key": data.get("key"), "message": f"{exc}"})

    def _open(self, name: str, area: str) -> None:
        from workbench.kernel_objects import object_view

        shell = _shell()
        namespace = shell.user_ns if shell is not None else {}
        if name not in namespace:
            hint = suggest(name, [n for n in namespace if not n.startswith("_")])
            raise KeyError(f"No object named {name!r} in the kernel. {hint}")
        obj = namespace[name]
        self.show(name, name, area if area in AREAS else "main", obj, object_view(name, obj))

    def _reopen(self, key: str) -> None:
        if key not in self.panels:
            reason = f"the kernel holds no panel {key!r} (was it restarted?)"
            self.send({"type": "gone", "key": key, "reason": reason})
            return
        self.send(self.panels[key].show_message(key))

    def _export(self, key: str, path: str) -> None:
        if key not in self.panels:
            raise KeyError(f"No panel {key!r} in the kernel. {suggest(key, list(self.panels))}")
        obj = self.panels[key].obj
        if not callable(getattr(obj, "export", None)):
            raise TypeError(f"Panel {key!r} shows a {type(obj).__name__}, which has no figure")
        written = obj.export(path)
        self.send({"type": "exported", "key": key, "path": str(written)})


CHANNEL = FrontendChannel()


def frontend_ready() -> bool:
    """Whether a frontend with the Workbench extension opened the comm in this kernel."""
    return CHANNEL.ready


def register() -> bool:
    """Register the comm target in a running kernel (idempotent; False outside a kernel)."""
    if _shell() is None:
        return False
    from comm import get_comm_manager

    get_comm_manager().register_target(COMM_TARGET, CHANNEL.on_open)
    return True
