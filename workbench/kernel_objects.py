"""What the Workbench sidebar lists: the workbench objects alive in a kernel's namespace.

Models (name, variant summary, parameter count), analysis `Result`s, `Stats` and
`StatsSummary`, Transformer Programs. Only modules that are already imported are consulted,
so listing never imports anything heavy. `object_view` builds the panel view of one object.

Example:
    >>> describe_objects({"model": model, "result": entropy_result, "x": 3})
    [{'name': 'model', 'kind': 'model', 'summary': '2L d64 h4 · softmax, ...', 'params': 104003},
     {'name': 'result', 'kind': 'EntropyResult', 'summary': 'workbench-model', 'params': None}]
"""

from __future__ import annotations

import sys
from typing import Any

# (module, class, kind label) of the objects the sidebar lists, in display order.
LISTED_TYPES = (
    ("workbench.core.model", "Model", "model"),
    ("workbench.programs.model", "ProgramModel", "program"),
    ("workbench.analysis.result", "Result", "result"),
    ("workbench.core.stats", "Stats", "stats"),
    ("workbench.core.summary", "StatsSummary", "stats summary"),
)
VARIANT_FIELDS = ("attention", "norm", "mlp", "position", "block", "reparam")


def _loaded_types() -> list[tuple[type, str]]:
    found = []
    for module_name, class_name, kind in LISTED_TYPES:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type):
            found.append((cls, kind))
    return found


def _variant_name(spec: Any) -> str:
    """A spec's registry name; a per-layer schedule as its layers' names, `[deltanet, softmax]`."""
    specs = getattr(spec, "specs", None)
    if specs is not None:
        return "[" + ", ".join(_variant_name(s) for s in specs) + "]"
    return str(getattr(spec, "name", spec))


def _parameter_count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _summary(obj: Any, kind: str) -> str:
    if kind == "model":
        cfg = obj.cfg
        variants = ", ".join(_variant_name(getattr(cfg, f)) for f in VARIANT_FIELDS)
        return f"{cfg.name}: {cfg.n_layers}L d{cfg.d_model} h{cfg.n_heads} · {variants}"
    if kind == "program":
        cfg = obj.cfg
        return f"{cfg.task or 'program'}: {cfg.n_layers}L, vocab {len(cfg.vocab)}"
    if kind == "result":
        return f"{type(obj).__name__} of {obj.metadata.model_name}"
    if kind == "stats":
        return f"{obj.n_layers} layers: {', '.join(obj.names)}"
    return f"{obj.tokens} tokens: {', '.join(obj.names)}"


def describe_objects(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per workbench object in `namespace` (names starting with `_` are skipped)."""
    types = _loaded_types()
    items = []
    for name, obj in list(namespace.items()):
        if name.startswith("_"):
            continue
        kind = next((label for cls, label in types if isinstance(obj, cls)), None)
        if kind is None:
            continue
        params = _parameter_count(obj) if kind in ("model", "program") else None
        items.append({"name": name, "kind": kind, "summary": _summary(obj, kind), "params": params})
    order = [label for _, _, label in LISTED_TYPES]
    return sorted(items, key=lambda item: order.index(item["kind"]))


def _text_view(name: str, obj: Any) -> Any:
    from workbench.widgets import CodeView

    if hasattr(obj, "cfg"):
        text = f"{name} = {type(obj).__name__}(\n    {obj.cfg!r},\n)\n"
    else:
        text = f"# {name}: {type(obj).__name__}\n# {_summary(obj, _kind(obj))}\n"
    return CodeView(text, title=name)


def _kind(obj: Any) -> str:
    return next(label for cls, label in _loaded_types() if isinstance(obj, cls))


def object_view(name: str, obj: Any) -> Any:
    """The widget a panel shows for `obj`: a Result's view, a program browser, else a summary."""
    import ipywidgets

    if isinstance(obj, ipywidgets.Widget):
        return obj
    if callable(getattr(obj, "widget", None)):
        return obj.widget()
    if type(obj).__name__ == "ProgramModel":
        from workbench.programs.browser import program_browser

        return program_browser(obj)
    return _text_view(name, obj)
