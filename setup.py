"""Ship `kernels/` inside the wheel as `workbench.kernels`.

A top-level module named `kernels` would shadow a popular PyPI package that other
libraries probe for, so the folder is mapped under our namespace instead.
"""

from setuptools import find_packages, setup

kernel_packages = ["workbench.kernels"] + [
    f"workbench.kernels.{name}" for name in find_packages("kernels")
]
# The embedded default model travels with the package, for `workbench.load_default()`; its
# files are listed under [tool.setuptools.package-data] in pyproject.toml (which overrides
# a package_data given here).
asset_packages = ["workbench.assets"]
setup(
    packages=find_packages(include=["workbench", "workbench.*"]) + kernel_packages + asset_packages,
    package_dir={"workbench.kernels": "kernels", "workbench.assets": "assets"},
)
