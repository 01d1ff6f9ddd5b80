"""Every user error of the `workbench` command is one line on stderr, exit code 2, no traceback.

Each case runs the command in its own process from a folder of bad inputs: a file where a
folder is expected and the reverse, JSON that is a list, not UTF-8, or has a wrong type or an
unknown field, non-finite and non-positive numbers, unwritable output folders. Importing torch
costs seconds, so one fresh interpreter imports `workbench.cli` once and forks a child per
case (before any torch op ran, so no thread pool is forked); the child runs `main(argv)` with
its real stdout/stderr file descriptors and exits with its return code, as the console script
does. Two cases also run through `python -m workbench.cli` from scratch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DEFAULT_CONFIG = ROOT / "assets" / "default" / "config.json"

# (argv, a fragment the one error line must contain: the argument, field or file at fault)
CASES = [
    ([], "required: command"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["info", "--model", "missing"], "not a workbench checkpoint"),
    (["info", "--model", "a_file"], "not a workbench checkpoint"),
    (["info", "--model", "list_ckpt"], "No manifest.json in list_ckpt"),
    (["info", "--model", "no_weights_ckpt"], "No manifest.json in no_weights_ckpt"),
    (["demo", "--out", "a_file"], "--out: 'a_file' exists and is not a folder"),
    (["demo", "--out", "a_file/sub"], "is a file"),
    (["demo", "--tokens", "0"], "--tokens: must be a positive integer"),
    (["demo", "--tokens", "100000"], "exceeds the default model's n_ctx"),
    (["demo", "--tokens", "1.5"], "--tokens: '1.5' is not an integer"),
    (["report", "--out", "a_file"], "'a_file' exists and is not a folder"),
    (["train", "--out", "a_file"], "--out: 'a_file' exists and is not a folder"),
    (["train", "--out", "run", "--lr", "inf"], "--lr: 'inf' is not a finite number"),
    (["train", "--out", "run", "--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["train", "--out", "run", "--lr", "-0.1"], "--lr: must be a positive"),
    (["train", "--out", "run", "--steps", "0"], "--steps: must be a positive integer"),
    (["train", "--out", "run", "--seq-len", "100000"], "--seq-len 100000 exceeds"),
    (["train", "--out", "run", "--config", "list.json"], "ModelConfig must be a JSON object"),
    (["train", "--out", "run", "--config", "latin1.json"], "'latin1.json' is not UTF-8"),
    (["train", "--out", "run", "--config", "float.json"], "ModelConfig.n_heads must be an int"),
    (["train", "--out", "run", "--config", "typo.json"], "Did you mean: d_model"),
    (["train", "--out", "run", "--config", "broken.json"], "'broken.json' is not valid JSON"),
    (["train", "--out", "run", "--config", "a_dir"], "--config: 'a_dir' is not a file"),
    (["train", "--out", "run", "--config", "missing.json"], "no such file: 'missing.json'"),
    (["collect"], "collect needs --model, --data, --stats, --out"),
    (["collect", "--merge", "a_dir"], "No partial summaries"),
    (["collect", "--batch-size", "0"], "--batch-size: must be a positive integer"),
    (["collect", "--mlp-threshold", "-1"], "--mlp-threshold: must be a finite number >= 0"),
    (["collect", "--out", "a_file"], "--out: 'a_file' exists and is not a folder"),
    (
        [
            "collect",
            "--model",
            "default",
            "--data",
            "missing.txt",
            "--stats",
            "attn.entropy",
            "--out",
            "c",
        ],
        "No corpus 'missing.txt'",
    ),  # fmt: skip
    (
        [
            "collect",
            "--model",
            "default",
            "--data",
            "latin1.json",
            "--stats",
            "attn.entropy",
            "--out",
            "c",
        ],
        "is not UTF-8 text",
    ),  # fmt: skip
    (
        ["collect", "--model", "default", "--data", "val", "--stats", "attn.entropi", "--out", "c"],
        "Did you mean: attn.entropy",
    ),  # fmt: skip
    (["report", "--mlp-threshold", "-1"], "--mlp-threshold: must be a finite number >= 0"),
    (["report", "--mlp-threshold", "nan"], "--mlp-threshold: 'nan' is not a finite number"),
    (["bigram"], "required: --out"),
    (["bigram", "--out", "a_file"], "--out: 'a_file' exists and is not a folder"),
    (["bigram", "--out", "b", "--lam", "-1"], "--lam: must be a finite number >= 0"),
    (["bigram", "--out", "b", "--model", "minilm"], "need a causal language model"),
    (["sparsity-sweep"], "required: --out"),
    (["sparsity-sweep", "--out", "a_file"], "--out: 'a_file' exists and is not a folder"),
    (["sparsity-sweep", "--out", "s", "--depths", "0"], "--depths: must be a positive integer"),
    (["programs"], "required: programs_command"),
    (["programs", "train", "--task", "sort", "--out", "p", "--epochs", "0"], "--epochs"),
    (["programs", "train", "--task", "srot", "--out", "p"], "invalid choice: 'srot'"),
    (["programs", "train", "--task", "sort", "--out", "a_file"], "not a folder"),
    (["programs", "train", "--task", "sort", "--out", "p", "--lr", "-inf"], "--lr"),
    (["programs", "train", "--task", "sort", "--out", "p", "--num-mlp-inputs", "3"], "3"),
    (["programs", "train", "--task", "sort", "--out", "p", "--max-len", "1"], "max_len 1"),
    (["programs", "train", "--task", "sort", "--out", "p", "--n-examples", "5"], "split is empty"),
    (["programs", "decompile", "missing", "--out", "x.py"], "no such folder: 'missing'"),
    (["programs", "decompile", "a_file", "--out", "x.py"], "'a_file' is not a folder"),
    (["programs", "decompile", "a_dir", "--out", "x.py"], "Nothing in a_dir"),
    (["programs", "decompile", "latin1_ckpt", "--out", "x.py"], "No manifest.json in"),
    (["programs", "decompile", "a_dir", "--out", "a_dir"], "'a_dir' is a folder"),
]
if os.geteuid() != 0:  # root writes anywhere, so the read-only case needs a normal user
    CASES.append((["demo", "--out", "read_only/out"], "read-only"))


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    (folder / "a_file").write_text("x")
    (folder / "a_dir").mkdir()
    (folder / "list.json").write_text("[1, 2]")
    (folder / "latin1.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    (folder / "float.json").write_text(json.dumps({"d_model": 16, "n_heads": 4.0}))
    (folder / "typo.json").write_text(json.dumps({"d_modle": 16}))
    (folder / "broken.json").write_text("{bad")
    for name, config in (("list_ckpt", b"[1]"), ("latin1_ckpt", b"\xff\xfe")):
        (folder / name).mkdir()
        (folder / name / "config.json").write_bytes(config)
    (folder / "no_weights_ckpt").mkdir()
    (folder / "no_weights_ckpt" / "config.json").write_text(DEFAULT_CONFIG.read_text())
    (folder / "read_only").mkdir(mode=0o555)
    return folder


# Runs in a fresh interpreter: one child process per case; prints [code, stderr] per case.
FORKING_RUNNER = """
import json, os, sys, tempfile, traceback
from workbench.cli import main

results = []
for argv in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            os.dup2(err.fileno(), 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            try:
                code = main(argv)
            except BaseException:  # what the interpreter would do with an uncaught error
                traceback.print_exc()
                code = 1
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        err.seek(0)
        results.append([os.waitstatus_to_exitcode(status), err.read().decode()])
print(json.dumps(results))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_DEBUG": ""}


@pytest.fixture(scope="module")
def outcomes(bad_inputs) -> dict[str, tuple[int, str]]:
    argvs = [argv for argv, _ in CASES]
    done = subprocess.run(
        [sys.executable, "-c", FORKING_RUNNER, json.dumps(argvs)],
        cwd=bad_inputs,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {" ".join(argv): tuple(result) for argv, result in zip(argvs, results, strict=True)}


def _assert_one_line_error(code: int, stderr: str, fragment: str) -> None:
    lines = stderr.splitlines()
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("workbench: error: "), lines[0]
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(c[0]) or "-" for c in CASES])
def test_user_error_is_one_line_and_exit_2(outcomes, argv, fragment) -> None:
    _assert_one_line_error(*outcomes[" ".join(argv)], fragment)


@pytest.mark.parametrize(
    "argv, fragment",
    [(["train", "--out", "run", "--lr", "inf"], "not a finite number"),
     (["info", "--model", "list_ckpt"], "No manifest.json in list_ckpt")],
    ids=["parse-error", "run-error"],
)  # fmt: skip
def test_fresh_interpreter_as_the_console_script_runs(bad_inputs, argv, fragment) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *argv],
        cwd=bad_inputs,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    _assert_one_line_error(done.returncode, done.stderr, fragment)
