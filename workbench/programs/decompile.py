"""Decompile a discretized Transformer Program into a standalone Python module.

Friedman, Wettig & Chen, NeurIPS 2023 (arXiv 2306.01128), Sec. 3.3. Attention heads become
`select_closest` + `aggregate` with a predicate written as `if q in {...}: return k == ...`,
numerical heads `numerical_aggregate` (1 / (1 + matches)), MLPs lookup tables, and the output
a table of logits per (variable, value). Every vocabulary value is written with `repr()`, so
quotes, backslashes, newlines or keywords in tokens cannot break (or inject into) the code.
The generated file needs nothing but Python: `run(tokens)` -> one label per position,
`trace(tokens)` -> every variable.

Example:
    >>> source = decompile(model)              # or: write_program(model, "sort_program.py")
    >>> namespace = {}; exec(compile(source, "sort_program.py", "exec"), namespace)
    >>> namespace["run"](["<s>", 3, 1, 4, 1, 0, "</s>"])   # docs/programs/sort_program.py
    [1, 0, 1, 1, 3, 4, 4]
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from workbench.core.checkpoint import atomic_write
from workbench.programs.model import ProgramModel
from workbench.programs.spec import ModuleSpec, ProgramSpec, extract

RUNTIME = '''

def select_closest(keys, queries, predicate):
    """For each query position, the closest key position (not BOS) whose key matches;
    equal distance: the left one; no match: BOS (position 0)."""
    chosen = []
    for i, q in enumerate(queries):
        visible = range(1, i + 1 if CAUSAL else len(keys))
        matches = [j for j in visible if predicate(q, keys[j])]
        chosen.append(min(matches, key=lambda j: (abs(i - j), j > i)) if matches else 0)
    return chosen


def aggregate(chosen, values):
    return [values[j] for j in chosen]


def numerical_aggregate(keys, queries, predicate):
    """Mean of the BOS indicator over BOS and the matching keys = 1 / (1 + matches)."""
    out = []
    for i, q in enumerate(queries):
        visible = range(1, i + 1 if CAUSAL else len(keys))
        n = sum(1 for j in visible if predicate(q, keys[j]))
        out.append(1.0 / (1.0 + n))
    return out


def output_logits(variables, i):
    logits = [0.0] * len(LABELS)
    for name, table in OUTPUT_TABLES.items():
        row = table[variables[name][i]]
        logits = [a + b for a, b in zip(logits, row, strict=True)]
    for name, weights in OUTPUT_WEIGHTS.items():
        x = variables[name][i]
        logits = [a + w * x for a, w in zip(logits, weights, strict=True)]
    return [a + b for a, b in zip(logits, OUTPUT_BIAS, strict=True)]
'''


def _docstring(text: str) -> str:
    """Triple-quoted when that is safe to read, else `repr` (a docstring all the same)."""
    if '"""' in text or "\\" in text or text.endswith('"'):
        return repr(text)
    return f'"""{text}"""'


def _dict_literal(items: dict, indent: str = "    ") -> str:
    lines = [f"{indent}{k!r}: {v!r}," for k, v in items.items()]
    return "{\n" + "\n".join(lines) + "\n}"


def _predicate(module: ModuleSpec) -> str:
    groups: dict[Any, list] = {}
    for q, k in module.predicate.items():
        groups.setdefault(k, []).append(q)
    lines = [f"def predicate_{module.name}(q, k):"]
    lines.append(f'    """{module.reads["query"]} (q) vs {module.reads["key"]} (k)."""')
    for k, queries in groups.items():
        test = "False" if k is None else f"k == {k!r}"
        lines.append(f"    if q in {{{', '.join(repr(q) for q in queries)}}}:")
        lines.append(f"        return {test}")
    lines.append("    return False")
    return "\n".join(lines)


def _table_name(module: ModuleSpec) -> str:
    return f"TABLE_{module.name.removesuffix('_outputs').upper()}"


def _module_definition(module: ModuleSpec) -> str:
    if module.kind in ("attention", "numerical_attention"):
        return _predicate(module)
    reads = ", ".join(module.reads.values())
    table = _dict_literal(module.table)
    return f"# {module.name} = lookup on ({reads})\n{_table_name(module)} = {table}"


def _module_call(module: ModuleSpec) -> str:
    r, name = module.reads, module.name
    if module.kind == "attention":
        pattern = f"select_closest({r['key']}, {r['query']}, predicate_{name})"
        return f"    {name} = aggregate({pattern}, {r['value']})"
    if module.kind == "numerical_attention":
        return f"    {name} = numerical_aggregate({r['key']}, {r['query']}, predicate_{name})"
    if "second" in r:  # a two-input MLP, categorical or numerical
        args = f"zip({r['first']}, {r['second']}, strict=True)"
        return f"    {name} = [{_table_name(module)}[(a, b)] for a, b in {args}]"
    return f"    {name} = [{_table_name(module)}[x] for x in {r['input']}]"


def program_source(spec: ProgramSpec, header: str = "") -> str:
    """The Python module (as text) that computes `spec`."""
    doc = f"Transformer Program for task {spec.task!r}, decompiled by workbench.programs.\n"
    doc += "".join(textwrap.fill(line, 96) + "\n" for line in header.splitlines())
    doc += f"Usage: run(tokens) -> labels; tokens start with BOS {spec.vocab[0]!r}.\n"
    parts = [
        _docstring(doc),
        f"LABELS = {spec.labels!r}\nVOCAB = {spec.vocab!r}\nCAUSAL = {spec.causal!r}",
        RUNTIME.strip("\n"),
        *(_module_definition(m) for m in spec.modules),
        f"OUTPUT_BIAS = {spec.output_bias!r}",
        "OUTPUT_TABLES = {\n"
        + "\n".join(
            f"    {n!r}: {_dict_literal(t, ' ' * 8)}," for n, t in spec.output_tables.items()
        )
        + "\n}",
        f"OUTPUT_WEIGHTS = {_dict_literal(spec.output_weights)}",
        _trace_function(spec),
        "def run(tokens):\n    return trace(tokens)['outputs']",
    ]
    return "\n\n\n".join(parts) + "\n"


def _trace_function(spec: ProgramSpec) -> str:
    lines = [
        "def trace(tokens):",
        '    """Every variable of the program, per position, for `tokens`."""',
        "    tokens = list(tokens)",
        "    unknown = [t for t in tokens if t not in VOCAB]",
        "    if unknown:",
        "        raise ValueError(f'tokens not in the vocabulary: {unknown!r}')",
        "    positions = list(range(len(tokens)))",
        *(_module_call(m) for m in spec.modules),
        "    variables = dict(locals())",
        "    del variables['unknown']",
        "    scores = [output_logits(variables, i) for i in positions]",
        "    best = [max(range(len(s)), key=s.__getitem__) for s in scores]",
        "    variables['outputs'] = [LABELS[b] for b in best]",
        "    return variables",
    ]
    return "\n".join(lines)


def decompile(model: ProgramModel, header: str = "") -> str:
    """Python source of the discretized `model` (see module docstring)."""
    return program_source(extract(model), header)


def write_program(model: ProgramModel, path: str | Path, header: str = "") -> Path:
    path = Path(path)
    source = decompile(model, header)
    compile(source, str(path), "exec")  # fail here, not in the user's hands
    atomic_write(path, lambda tmp: Path(tmp).write_text(source))
    return path
