"""workbench: an interactive, notebook-driven interpretability workbench for transformers.

Example:
    >>> import workbench as wb
    >>> model, tokenizer = wb.load_default()
    >>> logits, cache = model.run_with_cache(tokenizer.to_tokens("the old dog"))
"""

from workbench.adapters import from_transformer_lens, load_hf, load_hf_bert, load_minilm
from workbench.core import ActivationCache, HookPoint, Model, ModelConfig, Stats
from workbench.core.checkpoint import load_model, save_model
from workbench.core.collect import collect_stats
from workbench.core.summary import StatsSummary
from workbench.models import load_default

__version__ = "0.1.0"
__all__ = [
    "ActivationCache",
    "HookPoint",
    "Model",
    "ModelConfig",
    "Stats",
    "StatsSummary",
    "__version__",
    "collect_stats",
    "display_static",
    "from_transformer_lens",
    "load_default",
    "load_hf",
    "load_hf_bert",
    "load_minilm",
    "load_model",
    "save_model",
]


def __getattr__(name: str):
    """`wb.widgets`, `wb.export`, ...: imported on first use, so `import workbench` stays light."""
    if name in ("widgets", "export", "analysis", "programs", "train", "data", "variants"):
        import importlib

        return importlib.import_module(f"workbench.{name}")
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def panel(result_or_widget, title: str = "workbench", **kwargs):
    """Open a result or widget in a JupyterLab side panel (see `workbench.widgets.panel`)."""
    from workbench.widgets import panel as open_panel

    return open_panel(result_or_widget, title=title, **kwargs)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension lives (read by `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "@workbench/labextension"}]


def display_static(enabled: bool | None = True) -> None:
    """Show results as static pictures (nbconvert, static viewers) instead of widgets; same as
    `WORKBENCH_STATIC=1` (see `workbench.analysis.display`). `None` follows the variable."""
    from workbench.analysis.display import display_static as set_static

    set_static(enabled)


def _register_frontend() -> None:
    """In a Jupyter kernel, let the Workbench JupyterLab extension connect (see `frontend`)."""
    from workbench import frontend

    frontend.register()


_register_frontend()
