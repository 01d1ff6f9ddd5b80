"""`load_hf` as a whole: what it refuses, `.bin` weights, and `workbench info --model`."""

import json

import pytest
import torch
from hf_tiny import VOCAB, check_parity, save_tiny, save_tokenizer
from safetensors.torch import load_file, save_file
from transformers import GPT2Config

from workbench import load_hf
from workbench.cli import main

CONFIG = dict(n_embd=32, n_layer=2, n_head=4, n_positions=32, vocab_size=VOCAB)


def test_unknown_model_type_lists_the_families(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "falcon"}))
    with pytest.raises(NotImplementedError, match="'falcon'.*bert, gpt2, gpt_neox, llama"):
        load_hf(tmp_path)


def test_unknown_and_missing_tensors_are_named(tmp_path) -> None:
    save_tiny(GPT2Config(**CONFIG), tmp_path)
    file = tmp_path / "model.safetensors"
    weights = load_file(file)
    save_file({**weights, "transformer.h.0.attn.rotary.weight": torch.ones(2)}, file)
    with pytest.raises(ValueError, match="transformer.h.0.attn.rotary.weight"):
        load_hf(tmp_path)
    del weights["transformer.h.1.mlp.c_fc.bias"]
    save_file(weights, file)
    with pytest.raises(ValueError, match=r"missing: blocks\.1\.mlp\.b_in"):
        load_hf(tmp_path)


def test_bin_weights_load_without_unpickling(tmp_path) -> None:
    hf = save_tiny(GPT2Config(**CONFIG), tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").unlink()
    torch.save(weights, tmp_path / "pytorch_model.bin")
    check_parity(load_hf(tmp_path), hf)


def test_info_accepts_a_hugging_face_folder(tmp_path, capsys) -> None:
    save_tiny(GPT2Config(**CONFIG), tmp_path)
    save_tokenizer(tmp_path, "gpt2")
    assert main(["info", "--model", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 layers, d_model 32, 4 heads" in out and "blocks.0.attn.hook_pattern" in out
    assert "block:" in out and "parallel" in out
