"""Adapters from real models to workbench `Model`s (parity-tested against the originals)."""

from workbench.adapters.hf_bert import load_hf_bert, load_minilm, minilm_path
from workbench.adapters.hf_load import is_hf_folder, load_hf
from workbench.adapters.transformer_lens import from_transformer_lens

__all__ = [
    "from_transformer_lens",
    "is_hf_folder",
    "load_hf",
    "load_hf_bert",
    "load_minilm",
    "minilm_path",
]
