"""Checkpoint reading details the seeded mutation sample (issue #20, run 6) found untested:
the model config a read hands back, `Checkpoint.check_weights` (tied tensors included), the
folder scan of `write_manifest` ignoring other files, the shortened tensor-mismatch list, and
the message of `save_state` refusing tensors that share memory."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import Model, ModelConfig
from workbench.core.checkpoint import read_checkpoint, save_model, save_state, write_manifest
from workbench.core.tensor_state import CheckpointError

CFG = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=11, n_ctx=8)
TIED = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=11, n_ctx=8, tied_embeddings=True)


def test_read_checkpoint_returns_the_saved_model_config(tmp_path) -> None:
    checkpoint = read_checkpoint(save_model(Model(CFG), tmp_path / "c"))
    config = checkpoint.model_config
    assert (config["d_model"], config["n_layers"], config["d_vocab"]) == (16, 1, 11)


def test_check_weights_accepts_its_model_with_tied_tensors_and_names_the_file(tmp_path) -> None:
    checkpoint = read_checkpoint(save_model(Model(TIED), tmp_path / "c"))
    assert checkpoint.shared["model.safetensors"]  # the unembedding is stored once, as a tie
    checkpoint.check_weights(Model(TIED))  # default file name; ties resolved
    other = Model(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_vocab=11, n_ctx=8))
    with pytest.raises(CheckpointError, match=r"c/model\.safetensors does not match the model"):
        checkpoint.check_weights(other)


def test_write_manifest_ignores_other_files_and_folders(tmp_path) -> None:
    folder = save_model(Model(CFG), tmp_path / "c")
    (folder / "manifest.json").unlink()
    (folder / "notes.txt").write_text("not part of the checkpoint")
    (folder / "plots").mkdir()
    manifest = json.loads(write_manifest(folder).read_text())
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors"]
    assert read_checkpoint(folder).model_config["d_model"] == 16


@pytest.mark.parametrize("renamed, shown", [(2, 4), (3, 5)])
def test_a_tensor_list_mismatch_names_at_most_five_then_dots(tmp_path, renamed, shown) -> None:
    folder = save_model(Model(CFG), tmp_path / "c")
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = manifest["tensors"]["model.safetensors"]
    for name in sorted(listed)[:renamed]:  # each rename differs at two names
        listed[f"{name}.renamed"] = listed.pop(name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(folder)
    message = str(err.value)
    names = message.split("(differs at: ")[1].rstrip(")").removesuffix(" ...").split(", ")
    assert len(names) == shown
    assert message.endswith(" ...)") == (2 * renamed > 5)


def test_save_state_refuses_shared_tensors_naming_file_and_tensors(tmp_path) -> None:
    weight = torch.ones(3)
    path = tmp_path / "s.safetensors"
    with pytest.raises(ValueError) as err:
        save_state({"a": weight, "b": weight}, path)
    assert str(err.value) == f"Cannot write {path}: tensors ['b'] share memory"


def test_split_shared_copies_only_a_tensor_overlapping_an_earlier_one() -> None:
    """Run 8 (issue #20): of two different views into one storage, the first is written as
    it is (no copy) and the second copied, since safetensors cannot hold overlapping
    tensors."""
    from workbench.core.tensor_state import split_shared

    base = torch.arange(6.0)
    tensors, aliases = split_shared({"a": base, "b": base[2:], "c": torch.ones(2)})
    assert aliases == {}
    storage = {name: t.untyped_storage().data_ptr() for name, t in tensors.items()}
    assert storage["a"] == base.untyped_storage().data_ptr()  # not copied
    assert storage["b"] != storage["a"]
    assert torch.equal(tensors["b"], base[2:]) and torch.equal(tensors["a"], base)


def test_split_shared_copies_a_one_element_view_too_and_writes_it(tmp_path) -> None:
    """Run 10: a one-element view into an earlier tensor's storage overlaps it as much as a
    longer one; left uncopied, safetensors would refuse the file."""
    from workbench.core.checkpoint import write_checkpoint
    from workbench.core.tensor_state import split_shared

    base = torch.arange(4.0)
    state = {"a": base[:2], "b": base[3:]}
    tensors, _ = split_shared(state)
    assert tensors["b"].untyped_storage().data_ptr() != base.untyped_storage().data_ptr()
    read = read_checkpoint(write_checkpoint(tmp_path / "c", {"w.safetensors": state}))
    assert torch.equal(read.files["w.safetensors"]["b"], torch.tensor([3.0]))


def test_a_checkpoint_without_config_json_reads(tmp_path) -> None:
    """Run 10: config.json is optional (e.g. a bare tensor checkpoint); only a config.json
    that disagrees with the manifest is refused."""
    from workbench.core.checkpoint import write_checkpoint

    folder = write_checkpoint(tmp_path / "c", {"w.safetensors": {"x": torch.ones(2)}})
    read = read_checkpoint(folder)
    assert read.model_config is None and sorted(read.files) == ["w.safetensors"]
