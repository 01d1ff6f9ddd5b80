"""`Result`: the pure-data base of every analysis result, and its `ResultMetadata`.

A result is a frozen dataclass (`eq=False, kw_only=True`) of CPU tensors plus metadata. It
knows nothing about plotting: its interactive view is registered in `workbench.widgets`
(`@view.register(MyResult)`) and its paper figure in `workbench.export`
(`@figure.register(MyResult)`). `widget()`, `figure()`, `export()` and notebook display look
those up when called, so `workbench.analysis` never imports plotly or ipywidgets.

`eq=False` makes `==` identity: tensors have no single truth value, so a generated `__eq__`
would raise. Compare fields with `torch.equal` instead. A subclass that defines its own
`__post_init__` must call `super().__post_init__()`.

Example:
    >>> @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
    ... class EntropyResult(Result):
    ...     entropy: Float[Tensor, "layer head"]
    >>> result = EntropyResult(entropy=h, metadata=ResultMetadata.from_model(model, tokens=t))
    >>> result.to_json("entropy.json")
    >>> Result.from_json("entropy.json")     # an EntropyResult again
    >>> result.export("entropy.pdf", width="double")   # + entropy.pdf.json metadata
"""

from __future__ import annotations

import base64
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

from torch import Tensor

from workbench.analysis._json import decode, encode
from workbench.analysis.metadata import ResultMetadata, workbench_version

FORMAT_VERSION = 1
_RESULT_TYPES: dict[str, type[Result]] = {}


def result_type(name: str) -> type[Result]:
    """The registered `Result` subclass called `name` (filled by class definition)."""
    from workbench.core.registry import suggest

    if name not in _RESULT_TYPES:
        raise KeyError(
            f"Unknown result type {name!r}: import the module that defines it first. "
            f"{suggest(name, sorted(_RESULT_TYPES))}"
        )
    return _RESULT_TYPES[name]


def _tensor_fields(value: Any, where: str):
    """(path, tensor) for every tensor inside `value`, nested containers included."""
    if isinstance(value, Tensor):
        yield where, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _tensor_fields(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensor_fields(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _tensor_fields(item, f"{where}[{i}]")


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Result:
    """Base of analysis results: CPU tensors + `metadata`, JSON round trip, lazy rendering."""

    metadata: ResultMetadata

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        known = _RESULT_TYPES.get(cls.__name__)
        same = known is not None and (known.__module__, known.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if known is not None and not same:
            raise TypeError(
                f"Result type name {cls.__name__!r} is taken by {known.__module__}."
                f"{known.__qualname__}; JSON files find their class by name, so pick another"
            )
        _RESULT_TYPES[cls.__name__] = cls  # a re-defined class (module reload) replaces itself

    def __post_init__(self) -> None:
        cls = type(self)
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        if not (params.frozen and not params.eq):
            raise TypeError(
                f"{cls.__name__} must be declared with "
                "@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)"
            )
        if not isinstance(self.metadata, ResultMetadata):
            raise TypeError(
                f"{cls.__name__}.metadata must be a ResultMetadata, got "
                f"{type(self.metadata).__name__} (use ResultMetadata.from_model(...))"
            )
        for f in dataclasses.fields(self):
            for where, tensor in _tensor_fields(getattr(self, f.name), f"{cls.__name__}.{f.name}"):
                if tensor.device.type != "cpu":
                    raise ValueError(
                        f"{where} is on {tensor.device}; results hold CPU tensors "
                        "(call .cpu() in compute)"
                    )
                if tensor.requires_grad:
                    raise ValueError(
                        f"{where} requires grad; results hold detached tensors "
                        "(compute under torch.no_grad() or call .detach())"
                    )

    # ---- rendering: looked up in the widgets/export registries --------------------------
    def widget(self) -> Any:
        """The interactive view registered for this type in `workbench.widgets`."""
        from workbench.widgets.registry import view

        return view(self)

    def figure(self) -> Any:
        """The plotly figure registered for this type in `workbench.export`."""
        from workbench.export.registry import figure

        return figure(self)

    def export(self, path: str | Path, style: str = "paper", width: str = "single") -> Path:
        """Write the figure as PDF/SVG/PNG (by suffix) plus `<path>.json` metadata."""
        from workbench.export.figures import export_figure

        return export_figure(
            self.figure(), path, style=style, width=width, metadata=self.metadata.to_dict()
        )

    # ---- notebook display ------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Live kernel: the widget and a text summary. Static mode (`display_static`): a PNG,
        or the plotly HTML when no Chromium is installed, and the text summary."""
        from workbench.analysis.display import static_display_enabled

        static = static_display_enabled()
        bundle: dict[str, Any] = {}
        try:
            bundle.update(self._static_bundle() if static else self._widget_bundle())
        except Exception as err:  # a broken view must not hide the result: text still shows
            kind = "figure" if static else "widget"
            warnings.warn(f"{type(self).__name__}: {kind} display failed: {err}", stacklevel=2)
        bundle["text/plain"] = self.summary()
        return bundle

    def _widget_bundle(self) -> dict[str, Any]:
        data = self.widget()._repr_mimebundle_() or {}
        # anywidget returns (data, metadata); plain ipywidgets return data only.
        return dict(data[0] if isinstance(data, tuple) else data)

    def _static_bundle(self) -> dict[str, str]:
        from workbench.export.figures import chromium_path, figure_png_bytes

        fig = self.figure()
        if chromium_path(required=False) is not None:
            try:
                png = figure_png_bytes(fig, style="screen")
                return {"image/png": base64.b64encode(png).decode("ascii")}
            except Exception as err:  # fall back to HTML, but say why
                warnings.warn(f"PNG rendering failed ({err}); showing HTML", stacklevel=3)
        return {"text/html": fig.to_html(full_html=False, include_plotlyjs=True)}

    def summary(self) -> str:
        """One line: tensor shapes instead of values (the dataclass repr prints whole tensors)."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                parts.append(f"{f.name}=Tensor{list(value.shape)}")
            elif isinstance(value, ResultMetadata):
                parts.append(f"model={value.model_name!r}")
            else:
                text = repr(value)
                parts.append(f"{f.name}={text if len(text) < 60 else text[:57] + '...'}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict (see `workbench.analysis._json` for the encoding)."""
        fields = {
            f.name: encode(getattr(self, f.name), f"{type(self).__name__}.{f.name}")
            for f in dataclasses.fields(self)
        }
        return {
            "result_type": type(self).__name__,
            "format_version": FORMAT_VERSION,
            "written_by": workbench_version(),
            "fields": fields,
        }

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"result JSON format {data.get('format_version')!r} is not {FORMAT_VERSION}"
            )
        target = result_type(data["result_type"])
        if not issubclass(target, cls):
            raise TypeError(f"the file holds a {target.__name__}, not a {cls.__name__}")
        name = target.__name__
        fields = {k: decode(v, f"{name}.{k}") for k, v in data["fields"].items()}
        expected = {f.name for f in dataclasses.fields(target)}
        if set(fields) != expected:
            raise ValueError(
                f"the file's {name} has fields {sorted(fields)}, the class has "
                f"{sorted(expected)}: written by another version of its analysis?"
            )
        return target(**fields)

    @classmethod
    def from_json(cls, path: str | Path) -> Result:
        """Read a result written by `to_json`; returns the subclass named in the file."""
        return cls.from_dict(json.loads(Path(path).read_text()))
