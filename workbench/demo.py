"""`workbench demo`: a tour of the embedded default model (card, training, a sample,
attention patterns) followed by every registered analysis, as one self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from workbench.core.model import Model
from workbench.data import load_corpus
from workbench.export import Report, attention_figure, line_figure
from workbench.export.analysis_report import add_analysis_sections
from workbench.models import default_model_dir, load_default


def run_demo(out: str | Path = "out", max_tokens: int = 64) -> Path:
    """Write `out/report.html`; returns its path."""
    model, tokenizer = load_default()
    text = _sample_text(max_tokens)
    tokens = tokenizer.to_tokens(text)[:, :max_tokens]
    report = Report("workbench demo: the embedded default model")
    sections = (_model_card, _training, _generation, _attention)
    for section in tqdm(sections, desc="demo", unit="section"):
        section(report, model, tokenizer, tokens)
    add_analysis_sections(report, model, out)  # the registered analyses, as `workbench report`
    return report.save(Path(out) / "report.html")


def _sample_text(max_tokens: int) -> str:
    text = load_corpus("val", n_chars=4 * max_tokens)
    return text[: text.find(".", max_tokens // 2) + 1] or text[:max_tokens]


def _model_card(report: Report, model: Model, tokenizer, tokens) -> None:
    lines = (default_model_dir() / "MODEL_CARD.md").read_text().splitlines()
    prose = [line for line in lines if not line.startswith("|")]
    rows = [line.strip("|").split(" | ", 1) for line in lines[2:] if line.startswith("| ")]
    report.add_markdown("\n".join(prose))
    report.add_table([(key.strip(), value.strip()) for key, value in rows if value.strip()])


def _training(report: Report, model: Model, tokenizer, tokens) -> None:
    log = json.loads((default_model_dir() / "train_log.json").read_text())
    losses = torch.tensor(log["losses"])
    steps = torch.arange(1, len(losses) + 1)
    report.add_markdown("## Training")
    report.add_figure(
        line_figure(steps, {"train loss": losses}, y_label="nats per byte", title="Training loss"),
        caption="Per-step training loss of the default model on the grammar corpus.",
    )
    evals = log["eval_losses"]
    report.add_table([(step, loss) for step, loss in evals], header=["step", "validation loss"])


def _generation(report: Report, model: Model, tokenizer, tokens) -> None:
    prompt = "The old dog "
    sample = model.generate(prompt, max_new_tokens=80)
    report.add_markdown("## A greedy sample")
    report.add_table([(prompt, sample[len(prompt) :])], header=["prompt", "continuation"])


def _attention(report: Report, model: Model, tokenizer, tokens) -> None:
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    str_tokens = tokenizer.to_str_tokens(tokens[0])
    report.add_markdown("## Attention patterns\nHead 0 of each layer on a validation sentence.")
    for layer in range(model.cfg.n_layers):
        pattern = cache["pattern", layer][0, 0]
        report.add_figure(attention_figure(str_tokens, pattern, title=f"layer {layer}, head 0"))
