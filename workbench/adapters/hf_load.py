"""`load_hf`: a local Hugging Face checkpoint (or an in-memory `transformers` model) as a
workbench `Model`, with TransformerLens hook names and the folder's tokenizer.

Tensors stream from the safetensors shards one at a time into a model built on the `meta`
device (no random weights are ever allocated), each converted by its family's table and
cast to the requested dtype, so the peak memory stays near one copy of the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

# Importing the family files registers their tables.
from workbench.adapters import hf_gpt2, hf_gpt_neox, hf_llama  # noqa: F401
from workbench.adapters.hf_family import FAMILIES, Family, supported_model_types
from workbench.core.config import ModelConfig
from workbench.core.model import Model

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}  # fmt: skip


def is_hf_folder(path: str | Path) -> bool:
    """True for a folder whose `config.json` is a Hugging Face one (`model_type` or
    `architectures`), not a workbench checkpoint."""
    file = Path(path) / "config.json"
    if not file.is_file():
        return False
    try:
        raw = json.loads(file.read_text())
    except json.JSONDecodeError:
        return False
    return isinstance(raw, dict) and ("model_type" in raw or "architectures" in raw)


def load_hf(
    path_or_model: str | Path | nn.Module,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
) -> Model:
    """Convert a Hugging Face causal LM (GPT-2, GPT-NeoX/Pythia, Llama, Mistral, Qwen2) or a
    BERT folder into a `Model`; `dtype` float32 (default), bfloat16 or float16.

    Example:
        >>> model = workbench.load_hf("checkpoints/pythia-70m")
        >>> logits, cache = model.run_with_cache("The cat sat on the mat.")
    """
    dtype = _dtype(dtype)
    device = torch.device(device or "cpu")
    if isinstance(path_or_model, str | Path):
        folder = Path(path_or_model)
        model_type = _model_type(folder)
        if model_type == "bert":
            from workbench.adapters.hf_bert import load_hf_bert

            return load_hf_bert(folder).to(device=device, dtype=dtype)
        hf, tensors = _folder_config(folder), FolderWeights(folder)
        tokenizer, name = folder_tokenizer(folder), folder.name
    elif hasattr(path_or_model, "config") and hasattr(path_or_model, "state_dict"):
        hf, tensors = path_or_model.config, _memory_weights(path_or_model)
        tokenizer, name = origin(hf)
    else:
        raise TypeError(
            f"load_hf takes a checkpoint folder or a transformers model, got {path_or_model!r}"
        )
    return from_hf_tensors(hf, tensors, name, tokenizer, dtype, device)


def from_hf_tensors(
    hf: Any,
    tensors: Iterable[tuple[str, Tensor]],
    name: str,
    tokenizer: Any = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Model:
    """The `Model` for a Hugging Face config object and its (name, tensor) pairs, in the
    names `transformers` saves them under. The model never shares memory with them."""
    device = torch.device(device)
    if hf.model_type == "bert":
        raise NotImplementedError("BERT converts from its folder: load_hf(path) (load_hf_bert)")
    family = _family(hf.model_type)
    cfg, absent = family.config(hf)
    cfg = cfg.replace(name=name)
    model = _empty_model(cfg, tokenizer, device)
    state = _convert(family, tensors, cfg, dtype, device)
    _assign(model, state, absent, dtype, device)
    return model.eval()


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype {dtype!r} is not supported: float32, bfloat16 or float16")


def _model_type(folder: Path) -> str:
    file = folder / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"No config.json in {folder}: is this a Hugging Face checkpoint?")
    raw = json.loads(file.read_text())
    model_type = raw.get("model_type")
    if model_type not in (*FAMILIES, "bert"):
        raise NotImplementedError(
            f"{file}: model_type {model_type!r} is not supported. "
            f"Supported families: {', '.join(supported_model_types())}."
        )
    return model_type


def _family(model_type: str) -> Family:
    if model_type not in FAMILIES:
        raise NotImplementedError(
            f"model_type {model_type!r} is not supported. "
            f"Supported families: {', '.join(supported_model_types())}."
        )
    return FAMILIES[model_type]


def _folder_config(folder: Path) -> Any:
    """The config through `transformers`, which folds older field names (`rope_theta`,
    `rope_scaling`, `rotary_pct`) into today's `rope_parameters`."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder, local_files_only=True)


def origin(hf: Any) -> tuple[Any, str]:
    """Tokenizer and name of the folder an in-memory model was loaded from, if it was."""
    source = str(getattr(hf, "_name_or_path", "") or "")
    if not source:
        return None, hf.model_type
    folder = Path(source)
    return (folder_tokenizer(folder) if folder.is_dir() else None), folder.name


def folder_tokenizer(folder: Path) -> Any:
    if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.txt")):
        return None
    from workbench.data.tokenizer import HFTokenizer

    return HFTokenizer(folder)


class FolderWeights:
    """The checkpoint tensors of a folder, read one at a time: safetensors (one file or
    shards listed in `model.safetensors.index.json`), else `.bin` files through
    `torch.load(weights_only=True)` (never a full unpickle)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = self._files()

    def _files(self) -> list[Path]:
        for single, index in (
            ("model.safetensors", "model.safetensors.index.json"),
            ("pytorch_model.bin", "pytorch_model.bin.index.json"),
        ):
            if (self.folder / index).is_file():
                weight_map = json.loads((self.folder / index).read_text())["weight_map"]
                return [self.folder / f for f in sorted(set(weight_map.values()))]
            if (self.folder / single).is_file():
                return [self.folder / single]
        raise FileNotFoundError(
            f"No weights in {self.folder}: expected model.safetensors (or its index), "
            "or pytorch_model.bin"
        )

    def __iter__(self) -> Iterator[tuple[str, Tensor]]:
        for file in tqdm(self.files, desc="loading shards", disable=len(self.files) < 2):
            if file.suffix == ".safetensors":
                yield from _safetensors_items(file)
            else:
                state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
                while state:
                    yield state.popitem()


def _safetensors_items(file: Path) -> Iterator[tuple[str, Tensor]]:
    """Each tensor read through its own short-lived handle: a handle maps the whole file,
    and the pages it has read stay in this process's memory until it closes."""
    from safetensors import safe_open

    with safe_open(str(file), framework="pt", device="cpu") as handle:
        keys = list(handle.keys())
    for key in keys:
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            tensor = handle.get_tensor(key)
        yield key, tensor


def _memory_weights(model: nn.Module) -> Iterator[tuple[str, Tensor]]:
    for name, tensor in model.state_dict().items():
        yield name, tensor.detach()


def _empty_model(cfg: ModelConfig, tokenizer: Any, device: torch.device) -> Model:
    """A `Model` whose weights are placeholders on `meta`; positions are built for real,
    since their frequency tables are computed buffers, not checkpoint weights."""
    with torch.device("meta"):
        model = Model(cfg, tokenizer=tokenizer, init=False)
    model.pos_embed = cfg.position.build(cfg).to(device)
    return model


def _convert(
    family: Family, tensors, cfg: ModelConfig, dtype: torch.dtype, device: torch.device
) -> dict[str, Tensor]:
    state: dict[str, Tensor] = {}
    for name, tensor in tensors:
        for target, value in family.convert(name, tensor, cfg).items():
            if target in state:
                raise ValueError(f"Checkpoint tensor {name!r} gives {target!r} a second time")
            state[target] = _own_tensor(value, dtype, device)
    return state


def _own_tensor(value: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Contiguous, in `dtype` on `device`, in memory of its own: never a view of the source
    (a safetensors tensor is a private mapping of the file, which rewriting the file would
    change under the model; an in-memory source belongs to someone else) nor a slice of a
    fused tensor (qkv), which would keep the whole of it alive."""
    out = value.to(device=device, dtype=dtype, memory_format=torch.contiguous_format)
    return out.clone() if out.data_ptr() == value.data_ptr() else out


def _assign(
    model: Model,
    state: dict[str, Tensor],
    absent: tuple[str, ...],
    dtype: torch.dtype,
    device: torch.device,
) -> None:
    """Check names and shapes, fill the tensors the original lacks with zeros, then make
    the converted tensors the model's parameters (no copy)."""
    own = model.state_dict(keep_vars=True)
    canonical: dict[int, str] = {}
    for name, tensor in own.items():  # tied weights appear under two names
        canonical.setdefault(id(tensor), name)
    zeros = {a.format(i=i) for a in absent for i in range(model.cfg.n_layers)}
    for name, tensor in own.items():
        first = canonical[id(tensor)]
        if first != name and first in state:
            state[name] = state[first]
        elif name not in state and name in zeros:
            state[name] = torch.zeros(tensor.shape, dtype=dtype, device=device)
    _check_names(own, state)
    model.load_state_dict(state, strict=True, assign=True)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"Tensors left unloaded after conversion: {left[:10]}")


def _check_names(own: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> None:
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    wrong = [
        f"{k} (model {tuple(own[k].shape)}, checkpoint {tuple(state[k].shape)})"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or extra or wrong:
        parts = [
            f"{label}: {', '.join(items[:12])}"
            for label, items in (
                ("missing", missing),
                ("unexpected", extra),
                ("wrong shape", wrong),
            )
            if items
        ]
        raise ValueError("The checkpoint does not match the converted model. " + "; ".join(parts))
