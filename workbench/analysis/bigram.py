"""Bigram subnetworks (Chang & Bergen 2025, "Bigram Subnetworks: Mapping to Next Tokens in
Transformer Language Models", arXiv 2504.15471): the smallest set of block weights of a
frozen causal model that still maps the current token to its bigram next-token distribution.

`compute` counts a bigram table on training windows, searches the masks
(`bigram_masks.MaskTrainer`: continuous sparsification) and measures the binary subnetwork
on held-out windows (`bigram_metrics`): kept fractions, Pearson r of per-token surprisals
with the bigram model's, bigram cross-entropy, the paper's ablation table and the alignment
of the residual stream with the current vs the next token across layers.

Example:
    >>> result = compute(model, settings=MaskSettings(lam=1.0, lr=0.05, max_steps=500))
    >>> result.kept_total, result.pearson_r, result.ablation["subnetwork"]
    >>> result.to_json("bigram.json"); result.widget()
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from workbench.analysis.bigram_masks import MaskSettings, MaskTrainer, check_causal
from workbench.analysis.bigram_metrics import (
    ablation_losses,
    bigram_cross_entropy,
    kept_fractions,
    next_token_surprisal,
    residual_alignment,
    surprisal_correlation,
)
from workbench.analysis.bigram_targets import BigramTable
from workbench.analysis.metadata import ResultMetadata
from workbench.analysis.registry import register_analysis
from workbench.analysis.result import Result

DENSITY_MAX = 64  # density heatmaps are averaged down to at most 64 x 64 cells


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class BigramResult(Result):
    """A found subnetwork and its measurements (surprisals in bits, losses in nats)."""

    matrix_names: list[str]
    matrix_sizes: Int[Tensor, " matrix"]
    kept_per_matrix: Float[Tensor, " matrix"]
    kept_per_layer: Float[Tensor, " layer"]
    kept_total: float  # of the masked block weights
    kept_of_all_parameters: float  # kept block weights / every parameter of the model
    density_maps: list[Tensor]  # per matrix, [rows, cols] kept fraction, <= 64 x 64
    pearson_r: float
    n_correlated: int  # held-out tokens in r (bigram probability > 0)
    bigram_ce: dict[str, float]  # "subnetwork", "full", "floor" (entropy of the targets)
    ablation: dict[str, float]  # held-out next-token loss per condition
    alignment: Float[Tensor, "model target depth"]  # model: full, subnetwork; target: cur, next
    str_tokens: list[str] | None
    strip_subnetwork: Float[Tensor, " pos"]  # surprisal per token of one held-out window
    strip_bigram: Float[Tensor, " pos"]
    history: Float[Tensor, "record 5"]  # step, loss, bigram CE, kept, undecided among kept
    steps: int
    converged: bool


def matrix_2d(name: str, tensor: Tensor) -> Tensor:
    """A weight as rows x columns: per-head Q/K/V `[head, d_model, d_head]` -> `[d_model,
    head * d_head]`; W_O `[head, d_head, d_model]` -> `[head * d_head, d_model]`."""
    if tensor.dim() == 3 and name.rsplit(".", 1)[-1] in ("W_Q", "W_K", "W_V"):
        return tensor.permute(1, 0, 2).flatten(1)
    return tensor.flatten(0, -2) if tensor.dim() > 2 else tensor


def density_map(name: str, mask: Tensor) -> Tensor:
    grid = matrix_2d(name, mask.float().cpu())
    size = (min(DENSITY_MAX, grid.shape[0]), min(DENSITY_MAX, grid.shape[1]))
    return F.adaptive_avg_pool2d(grid[None, None], size)[0, 0]


def default_windows(model: Any, split: str, n_sequences: int, seq_len: int) -> Tensor:
    from workbench.analysis.runner import corpus_tokens

    n_ctx = model.pos_embed.max_len or seq_len
    return corpus_tokens(model, n_sequences=n_sequences, seq_len=min(seq_len, n_ctx), split=split)


def find_subnetwork(
    model: Any,
    tokens: Int[Tensor, "n pos"],
    table: BigramTable | None = None,
    settings: MaskSettings | None = None,
    progress: bool = True,
) -> MaskTrainer:
    """Run the mask search on `tokens` (the bigram table is counted on them unless given)."""
    check_causal(model)
    table = table or BigramTable.from_tokens(tokens, model.cfg.d_vocab)
    trainer = MaskTrainer(model, table, tokens, settings)
    trainer.run(progress=progress)
    return trainer


def measure(
    trainer: MaskTrainer, held_out: Int[Tensor, "n pos"], data_description: str = ""
) -> BigramResult:
    """The `BigramResult` of the trainer's current binary masks on `held_out` windows."""
    model, weights, table = trainer.model, trainer.weights, trainer.table
    masks = trainer.binary_masks()
    kept = kept_fractions(masks)
    surprisal = next_token_surprisal(model, weights, masks, held_out)
    r, n_used, bigram = surprisal_correlation(surprisal, held_out, table)
    n_params = sum(p.numel() for p in model.parameters())
    n_kept = sum(int(m.sum()) for m in masks.values())
    contexts = held_out[:, :-1].reshape(-1)
    tokenizer = getattr(model, "tokenizer", None)
    seed = trainer.settings.seed
    return BigramResult(
        matrix_names=list(masks),
        matrix_sizes=torch.tensor([m.numel() for m in masks.values()]),
        kept_per_matrix=torch.tensor(list(kept["per_matrix"].values())),
        kept_per_layer=torch.tensor(kept["per_layer"]),
        kept_total=kept["total"],
        kept_of_all_parameters=n_kept / n_params,
        density_maps=[density_map(n, m) for n, m in masks.items()],
        pearson_r=r,
        n_correlated=n_used,
        bigram_ce={
            "subnetwork": bigram_cross_entropy(model, weights, masks, held_out, table),
            "full": bigram_cross_entropy(model, weights, None, held_out, table),
            "floor": float(table.row_entropy(contexts).mean()),
        },
        ablation=ablation_losses(model, weights, masks, held_out, seed=seed),
        alignment=torch.stack(
            [
                residual_alignment(model, weights, None, held_out),
                residual_alignment(model, weights, masks, held_out),
            ]
        ),  # fmt: skip
        str_tokens=model.to_str_tokens(held_out[0]) if tokenizer is not None else None,
        strip_subnetwork=surprisal[0].float(),
        strip_bigram=bigram[0].float(),
        history=torch.tensor(trainer.history or [[0.0] * 5], dtype=torch.float64),
        steps=trainer.step,
        converged=trainer.converged(),
        metadata=ResultMetadata.from_model(
            model,
            tokens=held_out,
            options={**trainer.settings.to_dict(), "beta": trainer.beta},
            data_description=data_description,
        ),  # fmt: skip
    )


def compute(
    model: Any,
    data: Int[Tensor, "n pos"] | None = None,
    held_out: Int[Tensor, "n pos"] | None = None,
    *,
    table: BigramTable | None = None,
    settings: MaskSettings | None = None,
    progress: bool = True,
) -> BigramResult:
    """Find and measure the bigram subnetwork of a causal `model`. Default data: 256 x 64
    training-corpus windows for the table and the search, 32 x 64 validation windows."""
    check_causal(model)  # refuse before tokenizing anything
    description = "given token windows"
    if data is None:
        data = default_windows(model, "train", 256, 64)
        description = "embedded corpus (train: table + search)"
    if held_out is None:
        held_out = default_windows(model, "val", 32, 64)
        description += "; held out: embedded validation corpus"
    trainer = find_subnetwork(model, data, table, settings, progress)
    return measure(trainer, held_out, data_description=description)


# -- the report -----------------------------------------------------------------------------
STORED_DEFAULT = "bigram/default_result.json"  # under assets/: a real run, see docs/bigram.md
REPORT_SETTINGS = MaskSettings(lam=1.0, lr=0.05, batch_size=8, max_steps=60, beta_growth=1.05)


def stored_default_result(model: Any) -> BigramResult | None:
    """The committed result of a full run on the embedded default model, when `model` is
    that model (same config hash and name); None otherwise."""
    from workbench.models import default_model_dir

    path = default_model_dir().parent / STORED_DEFAULT
    if not path.is_file():
        return None
    stored = BigramResult.from_json(path)
    meta = stored.metadata
    cfg = getattr(model, "cfg", None)
    same = cfg is not None and hasattr(cfg, "config_hash") and meta.config_hash == cfg.config_hash()
    return stored if same and meta.model_name == getattr(cfg, "name", None) else None


def report_compute(model: Any) -> BigramResult:
    """For `workbench report`: the stored full run on the default model, else a short run
    (60 steps, 8 x 64 tokens per step: not converged, marked as such in the report)."""
    check_causal(model)
    stored = stored_default_result(model)
    if stored is not None:
        return stored
    data = default_windows(model, "train", 64, 64)
    held_out = default_windows(model, "val", 8, 64)
    return compute(model, data, held_out, settings=REPORT_SETTINGS, progress=False)


def report_section(report: Any, result: BigramResult) -> None:
    """Heading, provenance, the figure and the ablation table."""
    stored = result.metadata.options.get("stored_run")
    provenance = (
        f"**Stored result** of a full run committed under `assets/{STORED_DEFAULT}` ({stored})."
        if stored
        else f"A {'converged' if result.converged else 'short, NOT converged'} run of "
        f"{result.steps} mask-training steps made for this report."
    )
    report.add_markdown(
        "## Bigram subnetwork (Chang & Bergen 2025)\n"
        f"{provenance} The subnetwork keeps {100 * result.kept_total:.3f}% of the block weight "
        f"matrices ({100 * result.kept_of_all_parameters:.3f}% of all parameters). Pearson r of "
        f"its per-token surprisal with the bigram model's: {result.pearson_r:.3f} over "
        f"{result.n_correlated} held-out tokens. Bigram cross-entropy (nats): subnetwork "
        f"{result.bigram_ce['subnetwork']:.3f}, full model {result.bigram_ce['full']:.3f}, "
        f"floor {result.bigram_ce['floor']:.3f}."
    )
    report.add_result(result, caption="Kept fraction per matrix and residual alignment.")
    rows = [(name, f"{loss:.4f}") for name, loss in result.ablation.items()]
    report.add_table(rows, header=["condition", "held-out loss (nats)"])


register_analysis("bigram_subnetwork", report_compute, report_section)
