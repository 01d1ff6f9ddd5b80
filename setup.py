"""Ship `kernels/` inside the wheel as `workbench.kernels`.

A top-level module named `kernels` would shadow a popular PyPI package that other
libraries probe for, so the folder is mapped under our namespace instead.
"""

from pathlib import Path

from setuptools import find_packages, setup

kernel_packages = ["workbench.kernels"] + [
    f"workbench.kernels.{name}" for name in find_packages("kernels")
]
# The embedded default model travels with the package, for `workbench.load_default()`; its
# files are listed under [tool.setuptools.package-data] in pyproject.toml (which overrides
# a package_data given here).
asset_packages = ["workbench.assets"]


def labextension_data_files() -> list[tuple[str, list[str]]]:
    """The built JupyterLab extension (`make labextension`), for wheel and editable installs.

    JupyterLab finds prebuilt extensions under `<prefix>/share/jupyter/labextensions/`. Without
    a build (no node on the machine) the list is empty: the package works, without panels.
    """
    built = Path("workbench/labextension")
    if not (built / "package.json").exists():
        return []
    target = "share/jupyter/labextensions/@workbench/labextension"
    by_folder: dict[str, list[str]] = {}
    for path in sorted(p for p in built.rglob("*") if p.is_file()):
        inner = path.parent.relative_to(built).as_posix()
        folder = target if inner == "." else f"{target}/{inner}"
        by_folder.setdefault(folder, []).append(path.as_posix())
    return sorted(by_folder.items())


setup(
    packages=find_packages(include=["workbench", "workbench.*"]) + kernel_packages + asset_packages,
    package_dir={"workbench.kernels": "kernels", "workbench.assets": "assets"},
    data_files=labextension_data_files(),
)
