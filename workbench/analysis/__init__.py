"""Analyses: `compute(model, data, **options) -> Result`, pure data with a JSON round trip.

Views and figures of results live in `workbench.widgets` and `workbench.export` (registered
per result type); this package never imports plotly or ipywidgets.

Example:
    >>> from workbench.analysis import overview
    >>> result = overview.compute(model)
    >>> result.to_json("overview.json"); Result.from_json("overview.json")
"""

# Built-in analyses register themselves on import; the import order is the report's order.
# isort: off
from workbench.analysis import overview, entropy, sparsity
from workbench.analysis import logit_lens, logit_attribution, bigram, patching, diagrams

# isort: on
from workbench.analysis.display import display_static
from workbench.analysis.fingerprint import fingerprint_tokens
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.overview import StatsOverviewResult
from workbench.analysis.registry import (
    RegisteredAnalysis,
    get_analysis,
    register_analysis,
    registered_analyses,
)
from workbench.analysis.result import Result, result_type
from workbench.analysis.runner import corpus_tokens, prepare_tokens, run_batches

__all__ = [
    "RegisteredAnalysis",
    "bigram",
    "Result",
    "ResultMetadata",
    "StatsOverviewResult",
    "corpus_tokens",
    "diagrams",
    "display_static",
    "entropy",
    "logit_attribution",
    "logit_lens",
    "fingerprint_tokens",
    "get_analysis",
    "overview",
    "patching",
    "prepare_tokens",
    "register_analysis",
    "registered_analyses",
    "result_type",
    "run_batches",
    "sparsity",
]
