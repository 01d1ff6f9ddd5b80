"""`Result` is pure data: declaration checks, CPU tensors, identity equality, JSON round trip."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import pytest
import torch
from torch import Tensor

from workbench import Model, ModelConfig
from workbench.analysis import Result, ResultMetadata, fingerprint_tokens, result_type

META = ResultMetadata(model_name="toy", config_hash="abc", options={"k": 3}, seed=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Span:
    start: int
    stop: int
    weights: Tensor


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class EveryDtype(Result):
    f32: Tensor
    f64: Tensor
    i64: Tensor
    flags: Tensor
    spans: list[Span]
    by_name: dict[str, Tensor]
    pair: tuple[int, float]
    score: float
    label: str
    empty: Tensor


def every_dtype() -> EveryDtype:
    special = [0.1, float("nan"), float("inf"), -float("inf"), -0.0, 1e-40]
    return EveryDtype(
        f32=torch.tensor([special, special[::-1]], dtype=torch.float32),
        f64=torch.tensor(special, dtype=torch.float64) / 3,
        i64=torch.tensor([[2**62, -5], [0, 7]], dtype=torch.int64),
        flags=torch.tensor([[True, False, True]]),
        spans=[Span(start=0, stop=2, weights=torch.tensor([0.5, float("nan")]))],
        by_name={"L0H1": torch.arange(6, dtype=torch.float64).reshape(2, 3)},
        pair=(3, float("-inf")),
        score=float("nan"),
        label="nan",  # a string that looks like the NaN encoding must stay a string
        empty=torch.zeros(0, 4),
        metadata=META,
    )


def assert_same_value(a, b, where="result"):
    """Field-by-field equality, NaN equal to NaN, dtype and shape included."""
    assert type(a) is type(b), where
    if isinstance(a, Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a.isnan(), b.isnan()), where
        assert torch.equal(torch.nan_to_num(a, nan=0.0), torch.nan_to_num(b, nan=0.0)), where
        if a.dtype.is_floating_point:  # -0.0 keeps its sign
            assert torch.equal(a.signbit(), b.signbit()), where
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same_value(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_value(a[key], b[key], f"{where}[{key}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def test_json_round_trip_keeps_every_dtype_nan_inf_and_nesting(tmp_path):
    result = every_dtype()
    path = result.to_json(tmp_path / "r.json")
    loaded = Result.from_json(path)
    assert type(loaded) is EveryDtype
    assert_same_value(result, loaded)


def test_json_is_strict_and_spells_out_non_finite_values(tmp_path):
    text = every_dtype().to_json(tmp_path / "r.json").read_text()
    for bare in ("NaN", "Infinity"):
        assert bare not in text  # json.dumps(allow_nan=False) would have raised anyway
    data = json.loads(text)
    f64 = data["fields"]["f64"]
    assert f64["dtype"] == "float64" and f64["shape"] == [6]
    assert f64["data"][1:4] == ["nan", "inf", "-inf"]
    assert data["fields"]["score"] == {"__wb__": "float", "value": "nan"}
    assert data["result_type"] == "EveryDtype"


def test_metadata_round_trips_exactly(tmp_path):
    loaded = Result.from_json(every_dtype().to_json(tmp_path / "r.json"))
    assert loaded.metadata == META  # metadata holds no tensors, so it compares by value


def test_equality_is_identity_and_never_raises():
    a, b = every_dtype(), every_dtype()
    assert a == a and a != b  # a generated __eq__ would compare tensors and raise
    assert len({a, b}) == 2  # hashable by identity


def test_tensors_off_the_cpu_are_refused_naming_the_field():
    on_meta = torch.empty(2, 2, device="meta")
    with pytest.raises(ValueError, match=r"EveryDtype\.by_name\['x'\] is on meta"):
        dataclasses.replace(every_dtype(), by_name={"x": on_meta})


def test_tensors_that_require_grad_are_refused():
    with pytest.raises(ValueError, match=r"EveryDtype\.f64 requires grad"):
        dataclasses.replace(every_dtype(), f64=torch.zeros(3, requires_grad=True))


def test_metadata_must_be_result_metadata():
    with pytest.raises(TypeError, match="metadata must be a ResultMetadata"):
        dataclasses.replace(every_dtype(), metadata={"model_name": "toy"})


def test_declaration_must_be_frozen_without_eq():
    @dataclasses.dataclass(frozen=True, kw_only=True)  # eq=True left on by mistake
    class WithEq(Result):
        values: Tensor

    with pytest.raises(TypeError, match=r"frozen=True, eq=False, kw_only=True"):
        WithEq(values=torch.zeros(1), metadata=META)


def test_result_types_are_registered_by_name():
    assert result_type("EveryDtype") is EveryDtype
    with pytest.raises(KeyError, match="Did you mean: EveryDtype"):
        result_type("EveryDtipe")


def test_a_second_class_with_a_taken_name_is_refused():
    with pytest.raises(TypeError, match="'EveryDtype' is taken"):

        @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
        class EveryDtype(Result):  # noqa: F811  (the point of the test)
            pass


def test_unsupported_field_types_raise_instead_of_writing_repr(tmp_path):
    @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
    class HoldsASet(Result):
        names: set

    result = HoldsASet(names={"a"}, metadata=META)
    with pytest.raises(TypeError, match=r"HoldsASet\.names: cannot write a set"):
        result.to_json(tmp_path / "bad.json")


def test_metadata_from_a_real_model_records_data_and_options():
    model = Model(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_vocab=16, n_ctx=8, name="m1"))
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    meta = ResultMetadata.from_model(
        model, tokens=tokens, attention_mask=mask, options={"layers": (0,)}, seed=1
    )
    assert meta.model_name == "m1" and meta.config_hash == model.cfg.config_hash()
    assert meta.n_tokens == 5 and meta.options == {"layers": [0]}
    assert meta.data_fingerprint == fingerprint_tokens(tokens, mask)
    assert meta.workbench_version


def test_options_must_be_json_values():
    with pytest.raises(TypeError, match=r"options\['t'\] is a Tensor"):
        ResultMetadata(model_name="m", config_hash="h", options={"t": torch.zeros(1)})
    with pytest.raises(ValueError, match="must be finite"):
        ResultMetadata(model_name="m", config_hash="h", options={"x": float("nan")})


def test_fingerprint_follows_the_documented_byte_layout():
    tokens = torch.tensor([[256, 104, 105]], dtype=torch.int32)
    expected = hashlib.sha256(
        b"(1, 3)"
        + (256).to_bytes(8, "little")
        + (104).to_bytes(8, "little")
        + (105).to_bytes(8, "little")
        + b"\x01\x01\x01"
    ).hexdigest()
    assert fingerprint_tokens(tokens) == f"sha256:{expected} shape=1x3"


def test_fingerprint_tells_data_apart():
    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])
    ones = torch.ones_like(tokens)
    assert fingerprint_tokens(tokens) == fingerprint_tokens(tokens, ones)  # same data
    prints = {
        fingerprint_tokens(tokens),
        fingerprint_tokens(tokens.flip(0)),
        fingerprint_tokens(tokens.reshape(3, 2)),
        fingerprint_tokens(tokens, torch.tensor([[1, 1, 0], [1, 1, 1]])),
    }
    assert len(prints) == 4


def test_a_file_with_other_fields_is_refused(tmp_path):
    path = every_dtype().to_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    del data["fields"]["label"]
    with pytest.raises(ValueError, match="has fields .* the class has .*'label'"):
        Result.from_dict(data)


def test_complex_tensors_are_refused_naming_the_field(tmp_path):
    result = dataclasses.replace(every_dtype(), by_name={"z": torch.ones(2, dtype=torch.cfloat)})
    with pytest.raises(TypeError, match=r"EveryDtype\.by_name\['z'\]: complex"):
        result.to_json(tmp_path / "r.json")
