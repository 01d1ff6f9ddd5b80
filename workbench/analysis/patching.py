"""Activation patching and attribution patching (AtP) as an analysis: `compute -> PatchingResult`.

Activation patching (Meng et al. 2022; Wang et al. 2023; Heimersheim & Nanda 2024, "How to
use and interpret activation patching") runs a corrupted input with one clean activation
copied in and measures how much of the clean behaviour (`metric`) comes back. Attribution
patching (Nanda 2023; Kramár et al. 2024, AtP*) estimates every patch of the same sweep from
one gradient. `compute` runs either or both over one site (`"resid"` by layer x position,
`"head"` by layer x head, `"head_pos"` by layer x position x head, `"attn_out"`,
`"mlp_out"`) and reports their agreement (Pearson r) and how long each took.

Without data, `compute` builds the induction task of Olsson et al. 2022 on random tokens:
clean rows repeat a random sequence (`A B C ... A B C ...`), corrupted rows replace the
first copy by other random tokens; the metric is the mean log-probability of the repeated
tokens in the second half, which heads that copy from the first copy raise.

Example:
    >>> result = compute(model)                                # induction task, heads
    >>> result.patched.shape, result.pearson_r                 # [layer, head], AtP agreement
    >>> result = compute(model, clean, corrupted, metric, site="resid", metric_name="logit diff")
    >>> result.normalized(result.patched)                      # 1 = clean behaviour restored
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.patching_atp import attribution_patching, pearson_r
from workbench.analysis.patching_sweep import (
    Metric,
    activation_patching,
    check_pair,
    eval_mode,
    get_site,
    metric_value,
)
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens, model_device

METHODS = ("patching", "attribution")


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class PatchingResult(Result):
    """One sweep: the metric after each patch (`patched`, real activation patching) and/or
    its AtP estimate (`attribution`), shaped along `axes`; `seconds` per method."""

    site: str
    axes: list[str]
    metric_name: str
    clean_metric: float
    corrupted_metric: float
    patched: Float[Tensor, "..."] | None = None
    attribution: Float[Tensor, "..."] | None = None
    pearson_r: float | None = None
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    str_tokens: list[str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        present = [v for v in (self.patched, self.attribution) if v is not None]
        if not present:
            raise ValueError("PatchingResult needs `patched`, `attribution` or both")
        for values in present:
            if values.dim() != len(self.axes):
                raise ValueError(f"values of shape {list(values.shape)} for axes {self.axes}")
        if len(present) == 2 and self.patched.shape != self.attribution.shape:
            raise ValueError("`patched` and `attribution` must have the same shape")

    def normalized(self, values: Tensor) -> Float[Tensor, "..."]:
        """`(values - corrupted) / (clean - corrupted)`: 0 = no effect, 1 = clean restored."""
        gap = self.clean_metric - self.corrupted_metric
        if gap == 0:
            raise ValueError("clean and corrupted metrics are equal: nothing to normalize by")
        return (values.double() - self.corrupted_metric) / gap

    def top(self, k: int = 5, method: str = "patching") -> list[tuple[tuple[int, ...], float]]:
        """The `k` patches that move the metric most towards clean, as (index, value)."""
        values = self.patched if method == "patching" else self.attribution
        if values is None:
            raise ValueError(f"this result has no {method!r} values (it has {self.methods})")
        sign = 1.0 if self.clean_metric >= self.corrupted_metric else -1.0
        effect = (values.double() - self.corrupted_metric) * sign
        order = effect.flatten().argsort(descending=True)[:k]
        shape = values.shape
        return [(tuple(int(i) for i in torch.unravel_index(j, shape)), float(values.flatten()[j]))
                for j in order]  # fmt: skip

    @property
    def methods(self) -> list[str]:
        return [m for m, v in zip(METHODS, (self.patched, self.attribution), strict=True)
                if v is not None]  # fmt: skip


TITLES = {"patching": "activation patching", "attribution": "attribution patching (AtP)"}


def shown_values(result: PatchingResult, method: str) -> tuple[Tensor, str]:
    """What views show for `method`, and its label: the normalized effect where the clean
    and corrupted metrics differ, the raw metric where they do not."""
    values = result.patched if method == "patching" else result.attribution
    if values is None:
        raise ValueError(f"this result has no {method!r} values (it has {result.methods})")
    if result.clean_metric == result.corrupted_metric:
        return values, result.metric_name
    return result.normalized(values).float(), "fraction of clean restored"


def as_matrix(result: PatchingResult, values: Tensor) -> dict[str, Any]:
    """A 2-D view of a sweep for heatmaps: `[layer, pos]`, `[layer, head]`, or the rows
    `L{layer}H{head}` against positions for `head_pos`."""
    pos_labels = result.str_tokens or [str(i) for i in range(values.shape[1])]
    if result.site == "head_pos":
        n_layers, n_pos, n_heads = values.shape
        rows = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
        matrix = values.permute(0, 2, 1).reshape(n_layers * n_heads, n_pos)
        return dict(values=matrix, row_labels=rows, col_labels=pos_labels,
                    row_axis="head", col_axis="pos")  # fmt: skip
    cols = pos_labels if result.axes[1] == "pos" else None
    return dict(values=values, row_labels=None, col_labels=cols, row_axis="layer",
                col_axis=result.axes[1])  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PatchingTask:
    """Clean and corrupted tokens and a metric of the logits: the input of a sweep."""

    clean: Int[Tensor, "batch pos"]
    corrupted: Int[Tensor, "batch pos"]
    metric: Metric
    metric_name: str
    description: str


def repeated_tokens_task(
    model: Any, n_examples: int = 8, half: int = 12, seed: int = 0
) -> PatchingTask:
    """The induction task: clean = `[r, r]`, corrupted = `[r', r]` for token rows `r`, `r'`
    (windows of the embedded corpus for a model with a tokenizer, else uniform random ids
    from `seed`); metric = mean log-probability of the second copy's tokens (each predicted
    from the position before it)."""
    if half < 2 or 2 * half > (model.pos_embed.max_len or 2 * half):
        raise ValueError(f"half={half} must be >= 2 and fit twice in the model's context")
    if getattr(model, "tokenizer", None) is not None:  # text the model knows, not byte noise
        rows = corpus_tokens(model, n_sequences=2 * n_examples, seq_len=half)
        kind = "corpus windows"
    else:
        gen = torch.Generator().manual_seed(seed)
        rows = torch.randint(0, model.cfg.d_vocab, (2 * n_examples, half), generator=gen)
        kind = "random tokens"
    first, other = rows[:n_examples], rows[n_examples:]
    clean = torch.cat([first, first], dim=1)
    corrupted = torch.cat([other, first], dim=1)
    return PatchingTask(clean, corrupted, repeat_logprob_metric(clean, half),
                        "mean log-prob of the repeated tokens",
                        f"{n_examples} rows of {half} {kind}, repeated")  # fmt: skip


def repeat_logprob_metric(clean: Int[Tensor, "batch pos"], half: int) -> Metric:
    """`metric(logits)`: mean log-probability of `clean[:, half + 1:]` predicted at the
    positions before them (the second copy, except its first token)."""
    targets = clean[:, half + 1 :]

    def metric(logits: Float[Tensor, "batch pos d_vocab"]) -> Tensor:
        logprobs = logits[:, half:-1].float().log_softmax(-1)
        picked = logprobs.gather(-1, targets.to(logits.device)[..., None])
        return picked.mean()

    return metric


def compute(
    model: Any,
    clean: Int[Tensor, "batch pos"] | None = None,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: Metric | None = None,
    *,
    site: str = "head",
    methods: Sequence[str] = METHODS,
    metric_name: str = "metric",
    patches_per_pass: int | None = None,
    memory_budget: int | None = None,
    progress: bool = True,
) -> PatchingResult:
    """Patch every `site` of `corrupted` with `clean` (default: the induction task of
    `repeated_tokens_task`) by activation patching and/or AtP (`methods`)."""
    get_site(site)
    if metric is None and not getattr(model.cfg, "has_unembed", True):
        raise ValueError(
            "the default patching metric (log-probability of the repeated tokens) reads "
            "logits, and this model has no unembedding (has_unembed=False): pass a `metric` "
            "on its output"
        )
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {list(methods)}")
    task = _task(model, clean, corrupted, metric, metric_name)
    clean_value, corrupted_value = baselines(model, task)
    values, seconds = {}, {}
    for method in METHODS:
        if method in methods:
            start = time.perf_counter()
            values[method] = _run(method, model, task, site, patches_per_pass, memory_budget,
                                  progress)  # fmt: skip
            seconds[method] = time.perf_counter() - start
    both = len(values) == 2
    options = {"site": site, "methods": list(methods), "patches_per_pass": patches_per_pass,
               "memory_budget": memory_budget}  # fmt: skip
    tokens = torch.cat([task.clean, task.corrupted])
    meta = ResultMetadata.from_model(model, tokens=tokens, options=options,
                                     data_description=task.description)  # fmt: skip
    return PatchingResult(
        site=site, axes=list(get_site(site).axes), metric_name=task.metric_name,
        clean_metric=clean_value, corrupted_metric=corrupted_value,
        patched=values.get("patching"), attribution=values.get("attribution"),
        pearson_r=pearson_r(values["patching"], values["attribution"]) if both else None,
        seconds=seconds, str_tokens=_str_tokens(model, task.clean[0]), metadata=meta,
    )  # fmt: skip


def _task(model, clean, corrupted, metric, metric_name: str) -> PatchingTask:
    if clean is None and corrupted is None and metric is None:
        return repeated_tokens_task(model)
    if clean is None or corrupted is None or metric is None:
        raise ValueError("pass clean, corrupted and metric together (or none: induction task)")
    clean, corrupted = (_unpadded(model, data, name)
                        for data, name in ((clean, "clean"), (corrupted, "corrupted")))  # fmt: skip
    check_pair(clean, corrupted)
    shape = "x".join(map(str, clean.shape))
    return PatchingTask(clean, corrupted, metric, metric_name, f"{shape} clean/corrupted tokens")


def _unpadded(model: Any, data: Any, name: str) -> Tensor:
    """Checked token ids; texts must tokenize to one length (a patch pairs positions)."""
    tokens, mask = model.tokens_and_mask(data)
    if mask is not None and not bool(mask.all()):
        raise ValueError(
            f"the {name} texts tokenize to different lengths; patching pairs position p of "
            "clean with position p of corrupted: pass texts of equal token length"
        )
    return tokens


@torch.no_grad()
def baselines(model: Any, task: PatchingTask) -> tuple[float, float]:
    """The metric on the clean and on the corrupted run (no patch)."""
    device = model_device(model)
    with eval_mode(model):
        return tuple(float(metric_value(task.metric, model(t.to(device))))
                     for t in (task.clean, task.corrupted))  # fmt: skip


def _run(method, model, task, site, patches_per_pass, memory_budget, progress) -> Tensor:
    if method == "attribution":
        return attribution_patching(model, task.clean, task.corrupted, task.metric, site)
    return activation_patching(model, task.clean, task.corrupted, task.metric, site,
                               patches_per_pass=patches_per_pass, memory_budget=memory_budget,
                               progress=progress)  # fmt: skip


def _str_tokens(model: Any, tokens: Tensor) -> list[str] | None:
    return model.to_str_tokens(tokens) if getattr(model, "tokenizer", None) is not None else None


def report_section(report: Any, result: PatchingResult) -> None:
    """Heading, prose, the heatmaps (and AtP against patching), the top patches."""
    agreement = "" if result.pearson_r is None else (
        f" AtP against real patching: Pearson r = {result.pearson_r:.3f}.")  # fmt: skip
    timing = ", ".join(f"{m} {s:.2f} s" for m, s in result.seconds.items())
    report.add_markdown(
        f"## Activation and attribution patching: {result.site} ({' x '.join(result.axes)})\n"
        f"Task: {result.metadata.data_description}. Metric: {result.metric_name} (clean "
        f"{result.clean_metric:.3f}, corrupted {result.corrupted_metric:.3f}). Each cell is the "
        f"metric with one clean activation patched into the corrupted run.{agreement} "
        f"Time: {timing}."
    )
    report.add_result(result, caption=f"Patching by {' x '.join(result.axes)}.")
    method = result.methods[0]
    rows = [(", ".join(map(str, index)), value) for index, value in result.top(5, method)]
    report.add_table(rows, header=[" x ".join(result.axes), f"metric ({method})"])


def _compute_heads(model: Any) -> PatchingResult:
    return compute(model, site="head", progress=False)


def _compute_resid(model: Any) -> PatchingResult:
    return compute(model, site="resid", progress=False)


register_analysis("patching_heads", _compute_heads, report_section)
register_analysis("patching_resid", _compute_resid, report_section)
