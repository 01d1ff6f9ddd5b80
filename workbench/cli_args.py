"""Argument checking for the `workbench` command: argparse types that refuse values that make
no sense (non-finite floats, non-positive sizes), output paths checked before any work starts,
and a parser whose errors are one line on stderr with exit code 2.

Example:
    >>> parser = OneLineErrorParser(prog="workbench")
    >>> _ = parser.add_argument("--steps", type=positive_int)
    >>> parser.parse_args(["--steps", "0"])   # prints one line, exits with 2
    Traceback (most recent call last):
    SystemExit: 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn


class OneLineErrorParser(argparse.ArgumentParser):
    """`prog: error: message` on one line of stderr and exit code 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        one_line = " ".join(message.split())
        root = self.prog.split()[0]  # "workbench", also for a subcommand's parser
        self.exit(2, f"{root}: error: {one_line} (see {self.prog} --help)\n")


def _number(text: str, kind: type, what: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "an integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {value:g}")
    return value


def nonnegative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value:g}")
    return value


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def output_dir(text: str) -> str:
    """A folder that exists or can be created, and can be written to."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    _check_writable_ancestor(path, text)
    return text


def output_file(text: str) -> str:
    """A file path whose folder exists or can be created, and that is not a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    _check_writable_ancestor(path.parent, text)
    return text


def _check_writable_ancestor(path: Path, text: str) -> None:
    base = _nearest_existing(path)
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {str(base)!r} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {str(base)!r} is read-only")


def existing_file(text: str) -> str:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    return text


def existing_dir(text: str) -> str:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such folder: {text!r}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder")
    return text


def prepare_output_dir(text: str) -> Path:
    """Create the folder and prove it takes a file, before hours of work that would end in
    a failed write (argparse checks found no obstacle, but only a write is certain)."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to output folder {text!r}: {err.strerror}") from None
    return path


def read_json_file(path: str | Path, what: str) -> Any:
    """The parsed JSON of `path`; errors say which file and what is wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text") from None
    except OSError as err:
        raise ValueError(f"cannot read {what} {str(path)!r}: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {err}") from None


def report_error(err: BaseException, prog: str = "workbench") -> int:
    """One line on stderr for a user error; the exit code 2."""
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
