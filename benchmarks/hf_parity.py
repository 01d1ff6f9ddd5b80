"""Parity of `workbench.load_hf` with Hugging Face, per family, as numbers for docs/models.md.

For each family a tiny random model is built by `transformers` itself (fp32, eager
attention, random norms and biases), saved as safetensors and loaded with `load_hf`; on
2 x 40 random tokens the script prints the largest absolute difference of the logits, of
the attention patterns (vs `output_attentions=True`) and of `run_with_stats` entropies (vs
entropies of Hugging Face's patterns in float64). The tests in tests/adapters/ assert the
same comparisons (atol 1e-4 on logits).

Usage: python benchmarks/hf_parity.py
"""

from __future__ import annotations

import tempfile

import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
)

import workbench

VOCAB = 96
SIZES = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
    max_position_embeddings=64, vocab_size=VOCAB, bos_token_id=0, eos_token_id=0,
)  # fmt: skip
GQA = {**SIZES, "num_key_value_heads": 2}
CASES = {
    "gpt2": GPT2Config(
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=64,
        vocab_size=VOCAB,
        bos_token_id=0,
        eos_token_id=0,
    ),  # fmt: skip
    "gpt_neox (parallel, rotary_pct 0.5)": GPTNeoXConfig(**SIZES, rotary_pct=0.5),
    "gpt_neox (sequential)": GPTNeoXConfig(**SIZES, use_parallel_residual=False),
    "llama (GQA)": LlamaConfig(**GQA),
    "llama (llama3 rope)": LlamaConfig(
        **GQA,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },  # fmt: skip
    ),
    "mistral": MistralConfig(**GQA, sliding_window=None),
    "qwen2 (q/k/v biases)": Qwen2Config(**GQA),
}


def entropy_f64(pattern: torch.Tensor) -> torch.Tensor:
    p = pattern.double()
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)


def differences(config) -> tuple[float, float, float]:
    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if param.dim() == 1:
                param.normal_(1.0 if "norm" in name or "ln" in name else 0.0, 0.1)
    tokens = torch.randint(1, VOCAB, (2, 40), generator=torch.Generator().manual_seed(3))
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder, safe_serialization=True)
        model = workbench.load_hf(folder)
    with torch.no_grad():
        out = hf(tokens, output_attentions=True)
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: "pattern" in n)
    stats = model.run_with_stats(tokens, ["attn.entropy"])
    patterns = max(
        (cache["pattern", i] - a).abs().max().item() for i, a in enumerate(out.attentions)
    )
    entropies = max(
        (stats["attn.entropy", i].double() - entropy_f64(a)).abs().max().item()
        for i, a in enumerate(out.attentions)
    )
    return (logits - out.logits).abs().max().item(), patterns, entropies


def main() -> None:
    torch.set_num_threads(1)
    print("| family | max abs logit diff | max abs pattern diff | max abs entropy diff |")
    print("|---|---|---|---|")
    for name, config in CASES.items():
        logit, pattern, entropy = differences(config)
        print(f"| {name} | {logit:.1e} | {pattern:.1e} | {entropy:.1e} |")


if __name__ == "__main__":
    main()
