"""Checkpoint details the mutation run on core/checkpoint.py found untested: nested folders,
the temporary file's place and clean-up, safetensors metadata, the tokenizer passed through,
and each part of the mismatch message on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from workbench import Model, ModelConfig
from workbench.core.checkpoint import (
    atomic_write,
    load_exact,
    load_model,
    read_state,
    save_model,
    save_state,
)

CFG = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=11, n_ctx=8)


def test_save_model_creates_nested_folders(tmp_path) -> None:
    folder = save_model(Model(CFG), tmp_path / "runs" / "a" / "step-10")
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()


def test_atomic_write_uses_a_hidden_temporary_file_beside_the_target(tmp_path) -> None:
    seen: list[Path] = []
    target = tmp_path / "out.bin"

    def write(tmp: str) -> None:
        seen.append(Path(tmp))
        Path(tmp).write_bytes(b"new")

    atomic_write(target, write)
    # the same folder, so the final rename is atomic (no copy across file systems)
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".out.bin.")
    assert target.read_bytes() == b"new" and not seen[0].exists()


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_save_state_keeps_metadata(tmp_path) -> None:
    save_state({"w": torch.ones(2)}, tmp_path / "s.safetensors", metadata={"step": "7"})
    with safe_open(tmp_path / "s.safetensors", framework="pt") as f:
        assert f.metadata() == {"step": "7"}


def test_read_state_names_the_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No weights file .*absent\.safetensors"):
        read_state(tmp_path / "absent.safetensors")


def test_load_model_passes_the_tokenizer_and_names_the_weights_file(tmp_path) -> None:
    folder = save_model(Model(CFG), tmp_path / "ckpt")
    tokenizer = object()
    assert load_model(folder, tokenizer=tokenizer).tokenizer is tokenizer
    state = read_state(folder / "model.safetensors")
    del state["embed.W_E"]
    from safetensors.torch import save_file

    save_file(state, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"ckpt/model\.safetensors"):  # the hash no longer fits
        load_model(folder)


@pytest.mark.parametrize("drop", [["embed.W_E"], ["embed.W_E", "unembed.b_U"]])
def test_only_missing_tensors_raise_with_a_listed_message(drop: list[str]) -> None:
    model = Model(CFG)
    state = {k: v for k, v in model.state_dict().items() if k not in drop}
    with pytest.raises(ValueError) as err:
        load_exact(model, state)
    assert str(err.value) == (
        f"The checkpoint does not match the model. missing: {', '.join(sorted(drop))}"
    )
