#!/usr/bin/env bash
# Mutation testing with mutmut (not part of CI; slow). Plants one small bug at a time in the
# chosen modules and runs a fast test subset against each; a mutant the tests do not notice
# "survives" and points at a gap in the suite.
#
# Usage: scripts/mutation_run.sh [MUTANT_GLOB ...]
#   scripts/mutation_run.sh 'workbench.core.hooks*'            # one module (default below)
#   scripts/mutation_run.sh 'workbench.core.hooks*' 'workbench.core.checkpoint*'
# Scope and test directories: [tool.mutmut] in pyproject.toml. Results: `mutmut results`,
# one survivor's diff: `mutmut show <name>`. Runs under `nice` on one core by default
# (MUTMUT_JOBS to change).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
JOBS=${MUTMUT_JOBS:-1}
if ! "$PY" -c "import mutmut" 2>/dev/null; then
    echo "mutmut is not installed: $PY -m pip install 'mutmut>=3.8'" >&2
    exit 1
fi
if [ "$#" -eq 0 ]; then
    set -- 'workbench.core.hooks*'
fi
rm -rf mutants  # a stale copy would test old sources
# mutmut runs the tests inside mutants/, where `workbench` imports from the copy; kernels/
# ships as `workbench.kernels` through a package-dir mapping that would still point at the
# unmutated kernels/, so the copy gets the same mapping as a link. mutmut also matches a
# kernel mutant (`kernels.mlp.chunked.x_...`) by the module name its functions carry, so
# under mutmut tests/conftest.py imports `workbench.kernels.*` as the modules `kernels.*`
# (tests/mutmut_kernels.py); without it every kernel mutant was "no tests".
mkdir -p mutants/workbench
ln -s ../kernels mutants/workbench/kernels
nice -n 10 "$PY" -m mutmut run --max-children "$JOBS" "$@"
"$PY" -m mutmut results
