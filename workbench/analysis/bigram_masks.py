"""Continuous sparsification of a frozen causal model toward a bigram target (Chang & Bergen
2025, "Bigram Subnetworks", arXiv 2504.15471).

Every element of the block weight matrices (attention W_Q/W_K/W_V/W_O, MLP W_in/W_out and a
GLU's W_gate; not embeddings, unembedding, norms or biases) gets a score `s` (0 at the start)
and a soft mask `sigmoid(beta * s)`; `beta` grows by `beta_growth` (1.001) per step. The loss
is the cross-entropy of the masked model's next-token distribution to the bigram row of the
current token, plus `(lam / |M|) * sum sigmoid(beta * s)`; AdamW updates the scores only.
Training stops when fewer than `undecided` (1%) of the kept masks (s > 0) are undecided
(soft mask in (0.1, 0.9)) or after `max_steps`; the final mask is `s > 0`.

The masked weights are handed to `torch.func.functional_call` for each forward: the model
itself is never modified and no masked copy of a weight is kept beyond the product autograd
needs for the backward pass.

Example:
    >>> trainer = MaskTrainer(model, table, tokens, MaskSettings(lam=10.0))
    >>> trainer.run()                          # progress bar; trainer.converged()
    >>> masks = trainer.binary_masks()         # {"blocks.0.mlp.W_in": bool tensor, ...}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from workbench.analysis.bigram_targets import BigramTable
from workbench.train.guards import defer_interrupt

MASKED_MATRICES = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_gate")
_MASKED = re.compile(r"^blocks\.(\d+)\.(?:attn|mlp)\.(?:.+\.)?(" + "|".join(MASKED_MATRICES) + ")$")
UNDECIDED_LOW, UNDECIDED_HIGH = 0.1, 0.9


@dataclasses.dataclass(frozen=True)
class MaskSettings:
    """Hyper-parameters; the paper's are lam 10, lr 5e-5, batch 32, up to 15k steps (GPU
    runs of 124M-1B models). Tiny CPU models need a larger lr to finish in minutes."""

    lam: float = 10.0
    lr: float = 5e-5
    batch_size: int = 32
    max_steps: int = 15_000
    beta_growth: float = 1.001
    beta_start: float = 1.0
    undecided: float = 0.01
    weight_decay: float = 0.0  # AdamW's decay would pull every score back to undecided 0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "lam": self.lam >= 0, "lr": self.lr > 0, "batch_size": self.batch_size >= 1,
            "max_steps": self.max_steps >= 1, "beta_growth": self.beta_growth >= 1,
            "beta_start": self.beta_start > 0, "undecided": 0 < self.undecided < 1,
            "weight_decay": self.weight_decay >= 0, "seed": self.seed >= 0,
        }  # fmt: skip
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"MaskSettings.{name} = {getattr(self, name)!r} is out of range")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_causal(model: Any) -> None:
    """Refuse encoders: a bigram target is a next-token distribution."""
    cfg = getattr(model, "cfg", None)
    causal = getattr(cfg, "causal", None)
    if causal is None and getattr(cfg, "attention_dir", None) is not None:  # TransformerLens
        causal = cfg.attention_dir == "causal"
    name = getattr(cfg, "name", None) or getattr(cfg, "model_name", type(model).__name__)
    if causal is not True:
        why = (
            "is bidirectional (an encoder such as BERT or MiniLM)"
            if causal is False
            else "does not say it is causal (no cfg.causal)"
        )
        raise ValueError(f"bigram subnetworks need a causal language model; {name!r} {why}")
    if getattr(model, "unembed", None) is None:
        raise ValueError(f"{name!r} has no unembedding: it predicts no next token")


def maskable_weights(model: nn.Module) -> dict[str, Tensor]:
    """The block weight matrices the method masks, by parameter name, detached."""
    found = {n: p.detach() for n, p in model.named_parameters() if _MASKED.match(n)}
    if not found:
        some = [n for n, _ in model.named_parameters()][:6]
        raise ValueError(
            f"no maskable block weights (blocks.<layer>.attn|mlp.{{{','.join(MASKED_MATRICES)}}}) "
            f"among the model's parameters (first: {some})"
        )
    return found


def layer_of(name: str) -> int:
    match = _MASKED.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a maskable block weight")
    return int(match.group(1))


def masked_forward(
    model: nn.Module, weights: dict[str, Tensor], masks: dict[str, Tensor], tokens: Tensor
) -> Tensor:
    """Logits of `model` with `weights[n] * masks[n]` in place of each masked weight."""
    params = {name: weights[name] * masks[name].to(weights[name].dtype) for name in masks}
    return functional_call(model, params, (tokens,))


class MaskTrainer:
    """Scores, AdamW and beta of one mask search; `state_files` / `load_state` checkpoint it.

    `run` flushes denormal floats to zero on the CPU while it trains: once beta * s is large
    and negative, sigmoid masks and their gradients fall below 1e-38 (float32 denormals),
    which made CPU steps 35x slower on the default model (0.57 s -> 19.5 s); values that
    small are zero for every purpose of the search."""

    def __init__(
        self,
        model: nn.Module,
        table: BigramTable,
        tokens: Int[Tensor, "n pos"],
        settings: MaskSettings | None = None,
    ) -> None:
        check_causal(model)
        self.settings = settings or MaskSettings()
        d_vocab = model.cfg.d_vocab
        if table.d_vocab != d_vocab:
            raise ValueError(f"the bigram table has d_vocab {table.d_vocab}, the model {d_vocab}")
        if tokens.dim() != 2 or tokens.shape[1] < 2:
            raise ValueError(f"tokens must be [n, pos >= 2], got shape {list(tokens.shape)}")
        self.model, self.table, self.tokens = model.eval(), table, tokens.cpu()
        self.weights = maskable_weights(model)
        self.scores = {
            n: torch.zeros(w.shape, device=w.device, requires_grad=True)
            for n, w in self.weights.items()
        }
        self.n_masks = sum(s.numel() for s in self.scores.values())
        self.optimizer = torch.optim.AdamW(
            list(self.scores.values()), lr=self.settings.lr,
            weight_decay=self.settings.weight_decay,
        )  # fmt: skip
        self.step, self.beta = 0, float(self.settings.beta_start)
        self.history: list[list[float]] = []  # [step, loss, bigram_ce, kept, undecided_kept]

    # -- one step ------------------------------------------------------------------------
    def soft_masks(self) -> dict[str, Tensor]:
        return {n: torch.sigmoid(self.beta * s) for n, s in self.scores.items()}

    def binary_masks(self) -> dict[str, Tensor]:
        return {n: (s.detach() > 0) for n, s in self.scores.items()}

    def batch(self, step: int) -> Tensor:
        """The step's rows, drawn from (seed, step) alone: a resumed run sees the same data."""
        generator = torch.Generator().manual_seed(self.settings.seed * 1_000_003 + step)
        rows = torch.randint(len(self.tokens), (self.settings.batch_size,), generator=generator)
        device = next(iter(self.weights.values())).device
        return self.tokens[rows].to(device)

    def loss(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(total loss, bigram cross-entropy) of the soft-masked model on `tokens`."""
        masks = self.soft_masks()
        logits = masked_forward(self.model, self.weights, masks, tokens)
        ce = self.table.cross_entropy(logits[:, :-1], tokens[:, :-1]).mean()
        density = sum(m.sum() for m in masks.values()) / self.n_masks
        return ce + self.settings.lam * density, ce

    def train_step(self) -> tuple[float, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, ce = self.loss(self.batch(self.step))
        loss.backward()
        self.optimizer.step()
        self.step += 1
        self.beta *= self.settings.beta_growth
        return float(loss.detach()), float(ce.detach())

    # -- progress ------------------------------------------------------------------------
    @torch.no_grad()
    def decided(self) -> tuple[float, float]:
        """(kept fraction, undecided fraction among the kept masks)."""
        kept = undecided = 0
        for s in self.scores.values():
            soft = torch.sigmoid(self.beta * s)
            keep = s > 0
            kept += int(keep.sum())
            undecided += int((keep & (soft > UNDECIDED_LOW) & (soft < UNDECIDED_HIGH)).sum())
        return kept / self.n_masks, undecided / max(kept, 1)

    def converged(self) -> bool:
        kept, undecided = self.decided()
        return self.step > 0 and kept > 0 and undecided < self.settings.undecided

    def run(
        self,
        until_step: int | None = None,
        progress: bool = True,
        every: int = 10,
        on_step: Callable[[MaskTrainer], None] | None = None,
    ) -> bool:
        """Train until converged, `max_steps` or `until_step`; True when converged.
        `on_step(trainer)` runs after every step (the CLI checkpoints from it)."""
        last = min(self.settings.max_steps, until_step or self.settings.max_steps)
        bar = tqdm(total=last, initial=self.step, desc="bigram masks", disable=not progress)
        try:
            torch.set_flush_denormal(True)  # see the class docstring
            while self.step < last and not (self.step % every == 0 and self.converged()):
                with defer_interrupt():  # Ctrl-C never leaves a half-applied step
                    loss, ce = self.train_step()
                if self.step % every == 0 or self.step == last:
                    kept, undecided = self.decided()
                    self.history.append([self.step, loss, ce, kept, undecided])
                    bar.set_postfix(
                        ce=f"{ce:.3f}", kept=f"{kept:.4f}", undecided=f"{undecided:.3f}"
                    )
                bar.update(1)
                if on_step is not None:
                    on_step(self)
        finally:
            torch.set_flush_denormal(False)  # PyTorch's default; it has no getter to restore
            bar.close()
        return self.converged()

    # -- checkpoints ---------------------------------------------------------------------
    def state_files(self) -> dict[str, Any]:
        """Files for `workbench.core.checkpoint.write_checkpoint` (safetensors + JSON)."""
        from workbench.train.state import flatten_optimizer

        opt_tensors, opt_rest = flatten_optimizer(self.optimizer.state_dict())
        return {
            "scores.safetensors": {n: s.detach() for n, s in self.scores.items()},
            "optimizer.safetensors": opt_tensors,
            "mask_state.json": {
                "step": self.step, "beta": self.beta, "settings": self.settings.to_dict(),
                "names": list(self.scores), "optimizer": opt_rest, "history": self.history,
            },
        }  # fmt: skip

    def load_state(self, files: dict[str, Any], source: str = "checkpoint") -> None:
        """Continue from `state_files()` output (read back); settings must be the same."""
        from workbench.train.state import unflatten_optimizer

        state = files["mask_state.json"]
        if state["settings"] != self.settings.to_dict():
            diff = {k: v for k, v in state["settings"].items() if self.settings.to_dict()[k] != v}
            raise ValueError(f"{source} was written with other settings {diff}; use a new folder")
        if state["names"] != list(self.scores):
            raise ValueError(f"{source} masks {state['names'][:3]}... are not this model's")
        with torch.no_grad():
            for name, saved in files["scores.safetensors"].items():
                if saved.shape != self.scores[name].shape:
                    raise ValueError(f"{source}: {name} has shape {list(saved.shape)}")
                self.scores[name].copy_(saved)
        opt = dict(files["optimizer.safetensors"])  # load_state_dict moves them to the scores
        self.optimizer.load_state_dict(unflatten_optimizer(opt, state["optimizer"]))
        self.step, self.beta, self.history = state["step"], state["beta"], state["history"]
