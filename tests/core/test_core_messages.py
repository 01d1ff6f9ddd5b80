"""Errors name what is wrong, in full (issue #20: mutants that dropped the field path from a
config error, or changed a message, survived because tests matched a fragment). Each test
checks the whole promised text: the config field's path, the variant family, the hook, the
type of a bad value; and the registry's suggestion list at its 20-name limit."""

import json
import re
from pathlib import Path
from typing import Literal

import pytest
import torch

import workbench.variants  # noqa: F401  (registers every variant)
from workbench import Model, ModelConfig
from workbench.core.checkpoint import read_checkpoint, save_model
from workbench.core.checkpoint_read import VERSION as CHECKPOINT_VERSION
from workbench.core.registry import ATTENTION, MLP, POSITION, Registry, suggest
from workbench.core.tensor_state import CheckpointError
from workbench.core.validate import Bound, ConfigError, check_value

CFG = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=50, n_ctx=16)


def full(text: str) -> str:
    return f"^{re.escape(text)}$"


def test_suggest_lists_up_to_twenty_names_then_counts_the_rest() -> None:
    twenty = [f"n{i:02d}" for i in range(20)]
    assert suggest("zzz", twenty) == f"Valid names: {', '.join(twenty)}."
    assert suggest("zzz", [*twenty, "n20"]) == f"Valid names: {', '.join(twenty)} (and 1 more)."
    assert suggest("n1", ["n1x", "qqq"]) == "Did you mean: n1x?"


def test_registry_membership_and_the_base_spec_build() -> None:
    assert "softmax" in ATTENTION and "sofmax" not in ATTENTION
    spec = POSITION.resolve("learned")
    with pytest.raises(
        NotImplementedError, match=full(f"{type(spec).__name__} does not build a module")
    ):
        super(type(spec), spec).build(CFG)


def test_unknown_field_of_a_variant_dict_names_its_config_path() -> None:
    with pytest.raises(ConfigError, match=r"^Unknown field ModelConfig\.attention\.gama "):
        ModelConfig(d_model=32, n_heads=4, attention={"name": "clipped", "gama": 0.1})
    with pytest.raises(ConfigError, match=r"^Unknown field mlp variant\.orderr "):
        MLP.resolve({"name": "polyrelu", "orderr": 2})


def test_a_spec_object_with_a_bad_field_is_refused_under_the_given_path() -> None:
    spec = ATTENTION.resolve({"name": "clipped", "gamma": -0.1})
    object.__setattr__(spec, "zeta", "wide")  # past __post_init__, as a subclass might
    with pytest.raises(ConfigError, match=r"^ModelConfig\.attention\.zeta must be a float"):
        ATTENTION.resolve(spec, "ModelConfig.attention")


def test_a_value_of_the_wrong_class_names_the_path_and_the_value() -> None:
    with pytest.raises(ConfigError, match=full("Run.folder must be a Path, got 'out' (str)")):
        check_value("out", Path, "Run.folder")
    assert check_value(Path("out"), Path, "Run.folder") == Path("out")


@pytest.mark.parametrize("length, dots", [(58, ""), (59, "...")])
def test_a_hook_returning_a_non_tensor_is_shown_cut_at_60_characters(length, dots) -> None:
    value = "x" * length  # repr adds two quotes: 60 or 61 characters
    model = Model(CFG)
    with pytest.raises(TypeError) as err:
        model.run_with_hooks(
            torch.zeros(1, 4, dtype=torch.long), fwd_hooks=[("hook_embed", lambda x, hook: value)]
        )
    shown = repr(value)[:60]
    assert f"'hook_embed' returned {shown}{dots} (str); return a Tensor" in str(err.value)


def test_texts_with_a_mask_are_refused_in_full() -> None:
    with pytest.raises(ValueError) as err:
        Model(CFG)(["a text"], attention_mask=torch.ones(1, 3))
    assert str(err.value) == "attention_mask is built from the texts; pass token ids with it"


def test_learned_positions_reach_their_hook_once_per_row() -> None:
    model = Model(CFG)
    _, cache = model.run_with_cache(torch.zeros(3, 5, dtype=torch.long))
    pos = cache["hook_pos_embed"]
    assert pos.shape == (3, 5, 32)
    for row in pos:
        assert torch.equal(row, model.pos_embed.W_pos[:5].detach())


def test_a_registry_of_its_own_reports_in_its_family() -> None:
    registry = Registry("widget")
    with pytest.raises(ConfigError, match=r"^widget variant: unknown widget variant 'x'"):
        registry.resolve("x")


# Run 8 (issue #20): five more errors whose text no test pinned. The class: every refusal of
# a config value or a checkpoint states the field (or file), what was expected and what came.


def test_a_spec_of_another_family_is_refused_naming_both_families() -> None:
    spec = MLP.resolve("relu")
    with pytest.raises(ConfigError) as err:
        ATTENTION.resolve(spec, "ModelConfig.attention")
    name = type(spec).__name__
    assert str(err.value) == f"ModelConfig.attention: {name} is a mlp spec, not attention"


def test_a_non_string_for_a_string_field_says_a_string_was_expected() -> None:
    with pytest.raises(ConfigError, match=full("Run.name must be a string, got 3 (int)")):
        check_value(3, str, "Run.name")
    assert check_value(Path("out"), str, "Run.name") == "out"  # a path reads as its string


def test_a_literal_mismatch_lists_the_choices_and_suggests_the_closest() -> None:
    choice = Literal["gelu", "tanh"]
    with pytest.raises(ConfigError) as err:
        check_value("gelo", choice, "Cfg.act")
    assert (
        str(err.value) == "Cfg.act must be one of ['gelu', 'tanh'], got 'gelo'. Did you mean: gelu?"
    )
    with pytest.raises(ConfigError) as err:  # no suggestion for a value that is no name
        check_value(3, choice, "Cfg.act")
    assert str(err.value) == "Cfg.act must be one of ['gelu', 'tanh'], got 3."


@pytest.mark.parametrize("closed", [True, False])
def test_a_bound_admits_its_upper_end_exactly_when_closed(closed) -> None:
    bound = Bound(lo=0.0, hi=1.0, hi_closed=closed)
    bound.check(0.5, "Cfg.p")
    if closed:
        bound.check(1.0, "Cfg.p")
        return
    with pytest.raises(ConfigError, match=full("Cfg.p must be in (0, 1), got 1.0")):
        bound.check(1.0, "Cfg.p")


def test_a_checkpoint_of_another_format_version_names_the_version_it_has(tmp_path) -> None:
    folder = save_model(Model(CFG), tmp_path / "c")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(folder)
    path = folder / "manifest.json"
    assert str(err.value) == (
        f"{path} has format version 99; this workbench reads version {CHECKPOINT_VERSION}"
    )


def test_run9_messages_in_full(tmp_path) -> None:
    """Mutation run 9: the registry's own lookup suggests by name, a bad mask names its
    rule, a union's message lists None, and a folder of JSON alone is an old checkpoint."""
    from workbench.core.padding import check_attention_mask

    with pytest.raises(ValueError, match=full(
        "Unknown attention variant 'sofmax'. Did you mean: softmax, topk_softmax, power_softmax?"
    )):  # fmt: skip
        ATTENTION["sofmax"]
    tokens = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=full(
        "attention_mask must hold 0/1 (or True/False) per token"
    )):  # fmt: skip
        check_attention_mask(torch.tensor([[1, 2, 1]]), tokens)
    with pytest.raises(ConfigError, match=full(
        "ModelConfig.d_mlp must be an int or None, got 'x' (str)"
    )):  # fmt: skip
        check_value("x", int | None, "ModelConfig.d_mlp")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="^No manifest.json in "):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "bound, shown",
    [
        (Bound(lo=0.0, lo_closed=True), ">= 0"),
        (Bound(lo=0.0), "> 0"),
        (Bound(hi=1.0, hi_closed=True), "<= 1"),
        (Bound(hi=1.0), "< 1"),
    ],
)
def test_a_one_sided_bound_names_its_side_in_the_refusal(bound, shown) -> None:
    value = -1.0 if bound.lo is not None else 2.0
    with pytest.raises(ConfigError) as err:
        bound.check(value, "Cfg.p")
    assert str(err.value) == f"Cfg.p must be {shown}, got {value!r}"
