"""Under mutmut only: `workbench.kernels.X` imports as the module `kernels.X`.

`kernels/` ships as `workbench.kernels` through a package-dir mapping (setup.py), and the
kernels import each other by that name. mutmut names a mutant after its file
(`kernels.attention.scores.x_visible_mask__mutmut_3`) and matches it against the module of
the function that runs (`function.__module__`): under the `workbench.kernels` name the two
never meet, so no test was mapped to a kernel function and no kernel mutant was ever
activated ("no tests"). This finder, first on `sys.meta_path`, imports `kernels.X` and
hands the same module object out as `workbench.kernels.X`, so both names reach one module
whose functions report `kernels.X`. `tests/conftest.py` installs it only when mutmut's
`MUTANT_UNDER_TEST` is in the environment; ordinary test runs never see it.

Example (inside `mutants/`, as mutmut runs the tests)::

    install()
    import workbench.kernels.attention.scores as scores
    assert scores.__name__ == "kernels.attention.scores"
"""

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

ALIAS = "workbench.kernels"
REAL = "kernels"


class KernelsAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolve `workbench.kernels[.X]` to the already-imported module `kernels[.X]`."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = importlib.import_module(REAL + fullname[len(ALIAS) :])
        return importlib.machinery.ModuleSpec(fullname, self, is_package=hasattr(real, "__path__"))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        real = sys.modules[REAL + spec.name[len(ALIAS) :]]
        # The import system sets __spec__ on the module it gets here; keep the real one.
        spec.loader_state = real.__spec__
        return real

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state or module.__spec__


def install() -> None:
    """Put the alias first on `sys.meta_path` (once); refuse if it comes too late."""
    if any(isinstance(finder, KernelsAlias) for finder in sys.meta_path):
        return
    early = [
        name
        for name, module in sys.modules.items()
        if name.startswith(ALIAS) and not module.__name__.startswith(REAL)
    ]
    if early:
        raise RuntimeError(
            f"{early[0]} was imported before the mutmut kernels alias: kernel mutants would "
            "run unmutated and map to no tests"
        )
    sys.meta_path.insert(0, KernelsAlias())
