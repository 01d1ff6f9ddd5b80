"""`workbench report`: every registered analysis on one model, as one HTML report.

Each analysis computes its result with its defaults, writes its section of the report and
leaves its result as JSON (`DIR/results/<name>.json`). With Chromium installed, the paper
figures are written too (`DIR/figures/<name>.pdf` and `.svg`), all through one Chromium
session (`export_figures`).

Example:
    >>> write_analysis_report("out")          # out/report.html, out/results/, out/figures/
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.analysis.registry import registered_analyses
from workbench.analysis.result import Result
from workbench.export.figures import chromium_path, export_figures
from workbench.export.registry import figure
from workbench.export.report import Report


def add_analysis_sections(report: Report, model: Any, out: str | Path | None = None) -> dict:
    """Run every registered analysis on `model` and add its section to `report`; with `out`,
    also write `out/results/<name>.json` and the paper figures. Returns `{name: result}`."""
    results: dict[str, Result] = {}
    for analysis in tqdm(registered_analyses(), desc="analyses", unit="analysis"):
        result = analysis.compute(model)
        analysis.report_section(report, result)
        results[analysis.name] = result
    if out is not None:
        _write_files(report, results, Path(out))
    return results


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


def write_analysis_report(out: str | Path = "out", model: Any = None) -> Path:
    """`out/report.html` for `model` (default: the embedded default model)."""
    if model is None:
        from workbench.models import load_default

        model = load_default()[0]
    report = Report(f"workbench report: {model.cfg.name}")
    add_analysis_sections(report, model, out)
    return report.save(Path(out) / "report.html")
