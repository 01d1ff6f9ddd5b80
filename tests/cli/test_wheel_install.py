"""The built wheel works on its own: no source tree, no editable install.

A copy of the sources is built into a wheel, installed (`--no-deps`) into a fresh venv whose
only link to the test environment is a `.pth` file listing that environment's site-packages
folders, so torch and friends are found without reinstalling them. A folder added by a `.pth`
file does not run that folder's own `.pth` files, so the editable finder of the test
environment stays off. From an empty working folder the venv then runs `workbench info`,
`workbench demo` and the quickstart notebook's first code cells, and `workbench` must be
imported from inside the venv.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "workbench", "kernels", "assets")
QUICKSTART = ROOT / "notebooks" / "00_quickstart.ipynb"


def _run(argv: list, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONNOUSERSITE": "1"}
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"  # built from a copy: the build leaves build/ and egg-info behind
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], cwd=tmp)
    (wheel,) = dist.glob("workbench-*.whl")
    return wheel


def _make_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
         cwd=tmp)  # fmt: skip
    # Linked only after the install, so pip never sees the test environment's workbench.
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp).stdout.strip())  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("-packages"))}
    (site / "test_environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv


def _quickstart_cells(n: int) -> str:
    cells = json.loads(QUICKSTART.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return "\n\n".join(code[:n])


@pytest.mark.slow
def test_wheel_installs_and_runs_without_the_source_tree(tmp_path) -> None:
    venv = _make_venv(tmp_path, _build_wheel(tmp_path))
    work = tmp_path / "work"  # an empty working folder: nothing importable from the cwd
    work.mkdir()
    info = _run([venv / "bin" / "workbench", "info"], cwd=work).stdout
    assert "blocks.0.attn.hook_pattern" in info and "rmsnorm" in info
    _run([venv / "bin" / "workbench", "demo", "--out", work / "out", "--tokens", "24"], cwd=work)
    html = (work / "out" / "report.html").read_text()
    assert "Attention entropy" in html and "Training loss" in html
    where = "import workbench, pathlib; print(pathlib.Path(workbench.__file__).resolve())"
    script = f"{_quickstart_cells(3)}\n\n{where}\n"
    out = _run([venv / "bin" / "python", "-c", script], cwd=work).stdout
    assert Path(out.strip().splitlines()[-1]).is_relative_to(venv.resolve())
    assert "mean entropy per layer" in out
