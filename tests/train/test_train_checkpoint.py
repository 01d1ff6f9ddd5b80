"""save_weights / load_weights (a checkpoint folder of any module): round trip, all-or-nothing
loading, clear errors."""

import json

import pytest
import torch
from torch import nn

from workbench.train import load_weights, save_weights


def _mlp(d_in=4, d_hidden=8, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, 3))


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _unchanged(module, snapshot):
    return all(torch.equal(v, snapshot[k]) for k, v in module.state_dict().items())


def test_round_trip_with_metadata(tmp_path):
    source, target = _mlp(seed=0), _mlp(seed=1)
    path = save_weights(source, tmp_path / "w", {"step": 3, "note": "hi"})
    assert load_weights(target, path) == {"step": 3, "note": "hi"}
    assert all(
        torch.equal(a, b) for a, b in zip(source.parameters(), target.parameters(), strict=True)
    )
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["tensors"]["model.safetensors"]["0.weight"] == {
        "shape": [8, 4], "dtype": "float32",
    }  # fmt: skip
    assert manifest["model_config"] is None
    assert sorted(p.name for p in path.iterdir()) == [
        "manifest.json", "metadata.json", "model.safetensors",
    ]  # fmt: skip


def test_shape_mismatch_lists_tensors_and_loads_nothing(tmp_path):
    path = save_weights(_mlp(d_hidden=8), tmp_path / "w")
    target = _mlp(d_hidden=6, seed=2)
    before = _snapshot(target)
    with pytest.raises(ValueError) as err:
        load_weights(target, path)
    message = str(err.value)
    for expected in ("0.weight (model (6, 4)", "(8, 4)", "0.bias", "2.weight"):
        assert expected in message
    assert _unchanged(target, before)


def test_name_mismatch_lists_missing_and_unexpected(tmp_path):
    path = save_weights(_mlp(), tmp_path / "w")
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Linear(3, 3))
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r"missing: 3\.bias, 3\.weight"):
        load_weights(target, path)
    assert _unchanged(target, before)
    with pytest.raises(ValueError, match=r"unexpected: 2\.bias, 2\.weight"):
        load_weights(nn.Sequential(nn.Linear(4, 8)), path)


def test_truncated_file_is_a_clear_error_naming_it(tmp_path):
    path = save_weights(_mlp(), tmp_path / "w")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    target = _mlp(seed=3)
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r"w/model\.safetensors has 100 bytes"):
        load_weights(target, path)
    assert _unchanged(target, before)
    with pytest.raises(FileNotFoundError):
        load_weights(target, tmp_path / "nope")


def test_metadata_must_be_json_and_nothing_is_written_otherwise(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_weights(_mlp(), tmp_path / "w", {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_tied_weights_are_saved_and_restored(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.unembed = nn.Linear(4, 10, bias=False)
            self.unembed.weight = self.embed.weight

    source, target = Tied(), Tied()
    folder = save_weights(source, tmp_path / "t")
    load_weights(target, folder)
    assert torch.equal(target.embed.weight, source.embed.weight)
    assert target.unembed.weight is target.embed.weight
    untied = Tied()
    untied.unembed.weight = nn.Parameter(untied.embed.weight.detach().clone())
    before = _snapshot(untied)
    with pytest.raises(ValueError, match=r"tied differently: unembed\.weight = embed\.weight in"):
        load_weights(untied, folder)
    assert _unchanged(untied, before)


def test_workbench_model_round_trip(tmp_path):
    from workbench import Model, ModelConfig

    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, n_ctx=8)
    source, target = Model(cfg), Model(ModelConfig(**{**cfg.to_dict(), "seed": 1}))
    load_weights(target, save_weights(source, tmp_path / "m", {"cfg": cfg.to_dict()}))
    tokens = torch.tensor([[256, 1, 2, 3]])
    assert torch.equal(source(tokens), target(tokens))


def test_overlapping_views_are_stored_as_copies_and_load_back(tmp_path):
    class Views(nn.Module):
        def __init__(self, seed):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(seed)))
            self.register_buffer("rows", self.w.detach()[1:3])  # shares w's storage, offset 3

    source, target = Views(0), Views(1)
    folder = save_weights(source, tmp_path / "v")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["shared"]["model.safetensors"] == {}  # not the same view: a copy
    load_weights(target, folder)
    assert torch.equal(target.w, source.w)
    assert target.rows.untyped_storage().data_ptr() == target.w.untyped_storage().data_ptr()
    assert torch.equal(target.rows, source.w[1:3])
