"""Registered analyses: what `workbench report` (and `workbench demo`) run.

An analysis registers a `compute(model) -> Result` that works with defaults alone (on the
embedded validation corpus) and a `report_section(report, result)` that writes its part of
the HTML report (a heading, prose, `report.add_result(result)`, tables). The report object
is passed in, so analysis modules need not import `workbench.export`.

Example:
    >>> register_analysis("stats_overview", compute, report_section)
    >>> [a.name for a in registered_analyses()]
    ['stats_overview']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from workbench.analysis.result import Result
from workbench.core.registry import suggest


@dataclasses.dataclass(frozen=True)
class RegisteredAnalysis:
    name: str
    compute: Callable[[Any], Result]
    report_section: Callable[[Any, Result], None]


_ANALYSES: dict[str, RegisteredAnalysis] = {}


def register_analysis(
    name: str,
    compute: Callable[[Any], Result],
    report_section: Callable[[Any, Result], None],
) -> RegisteredAnalysis:
    """Add an analysis to the report. Registering a name twice with different functions is
    an error (two analyses would silently shadow each other)."""
    entry = RegisteredAnalysis(name, compute, report_section)
    known = _ANALYSES.get(name)
    if known is not None and known != entry:
        raise ValueError(f"an analysis named {name!r} is already registered ({known.compute})")
    _ANALYSES[name] = entry
    return entry


def registered_analyses() -> list[RegisteredAnalysis]:
    """Every registered analysis, in registration order."""
    import workbench.analysis  # noqa: F401  (the package imports the built-in analyses)

    return list(_ANALYSES.values())


def get_analysis(name: str) -> RegisteredAnalysis:
    analyses = {a.name: a for a in registered_analyses()}
    if name not in analyses:
        raise KeyError(f"No analysis named {name!r}. {suggest(name, sorted(analyses))}")
    return analyses[name]
