"""Read a discretized Transformer Program out of a trained `ProgramModel`: for every module,
which variables it reads, its predicate (per query value, the matching key value) or its
lookup table, and the output logit tables. `decompile.py` prints this as Python.

Friedman, Wettig & Chen, NeurIPS 2023 (arXiv 2306.01128), Sec. 3.3 (extracting programs).

Example:
    >>> spec = extract(model)
    >>> spec.modules[0].predicate        # {query value: key value or None}
    {0: 3, 1: 2, ...}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.programs.model import ProgramModel


@dataclass
class ModuleSpec:
    kind: str  # "attention" | "numerical_attention" | "mlp" | "numerical_mlp"
    name: str  # the variable it writes
    reads: dict[str, str]  # role -> variable name ("query", "key", "value", "first", ...)
    predicate: dict[Any, Any] = field(default_factory=dict)  # query value -> key value | None
    predicate_matrix: list[list[float]] = field(default_factory=list)  # query idx x key idx
    table: dict[Any, Any] = field(default_factory=dict)  # input value(s) -> output value


@dataclass
class ProgramSpec:
    task: str
    vocab: list
    labels: list
    max_len: int
    causal: bool
    domains: dict[str, list]  # categorical variable -> its values (index order)
    numerical: list[str]
    modules: list[ModuleSpec]
    output_bias: list[float]
    output_tables: dict[str, dict[Any, list[float]]]  # cat variable -> value -> label logits
    output_weights: dict[str, list[float]]  # numerical variable -> per-label weight


def _attention(head, kind, name, cat_names, domains) -> ModuleSpec:
    query, key = cat_names[head.query.chosen()], cat_names[head.key.chosen()]
    reads = {"query": query, "key": key}
    if kind == "attention":
        reads["value"] = cat_names[head.value.chosen()]
    matrix = torch.softmax(head.predicate.logits.detach().double(), -1)
    choice = head.predicate.logits.argmax(-1).tolist()
    predicate = {
        q: (domains[key][choice[i]] if choice[i] < len(domains[key]) else None)
        for i, q in enumerate(domains[query])
    }
    rows = matrix[: len(domains[query]), : len(domains[key])].tolist()
    return ModuleSpec(kind, name, reads, predicate=predicate, predicate_matrix=rows)


@torch.no_grad()
def _mlp_table(mlp, domain_a: list, domain_b: list, width: int) -> dict:
    eye = torch.eye(width, dtype=torch.float64)
    ia = torch.arange(len(domain_a)).repeat_interleave(len(domain_b))
    ib = torch.arange(len(domain_b)).repeat(len(domain_a))
    out = mlp.table_logits(eye[ia], eye[ib], tau=1.0, hard=True, noise=False).argmax(-1)
    return {(domain_a[a], domain_b[b]): int(o) for a, b, o in zip(ia, ib, out, strict=True)}


@torch.no_grad()
def _num_mlp_table(mlp, n_inputs: int, max_len: int) -> dict:
    """Output per input value (one input) or per pair of values (two inputs)."""
    counts = torch.arange(max_len, dtype=torch.float64)
    values = 1.0 / (1.0 + counts)  # every value a numerical head can produce
    grid = torch.cartesian_prod(*[values] * n_inputs).reshape(-1, n_inputs)
    out = mlp.net(grid).argmax(-1).tolist()
    keys = [tuple(row) if n_inputs > 1 else row[0] for row in grid.tolist()]
    return dict(zip(keys, out, strict=True))


def _layer_modules(model, layer_index, layer, cat_names, num_names, domains):
    cfg, K, mods = model.cfg, model.cfg.width, []
    for h, head in enumerate(layer.cat_heads):
        spec = _attention(head, "attention", f"attn_{layer_index}_{h}_outputs", cat_names, domains)
        domains[spec.name] = domains[spec.reads["value"]]
        mods.append(spec)
    for h, head in enumerate(layer.num_heads):
        name = f"num_attn_{layer_index}_{h}_outputs"
        mods.append(_attention(head, "numerical_attention", name, cat_names, domains))
    cat_names += [m.name for m in mods if m.kind == "attention"]
    num_names += [m.name for m in mods if m.kind == "numerical_attention"]
    new = []
    for m, mlp in enumerate(layer.cat_mlps):
        a, b = cat_names[mlp.first.chosen()], cat_names[mlp.second.chosen()]
        table = _mlp_table(mlp, domains[a], domains[b], K)
        new.append(ModuleSpec("mlp", f"mlp_{layer_index}_{m}_outputs", {"first": a, "second": b},
                              table=table))  # fmt: skip
    for m, mlp in enumerate(layer.num_mlps):
        roles = ("first", "second") if mlp.second is not None else ("input",)
        reads = {r: num_names[c.chosen()] for r, c in zip(roles, mlp.choices(), strict=True)}
        table = _num_mlp_table(mlp, len(roles), cfg.max_len)
        new.append(ModuleSpec("numerical_mlp", f"num_mlp_{layer_index}_{m}_outputs", reads,
                              table=table))  # fmt: skip
    for spec in new:
        domains[spec.name] = list(range(K))
        cat_names.append(spec.name)
    return mods + new


def extract(model: ProgramModel) -> ProgramSpec:
    """The discrete program that `model(..., hard=True)` computes (read in float64)."""
    model = copy.deepcopy(model).double()
    cfg = model.cfg
    domains: dict[str, list] = {"tokens": list(cfg.vocab), "positions": list(range(cfg.max_len))}
    cat_names, num_names, modules = ["tokens", "positions"], [], []
    for index, layer in enumerate(model.layers):
        modules += _layer_modules(model, index, layer, cat_names, num_names, domains)
    weight = model.unembed.weight.detach().double()  # [label, feature]
    K = cfg.width
    tables = {
        name: {value: weight[:, v * K + i].tolist() for i, value in enumerate(domains[name])}
        for v, name in enumerate(cat_names)
    }
    numeric = {name: weight[:, len(cat_names) * K + i].tolist() for i, name in enumerate(num_names)}
    return ProgramSpec(
        task=cfg.task,
        vocab=list(cfg.vocab),
        labels=list(cfg.labels),
        max_len=cfg.max_len,
        causal=cfg.causal,
        domains=domains,
        numerical=num_names,
        modules=modules,
        output_bias=model.unembed.bias.detach().double().tolist(),
        output_tables=tables,
        output_weights=numeric,
    )
