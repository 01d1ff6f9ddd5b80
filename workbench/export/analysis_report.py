"""`workbench report`: every registered analysis on one model, as one HTML report.

Each analysis computes its result with its defaults, writes its section of the report and
leaves its result as JSON (`DIR/results/<name>.json`). With Chromium installed, the paper
figures are written too (`DIR/figures/<name>.pdf` and `.svg`), all through one Chromium
session (`export_figures`).

Example:
    >>> write_analysis_report("out")          # out/report.html, out/results/, out/figures/
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.analysis.registry import registered_analyses
from workbench.analysis.result import Result
from workbench.export.figures import chromium_path, export_figures
from workbench.export.registry import figure
from workbench.export.report import Report


def add_analysis_sections(
    report: Report, model: Any, out: str | Path | None = None, **options: Any
) -> dict:
    """Run every registered analysis on `model` and add its section to `report`; with `out`,
    also write `out/results/<name>.json` and the paper figures. Returns `{name: result}`.

    `options` (e.g. `mlp_threshold=0.01`) go to each analysis whose `compute` takes them. An
    analysis that refuses the model (a ValueError: e.g. bigram subnetworks of a non-causal
    model, MLP statistics of a GELU model without `mlp_threshold`) gets a section saying
    so, with its reason, instead of ending the report (and a line on stderr)."""
    results: dict[str, Result] = {}
    for analysis in tqdm(registered_analyses(), desc="analyses", unit="analysis"):
        try:
            result = analysis.compute(model, **_accepted(analysis.compute, options))
        except ValueError as err:
            tqdm.write(f"{analysis.name}: not computed: {err}")
            report.add_markdown(f"## {analysis.name}\n\nNot computed for this model: {err}")
            continue
        analysis.report_section(report, result)
        results[analysis.name] = result
    if out is not None:
        _write_files(report, results, Path(out))
    return results


def _accepted(compute, options: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(compute).parameters
    return {k: v for k, v in options.items() if v is not None and k in parameters}


def _write_files(report: Report, results: dict[str, Result], out: Path) -> None:
    for name, result in results.items():
        result.to_json(out / "results" / f"{name}.json")
    lines = [f"- `results/{name}.json`" for name in results]
    if chromium_path(required=False) is None:
        lines.append("- no paper figures: Chromium is not installed (see `workbench.export`)")
    else:
        jobs = [
            (figure(result), out / "figures" / f"{name}.{suffix}", result.metadata.to_dict())
            for name, result in results.items()
            for suffix in ("pdf", "svg")
        ]
        written = export_figures(jobs, width="double")
        lines += [f"- `{path.relative_to(out)}`" for path in written]
    report.add_markdown("## Files\n" + "\n".join(lines))


def write_analysis_report(out: str | Path = "out", model: Any = None, **options: Any) -> Path:
    """`out/report.html` for `model` (default: the embedded default model); `options` as in
    `add_analysis_sections` (e.g. `mlp_threshold=0.01` for GELU models)."""
    if model is None:
        from workbench.models import load_default

        model = load_default()[0]
    report = Report(f"workbench report: {model.cfg.name}")
    add_analysis_sections(report, model, out, **options)
    return report.save(Path(out) / "report.html")
