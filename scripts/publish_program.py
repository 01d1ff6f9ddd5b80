"""Publish a trained Transformer Program under docs/programs/: decompile and verify the
checkpoint (`workbench programs decompile`), `ruff format` the file, and verify the formatted
file against the network on the test set once more.

Writes `<task>_program.py`, `<task>_program.verify.json` (the verification report) and
`<task>_run.json` (the run's config and training history).

Usage: python scripts/publish_program.py RUN_DIR [--out-dir docs/programs]
(RUN_DIR is what `workbench programs train --out RUN_DIR` wrote.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from workbench.programs import load_checkpoint, verify
from workbench.programs.cli import decompile_checkpoint
from workbench.programs.train import task_of_run


def publish(run: Path, out_dir: Path) -> None:
    model, meta = load_checkpoint(run)
    program = out_dir / f"{model.cfg.task}_program.py"
    decompile_checkpoint(run, program)
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", "-q", str(program)], check=True)
    task = task_of_run(meta)
    report = verify(model, program, task.test, progress=False)
    print(f"formatted {program}: {report.summary()}")
    if report.agreement != 1.0:
        raise SystemExit("the formatted program disagrees with the network")
    shutil.copy(run / "config.json", out_dir / f"{model.cfg.task}_run.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path("docs/programs"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    publish(args.run, args.out_dir)


if __name__ == "__main__":
    main()
