"""Direct logit attribution (Elhage et al. 2021, "A Mathematical Framework for Transformer
Circuits"): how much each component writes, directly, onto the logit difference between an
answer and a wrong token at one position.

The residual stream at the output is a sum of component outputs (embeddings, each layer's
attention and MLP output; each head; each neuron). Through the final norm with its real
scale (`cache.logit_attrs`), each term's share of `logit[answer] - logit[wrong]` is exact,
and the components plus `constant` (final-norm bias and `b_U`) add up to the model's logit
difference. Models whose stream is not such a sum (post-LN) raise `DecompositionError`;
per-head and per-neuron shares are left out (None, with `unit_note`) where sublayer outputs
are normalized (peri-LN) or a layer has no heads/neurons (Mamba, MoE).

Example:
    >>> result = compute(model, "the old dog sat on the m")   # answer: top prediction
    >>> result.component_labels, result.component_attr        # embed, 0_attn_out, ...
    >>> result.head_attr                                      # [layer, head]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.logit_lens import one_sequence, token_strings
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import run_batches
from workbench.core.cache_norm import DecompositionError


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class LogitAttributionResult(Result):
    """Shares of `logit_diff` at `position`; `sum(component_attr) + constant == logit_diff`."""

    tokens: Int[Tensor, "pos"]
    token_strings: list[str]
    position: int
    answer: int
    wrong: int | None
    answer_string: str
    wrong_string: str | None
    component_labels: list[str]
    component_attr: Float[Tensor, "component"]
    head_attr: Float[Tensor, "layer head"] | None
    neuron_attr: Float[Tensor, "layer neuron"] | None
    constant: float
    logit_diff: float
    unit_note: str


def _answer_and_wrong(model, logits: Tensor, answer: Any, wrong: Any) -> tuple[int, int | None]:
    """Defaults: the model's top prediction against its runner-up."""
    ranked = logits.argsort(descending=True).tolist()
    as_id = lambda t: model.to_single_token(t) if isinstance(t, str) else int(t)  # noqa: E731
    answer_id = ranked[0] if answer is None else as_id(answer)
    if wrong is None and answer is None:
        return answer_id, ranked[1]
    return answer_id, None if wrong is None else as_id(wrong)


def _unit_attrs(cache, position: int, args: dict) -> tuple[Tensor | None, Tensor | None, str]:
    """Per-head `[layer, head]` and per-neuron `[layer, neuron]` shares, or why not (each
    on its own: an attention-only model still gets its heads)."""
    cfg = cache.model.cfg
    notes = []
    try:
        heads = cache.stack_head_results(pos_slice=position)
        head_attr = cache.logit_attrs(heads, **args).reshape(cfg.n_layers, cfg.n_heads).cpu()
    except DecompositionError as err:
        head_attr = None
        notes.append(str(err))
    without = [f"blocks.{i}" for i in cache.model.layers_without_mlp()]
    if without:
        return head_attr, None, "; ".join([*notes, f"no neurons: {', '.join(without)} have no MLP"])
    try:
        neurons = [
            cache.logit_attrs(
                cache.get_neuron_results(layer, pos_slice=position).movedim(-2, 0), **args
            )  # fmt: skip
            for layer in range(cfg.n_layers)
        ]
        neuron_attr = torch.stack(neurons)[..., 0].cpu()
    except DecompositionError as err:
        neuron_attr = None
        notes.append(str(err))
    return head_attr, neuron_attr, "; ".join(notes)


def compute(
    model: Any,
    data: Int[Tensor, "pos"] | str | None = None,
    *,
    position: int = -1,
    answer: str | int | None = None,
    wrong: str | int | None = None,
    seq_len: int = 24,
) -> LogitAttributionResult:
    """Attribution at `position` of `logit[answer] - logit[wrong]` (just `logit[answer]` if
    only `answer` is given; default: the top prediction against the runner-up)."""
    tokens = one_sequence(model, data, seq_len)
    if not -len(tokens) <= position < len(tokens):
        raise ValueError(f"position {position} is outside the {len(tokens)} tokens")
    position = position % len(tokens)

    def attribute(batch: Tensor, _mask: Tensor) -> dict[str, Any]:
        logits, cache = model.run_with_cache(batch)
        final = logits[0, position].float().cpu()
        answer_id, wrong_id = _answer_and_wrong(model, final, answer, wrong)
        args = dict(tokens=answer_id, incorrect_tokens=wrong_id, pos_slice=position)
        stack, labels = cache.decompose_resid(pos_slice=position, return_labels=True)
        heads, neurons, note = _unit_attrs(cache, position, args)
        return dict(
            final=final, answer_id=answer_id, wrong_id=wrong_id, labels=labels, note=note,
            component_attr=cache.logit_attrs(stack, **args)[:, 0].float().cpu(),
            heads=heads, neurons=neurons, constant=_constant(model, answer_id, wrong_id),
        )  # fmt: skip

    out = run_batches(model, tokens[None], attribute, batch_size=1, desc="logit attribution")[0]
    final, answer_id, wrong_id = out["final"], out["answer_id"], out["wrong_id"]
    diff = final[answer_id] - (final[wrong_id] if wrong_id is not None else 0.0)
    meta = ResultMetadata.from_model(
        model,
        tokens=tokens[None].cpu(),
        options={"position": position, "answer": answer, "wrong": wrong, "seq_len": seq_len},
        data_description="validation corpus window" if data is None else "given sequence",
    )
    strings = lambda t: token_strings(model, torch.tensor([t]))[0]  # noqa: E731
    return LogitAttributionResult(
        tokens=tokens.cpu(), token_strings=token_strings(model, tokens), position=position,
        answer=answer_id, wrong=wrong_id, answer_string=strings(answer_id),
        wrong_string=None if wrong_id is None else strings(wrong_id),
        component_labels=out["labels"], component_attr=out["component_attr"],
        head_attr=out["heads"], neuron_attr=out["neurons"], constant=out["constant"],
        logit_diff=float(diff), unit_note=out["note"], metadata=meta,
    )  # fmt: skip


def _constant(model: Any, answer: int, wrong: int | None) -> float:
    """What no component carries: the final norm's bias through W_U, and b_U."""
    direction = model.W_U[:, answer] - (model.W_U[:, wrong] if wrong is not None else 0.0)
    b_u = model.b_U[answer] - (model.b_U[wrong] if wrong is not None else 0.0)
    bias = getattr(model.ln_final, "b", None) if model.ln_final is not None else None
    return float(b_u + (bias @ direction if bias is not None else 0.0))


def report_section(report: Any, result: LogitAttributionResult) -> None:
    """Heading, prose, the figure and the component table."""
    versus = f" vs {result.wrong_string!r}" if result.wrong_string is not None else ""
    report.add_markdown(
        "## Direct logit attribution\n"
        f"Each component's direct share of logit({result.answer_string!r}){versus} at "
        f"position {result.position} ({result.metadata.data_description}). Components plus "
        f"the constant {result.constant:.3f} sum to the model's {result.logit_diff:.3f}."
    )
    report.add_result(result, caption="Per component (left) and per head (right).")
    rows = list(zip(result.component_labels, result.component_attr.tolist(), strict=True))
    report.add_table(rows, header=["component", "logit attribution"])
    if result.unit_note:
        report.add_markdown(f"Per-head and per-neuron shares left out: {result.unit_note}")


register_analysis("logit_attribution", compute, report_section)
