"""Transformer Programs (Friedman, Wettig & Chen, NeurIPS 2023, arXiv 2306.01128): train a
constrained transformer, then decompile its discretized form into readable Python.

Example:
    >>> from workbench.data.rasp import make_task
    >>> from workbench.programs import ProgramConfig, train_program, write_program, verify
    >>> task = make_task("hist")
    >>> run = train_program(task, ProgramConfig.for_task(task, n_layers=1, n_cat_heads=4))
    >>> path = write_program(run.model, "hist_program.py")
    >>> verify(run.model, path, task.test).summary()

The notebook browser lives in `workbench.programs.browser` (imports ipywidgets).
"""

from workbench.programs.decompile import decompile, program_source, write_program
from workbench.programs.model import Batch, ProgramConfig, ProgramModel, encode
from workbench.programs.spec import ModuleSpec, ProgramSpec, extract
from workbench.programs.train import (
    TrainRun,
    load_checkpoint,
    save_checkpoint,
    temperature,
    train_program,
)
from workbench.programs.verify import VerifyReport, load_program, verify

__all__ = [
    "Batch",
    "ModuleSpec",
    "ProgramConfig",
    "ProgramModel",
    "ProgramSpec",
    "TrainRun",
    "VerifyReport",
    "decompile",
    "encode",
    "extract",
    "load_checkpoint",
    "load_program",
    "program_source",
    "save_checkpoint",
    "temperature",
    "train_program",
    "verify",
    "write_program",
]
