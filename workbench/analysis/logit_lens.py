"""Logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens"): read the residual
stream before each layer through the final norm and the unembedding, as if the model
stopped there.

Per layer (`0_pre`, `1_pre`, ..., `final_post`) and position: the top-k tokens and their
probabilities, and the rank (0 = top) and probability of a target token (by default the
next token of the text). The stream is normalized with the final norm's own statistics
(`cache.accumulated_resid(apply_ln=True)`), so the last row is exactly the model's output.

Example:
    >>> result = compute(model, "the old dog sat on the mat")
    >>> result.target_rank[-1]          # ranks of the real next bytes at the output
    >>> result.top_strings[1][4]        # top-5 tokens before layer 1, position 4
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result
from workbench.analysis.runner import corpus_tokens, prepare_tokens, run_batches


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class LogitLensResult(Result):
    """`layer` runs over `layer_labels` (the stream before each layer, then the output)."""

    tokens: Int[Tensor, "pos"]
    token_strings: list[str]
    positions: Int[Tensor, "target_pos"]
    targets: Int[Tensor, "target_pos"]
    target_strings: list[str]
    layer_labels: list[str]
    target_rank: Int[Tensor, "layer target_pos"]
    target_prob: Float[Tensor, "layer target_pos"]
    top_tokens: Int[Tensor, "layer target_pos k"]
    top_probs: Float[Tensor, "layer target_pos k"]
    top_strings: list[list[list[str]]]


def one_sequence(model: Any, data: Any, seq_len: int) -> Int[Tensor, "pos"]:
    """One checked sequence: text, `[pos]`/`[1, pos]` ids, or (None) a corpus window."""
    if data is None:
        n_ctx = getattr(model.cfg, "n_ctx", None) or seq_len
        return corpus_tokens(model, n_sequences=1, seq_len=min(seq_len, n_ctx))[0]
    if isinstance(data, Tensor) and data.dim() == 1:
        data = data[None]
    tokens, mask = prepare_tokens(model, data)
    if tokens.shape[0] != 1 or not bool(mask.all()):
        raise ValueError(f"this analysis reads one unpadded sequence, got {tokens.shape[0]}")
    return tokens[0]


def token_strings(model: Any, ids: Tensor) -> list[str]:
    """Readable tokens (ids as text when the model has no tokenizer)."""
    flat = ids.reshape(-1).cpu()
    if getattr(model, "tokenizer", None) is None:
        return [str(int(i)) for i in flat]
    return [model.to_str_tokens(flat[i : i + 1])[0] for i in range(len(flat))]


def _targets(model: Any, tokens: Tensor, target: Any) -> tuple[Tensor, Tensor]:
    """(positions, target token at each): the next token by default, else `target` at
    every position."""
    if target is None:
        if len(tokens) < 2:
            raise ValueError("logit lens with next-token targets needs at least 2 tokens")
        return torch.arange(len(tokens) - 1), tokens[1:].cpu()
    token = model.to_single_token(target) if isinstance(target, str) else int(target)
    if not 0 <= token < model.cfg.d_vocab:
        raise ValueError(f"target must be a token id in [0, {model.cfg.d_vocab}), got {token}")
    return torch.arange(len(tokens)), torch.full((len(tokens),), token)


def _lens_logits(model: Any, tokens: Tensor, positions: Tensor) -> tuple[Tensor, list[str]]:
    """Logits `[layer, pos, vocab]` of the stream before each layer, and the layer labels."""

    def lens(batch: Tensor, _mask: Tensor) -> tuple[Tensor, list[str]]:
        _, cache = model.run_with_cache(batch, names_filter=lambda n: "resid" in n)
        resid, labels = cache.accumulated_resid(apply_ln=True, return_labels=True)
        logits = resid[:, 0, positions.to(resid.device)] @ model.W_U + model.b_U
        return logits.float().cpu(), labels

    return run_batches(model, tokens[None], lens, batch_size=1, desc="logit lens")[0]


def compute(
    model: Any,
    data: Int[Tensor, "pos"] | str | None = None,
    *,
    target: str | int | None = None,
    top_k: int = 5,
    seq_len: int = 24,
) -> LogitLensResult:
    """Logit lens over one sequence (default: `seq_len` tokens of the validation corpus)."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    tokens = one_sequence(model, data, seq_len)
    positions, targets = _targets(model, tokens, target)
    logits, labels = _lens_logits(model, tokens, positions)
    index = targets[None, :, None].expand(len(labels), -1, 1)
    rank = (logits > logits.gather(-1, index)).sum(-1)  # 0 = the top token
    log_probs = logits.log_softmax(-1)
    top = log_probs.topk(min(top_k, log_probs.shape[-1]), dim=-1)
    k, n_pos = top.indices.shape[-1], len(positions)
    flat = token_strings(model, top.indices)
    top_strings = [
        [flat[(i * n_pos + p) * k : (i * n_pos + p + 1) * k] for p in range(n_pos)]
        for i in range(len(labels))
    ]
    meta = ResultMetadata.from_model(
        model,
        tokens=tokens[None].cpu(),
        options={"target": target, "top_k": top_k, "seq_len": seq_len},
        data_description="validation corpus window" if data is None else "given sequence",
    )
    return LogitLensResult(
        tokens=tokens.cpu(), token_strings=token_strings(model, tokens), positions=positions,
        targets=targets, target_strings=token_strings(model, targets), layer_labels=labels,
        target_rank=rank, target_prob=log_probs.gather(-1, index)[..., 0].exp(),
        top_tokens=top.indices, top_probs=top.values.exp(), top_strings=top_strings,
        metadata=meta,
    )  # fmt: skip


def report_section(report: Any, result: LogitLensResult) -> None:
    """Heading, prose, the figure and a per-layer table of the target's rank and probability."""
    report.add_markdown(
        "## Logit lens\n"
        "The residual stream before each layer, read through the final norm and the "
        f"unembedding ({result.metadata.data_description}, {len(result.tokens)} tokens). "
        "The last row is the model's own output."
    )
    report.add_result(result, caption="Probability of the next token per layer and position.")
    rows = [
        (label, float(result.target_prob[i].mean()), float(result.target_rank[i].float().median()))
        for i, label in enumerate(result.layer_labels)
    ]
    report.add_table(rows, header=["stream", "mean target probability", "median target rank"])


register_analysis("logit_lens", compute, report_section)
