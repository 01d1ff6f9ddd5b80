"""Regenerate the numbers and figures of docs/tl_api.md (run from the repository root).

    python docs/tl_api/make_figures.py     # writes docs/tl_api/*.svg|png and numbers.json

Logit lens and direct logit attribution on the embedded default model, their compute times,
and the largest difference between our cache methods and TransformerLens's on one
`TransformerBridge.boot_native` model (LN, random norm gains and biases).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

import workbench
from workbench.analysis import logit_attribution, logit_lens

OUT = Path(__file__).resolve().parent
TEXT = "the old dog sat on the mat. the dog sat on the "


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def analyses(numbers: dict) -> None:
    model, _ = workbench.load_default()
    logit_lens.compute(model)  # warm-up: the first call pays for imports
    lens, seconds = timed(logit_lens.compute, model, TEXT)
    numbers["logit_lens"] = {
        "seconds": round(seconds, 3),
        "layers": lens.layer_labels,
        "mean_target_prob": [round(float(p.mean()), 4) for p in lens.target_prob],
        "median_target_rank": [float(r.float().median()) for r in lens.target_rank],
        "top1_accuracy": [round(float((r == 0).float().mean()), 4) for r in lens.target_rank],
    }
    dla, seconds = timed(logit_attribution.compute, model, TEXT)
    total = float(dla.component_attr.double().sum()) + dla.constant
    numbers["logit_attribution"] = {
        "seconds": round(seconds, 3),
        "answer": dla.answer_string,
        "wrong": dla.wrong_string,
        "components": dict(zip(dla.component_labels, map(float, dla.component_attr), strict=True)),
        "constant": dla.constant,
        "logit_diff": dla.logit_diff,
        "sum_error": abs(total - dla.logit_diff),
        "top_heads": _top_heads(dla.head_attr),
    }
    for name, result in (("logit_lens", lens), ("logit_attribution", dla)):
        for suffix in ("svg", "png"):
            result.export(OUT / f"{name}.{suffix}", width="double")


def _top_heads(head_attr: torch.Tensor, k: int = 3) -> dict[str, float]:
    flat = head_attr.flatten()
    order = flat.abs().argsort(descending=True)[:k]
    n_heads = head_attr.shape[1]
    return {f"L{int(i) // n_heads}H{int(i) % n_heads}": float(flat[i]) for i in order}


def parity(numbers: dict) -> None:
    """Max |ours - TransformerLens| over the cache methods, on one bridge (fp32)."""
    import transformer_lens.model_bridge.sources.native  # noqa: F401
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    cfg = TransformerBridgeConfig(d_model=64, n_layers=2, n_heads=4, d_head=16, d_mlp=256,
                                  d_vocab=100, n_ctx=32, act_fn="relu", normalization_type="LN",
                                  seed=0)  # fmt: skip
    tl = TransformerBridge.boot_native(cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in tl.original_model.named_parameters():
            if param.dim() == 1:
                gain = "ln" in name and name.endswith("weight")
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3 + (1 if gain else 0))
    model = workbench.from_transformer_lens(tl)
    tokens = torch.randint(0, 100, (4, 24), generator=gen)
    calls = {
        "accumulated_resid(apply_ln=True)": lambda c: c.accumulated_resid(apply_ln=True),
        "decompose_resid(apply_ln=True)": lambda c: c.decompose_resid(apply_ln=True),
        "stack_head_results(incl_remainder=True)": lambda c: c.stack_head_results(
            incl_remainder=True
        ),
        "stack_neuron_results(2, apply_ln=True)": lambda c: c.stack_neuron_results(
            2, apply_ln=True
        ),
        "get_full_resid_decomposition(apply_ln=True)": lambda c: c.get_full_resid_decomposition(
            apply_ln=True
        ),
    }
    with torch.no_grad():
        _, theirs = tl.run_with_cache(tokens)
        _, ours = model.run_with_cache(tokens)
        numbers["parity_max_abs_diff"] = {
            name: float((call(ours) - call(theirs)).abs().max()) for name, call in calls.items()
        }
        views = ("W_Q", "W_O", "W_in", "W_U", "W_pos")
        numbers["parity_max_abs_diff"]["weight views " + "/".join(views)] = max(
            float((getattr(model, v) - getattr(tl, v)).abs().max()) for v in views
        )


def main() -> None:
    torch.set_num_threads(1)
    numbers: dict = {}
    analyses(numbers)
    parity(numbers)
    (OUT / "numbers.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
