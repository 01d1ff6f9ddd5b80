"""Tiny random Hugging Face causal LMs saved to folders, and the parity checks every family
test runs against them (Hugging Face eager attention in float32 is the reference)."""

from __future__ import annotations

from pathlib import Path

import torch

from workbench import Model, load_hf

VOCAB = 96
TOKENS = torch.randint(1, VOCAB, (2, 11), generator=torch.Generator().manual_seed(0))


def save_tiny(config, folder: Path, max_shard_size: str | None = None):
    """`AutoModelForCausalLM.from_config(config)` (eager attention, seed 0), saved as
    safetensors in `folder` (in shards when `max_shard_size` is given)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    with torch.no_grad():  # random norms and biases, so a dropped or swapped one shows
        for name, param in hf.named_parameters():
            if param.dim() == 1:
                param.normal_(1.0 if "norm" in name or "ln" in name else 0.0, 0.1)
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    hf.save_pretrained(folder, safe_serialization=True, **kwargs)
    return hf


def hf_reference(hf, tokens: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    with torch.no_grad():
        out = hf(tokens, output_attentions=True)
    return out.logits, out.attentions


def entropy_f64(pattern: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each attention row, 0 log 0 = 0, in float64."""
    p = pattern.double()
    return -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)


def check_parity(model: Model, hf, tokens: torch.Tensor = TOKENS) -> float:
    """Logits, attention patterns and `attn.entropy` statistics equal Hugging Face's;
    returns the largest absolute logit difference."""
    logits, attentions = hf_reference(hf, tokens)
    ours, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    torch.testing.assert_close(ours, logits, atol=1e-4, rtol=0)
    stats = model.run_with_stats(tokens, ["attn.entropy"])
    for layer, pattern in enumerate(attentions):
        torch.testing.assert_close(cache["pattern", layer], pattern, atol=1e-5, rtol=0)
        expected = entropy_f64(pattern)
        torch.testing.assert_close(
            stats["attn.entropy", layer].double(), expected, atol=1e-4, rtol=0
        )
    return (ours - logits).abs().max().item()


def load_both(config, folder: Path, **save_kwargs) -> tuple[Model, object]:
    hf = save_tiny(config, folder, **save_kwargs)
    return load_hf(folder), hf


WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "from", "home"]
SPECIALS = ["<|endoftext|>", "<s>", "</s>", "[UNK]"]


def save_tokenizer(folder: Path, style: str):
    """A word-level tokenizer in the layout of one family, saved through `transformers`:
    "gpt2" (adds nothing; BOS = EOS = <|endoftext|>), "llama" (adds <s> itself),
    "qwen2" (no BOS token). Returns the `transformers` tokenizer, the reference."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    names = {"eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"}
    if style == "llama":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
        )
        names = {"bos_token": "<s>", "eos_token": "</s>"}
    elif style == "qwen2":
        names = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    reference = PreTrainedTokenizerFast(tokenizer_object=tok, **names)
    reference.save_pretrained(folder)
    return reference
