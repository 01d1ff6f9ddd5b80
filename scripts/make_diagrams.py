"""Write the circuit diagrams shown in README.md and docs/diagrams.md (docs/diagrams/*.svg).

Each is generated from a model built here (random weights: only shapes matter), traced at
128 tokens. Run from the repository root: `python scripts/make_diagrams.py`.
"""

from __future__ import annotations

from pathlib import Path

from workbench import Model, ModelConfig
from workbench.analysis.diagrams import compute

OUT = Path(__file__).resolve().parents[1] / "docs" / "diagrams"
# GPT-2 small's block (pre-LN, softmax, GELU) and a Llama-style block (RMSNorm, RoPE, SwiGLU)
GPT2 = dict(d_model=768, n_heads=12, n_layers=1, d_vocab=1000, n_ctx=128, mlp="gelu",
            name="gpt2-small-block")  # fmt: skip
LLAMA = dict(d_model=768, n_heads=12, n_layers=1, d_vocab=1000, n_ctx=128, mlp="swiglu",
             d_mlp=2048, norm="rmsnorm", position="rotary", attn_bias=False, mlp_bias=False,
             name="llama-style-block")  # fmt: skip
FIGURES = {
    "standard_block.svg": (GPT2, "blocks.0"),
    "multi_head_attention.svg": (GPT2, "blocks.0.attn"),
    "glu_mlp.svg": (LLAMA, "blocks.0.mlp"),
    "llama_block.svg": (LLAMA, "blocks.0"),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    for file, (config, root) in FIGURES.items():
        key = config["name"]
        if key not in results:
            results[key] = compute(Model(ModelConfig(**config)).eval(), seq_len=128)
        path = OUT / file
        path.write_text(results[key].to_svg(root=root))
        print(f"wrote {path.relative_to(OUT.parents[1])}")


if __name__ == "__main__":
    main()
