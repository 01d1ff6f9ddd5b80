"""Checkpoints: one folder format (safetensors + JSON + manifest), written as a unit, validated
completely before loading; exact round trips, tied weights, clear errors, nothing half-loaded."""

import hashlib
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from workbench import Model, ModelConfig
from workbench.core import checkpoint as checkpoint_module
from workbench.core.checkpoint import (
    CheckpointError,
    load_exact,
    load_model,
    read_state,
    save_model,
    write_manifest,
)
from workbench.train import load_weights

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_vocab=50, n_ctx=16, position="rotary")
TOKENS = torch.tensor([[1, 7, 3, 9, 2]])


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _unchanged(module, snapshot) -> bool:
    return all(torch.equal(v, snapshot[k]) for k, v in module.state_dict().items())


def test_round_trip_is_exact(tmp_path) -> None:
    model = Model(CFG.replace(seed=3))
    save_model(model, tmp_path / "ckpt")
    again = load_model(tmp_path / "ckpt")
    assert again.cfg == model.cfg
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    folder = tmp_path / "ckpt"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "manifest.json", "model.safetensors",
    ]  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    weights = (folder / "model.safetensors").read_bytes()
    assert manifest["files"]["model.safetensors"] == {
        "sha256": hashlib.sha256(weights).hexdigest(),
        "size": len(weights),
    }
    assert manifest["model_config"] == json.loads((folder / "config.json").read_text())["config"]
    assert manifest["tensors"]["model.safetensors"]["embed.W_E"] == {
        "shape": [50, 32], "dtype": "float32",
    }  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary folder left


def test_tied_embeddings_round_trip_and_stay_tied(tmp_path) -> None:
    model = Model(CFG.replace(tied_embeddings=True, seed=4)).eval()
    folder = save_model(model, tmp_path / "tied")
    shared = json.loads((folder / "manifest.json").read_text())["shared"]["model.safetensors"]
    assert shared == {"unembed.tied_to.W_E": "embed.W_E"}  # stored once
    loaded = load_model(folder)
    expected = model(TOKENS)
    assert torch.equal(loaded(TOKENS), expected)
    # token 5 is not in TOKENS, so W_E[5] reaches the logits only through the tied
    # unembedding: adding 1 to it adds sum(final residual) to logit 5 and nothing else
    _, cache = loaded.run_with_cache(TOKENS, names_filter=["ln_final.hook_normalized"])
    with torch.no_grad():
        loaded.embed.W_E[5] += 1.0
    delta = loaded(TOKENS) - expected
    expected_delta = cache["ln_final.hook_normalized"].double().sum(-1)
    torch.testing.assert_close(delta[..., 5].double(), expected_delta, atol=1e-5, rtol=1e-5)
    assert not delta[..., :5].any() and not delta[..., 6:].any()
    assert loaded.unembed.tied_to is loaded.embed
    assert torch.equal(loaded.state_dict()["unembed.tied_to.W_E"], loaded.embed.W_E)


def test_an_untied_model_refuses_tied_weights(tmp_path) -> None:
    folder = save_model(Model(CFG.replace(tied_embeddings=True)), tmp_path / "tied")
    target = Model(CFG)
    before = _snapshot(target)
    with pytest.raises(
        CheckpointError, match=r"missing: unembed\.W_U; unexpected: unembed\.tied_to\.W_E"
    ):
        load_weights(target, folder)
    assert _unchanged(target, before)


def _truncate(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])


def _flip_byte(folder):
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's values: still a valid safetensors file
    weights.write_bytes(bytes(data))


def _corrupt_config(folder):
    (folder / "config.json").write_text("{not json")


def _swap_config(folder):
    other = save_model(Model(CFG.replace(attention="clipped", mlp="gelu")), folder.parent / "b")
    (folder / "config.json").write_bytes((other / "config.json").read_bytes())


def _swap_config_and_manifest(folder):
    _swap_config(folder)
    other = folder.parent / "b" / "manifest.json"
    (folder / "manifest.json").write_bytes(other.read_bytes())


def _corrupt_manifest(folder):
    manifest = folder / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"size": ', '"size": 1', 1))


DAMAGE = {
    "truncated weights": (_truncate, r"model\.safetensors has \d+ bytes"),
    "flipped byte": (_flip_byte, r"model\.safetensors does not match its sha256"),
    "corrupt config": (_corrupt_config, r"config\.json has \d+ bytes"),
    "config of another": (_swap_config, r"config\.json (has|does not match)"),
    "config and manifest of another": (_swap_config_and_manifest, r"model\.safetensors"),
    "corrupt manifest": (_corrupt_manifest, r"has \d+ bytes, manifest\.json says 1"),
    "deleted weights": (lambda f: (f / "model.safetensors").unlink(), r"safetensors is missing"),
    "deleted config": (lambda f: (f / "config.json").unlink(), r"config\.json is missing"),
    "deleted manifest": (lambda f: (f / "manifest.json").unlink(), r"No manifest\.json in"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_checkpoint_is_refused_and_nothing_changes(tmp_path, damage) -> None:
    folder = save_model(Model(CFG.replace(seed=1)), tmp_path / "a")
    make_damage, message = DAMAGE[damage]
    make_damage(folder)
    target = Model(CFG.replace(seed=2))
    before = _snapshot(target)
    with pytest.raises(CheckpointError, match=message):
        load_weights(target, folder)
    assert _unchanged(target, before)
    with pytest.raises(CheckpointError, match=message):
        load_model(folder)


def test_mismatched_tensors_are_named_and_nothing_is_loaded(tmp_path) -> None:
    folder = save_model(Model(CFG), tmp_path / "small")
    target = Model(CFG.replace(d_mlp=256, seed=9))
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r"wrong shape: blocks\.0\.mlp\.W_in \(model \(32, 256\)"):
        load_weights(target, folder)
    assert _unchanged(target, before)
    doubled = Model(CFG).double()
    with pytest.raises(CheckpointError, match=r"wrong dtype: .*\(model float64, .* float32\)"):
        load_weights(doubled, folder)

    state = {k: v for k, v in Model(CFG).state_dict().items() if k != "embed.W_E"}
    state["surprise"] = torch.zeros(1)
    save_file(state, tmp_path / "partial.safetensors")
    with pytest.raises(ValueError, match=r"missing: embed\.W_E; unexpected: surprise"):
        load_exact(target, read_state(tmp_path / "partial.safetensors"))
    assert _unchanged(target, before)


def test_missing_folders_are_clear(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a workbench checkpoint"):
        load_model(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a workbench checkpoint"):
        load_model(tmp_path / "empty")
    # a save stopped between its two renames: the previous checkpoint is pointed out
    folder = save_model(Model(CFG), tmp_path / "ckpt")
    os.replace(folder, tmp_path / ".ckpt.old-1234abcd")
    with pytest.raises(FileNotFoundError, match=r"previous checkpoint at .*\.ckpt\.old-1234abcd"):
        load_model(folder)


def test_a_crash_mid_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch) -> None:
    old_model = Model(CFG.replace(seed=1)).eval()
    folder = save_model(old_model, tmp_path / "ckpt")
    (folder / "MODEL_CARD.md").write_text("card")
    real_write, written = checkpoint_module.write_file, []

    def crash_after_first_file(path, data):
        if written:
            raise OSError("simulated crash")
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, "write_file", crash_after_first_file)
    with pytest.raises(OSError, match="simulated crash"):
        save_model(Model(CFG.replace(seed=2)), folder)
    assert len(written) == 1
    assert torch.equal(load_model(folder)(TOKENS), old_model(TOKENS))
    assert (folder / "MODEL_CARD.md").read_text() == "card"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_failed_swap_moves_everything_back(tmp_path, monkeypatch) -> None:
    old_model = Model(CFG.replace(seed=1)).eval()
    folder = save_model(old_model, tmp_path / "ckpt")
    (folder / "MODEL_CARD.md").write_text("card")
    (folder / "checkpoints").mkdir()
    real_replace = os.replace

    def fail_the_new_folder_rename(src, dst):
        if ".ckpt.tmp-" in str(src) and str(dst) == str(folder):
            raise OSError("simulated failure of the rename into place")
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", fail_the_new_folder_rename)
    with pytest.raises(OSError, match="simulated failure"):
        save_model(Model(CFG.replace(seed=2)), folder)
    monkeypatch.undo()
    assert torch.equal(load_model(folder)(TOKENS), old_model(TOKENS))
    assert (folder / "MODEL_CARD.md").read_text() == "card" and (folder / "checkpoints").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_saving_over_a_checkpoint_keeps_files_it_does_not_own(tmp_path) -> None:
    folder = save_model(Model(CFG.replace(seed=1)), tmp_path / "ckpt")
    (folder / "MODEL_CARD.md").write_text("card")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "note.txt").write_text("resume state")
    new_model = Model(CFG.replace(seed=2)).eval()
    save_model(new_model, folder)
    assert torch.equal(load_model(folder)(TOKENS), new_model(TOKENS))
    assert (folder / "MODEL_CARD.md").read_text() == "card"
    assert (folder / "checkpoints" / "note.txt").read_text() == "resume state"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_an_old_folder_without_manifest_is_refused_until_one_is_written(tmp_path) -> None:
    model = Model(CFG.replace(seed=5)).eval()
    folder = tmp_path / "old"
    folder.mkdir()
    save_file(model.state_dict(), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({"config": CFG.replace(seed=5).to_dict()}))
    weights = (folder / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match=r"No manifest\.json .*write_manifest\.py"):
        load_model(folder)
    write_manifest(folder)
    assert (folder / "model.safetensors").read_bytes() == weights
    assert torch.equal(load_model(folder)(TOKENS), model(TOKENS))


def test_the_default_model_has_a_manifest_of_its_committed_files() -> None:
    from workbench.models import default_model_dir, load_default

    folder = default_model_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert set(manifest["files"]) == {"config.json", "model.safetensors", "train_log.json"}
    model, _ = load_default()
    assert model.cfg.name == "workbench-default"
