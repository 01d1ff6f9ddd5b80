"""Bad input gets a clear error; hooks never outlive their call."""

import pytest
import torch

from workbench import Model, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=50, n_ctx=16)


@pytest.fixture(scope="module")
def model() -> Model:
    return Model(CFG)


def test_unknown_hook_name_suggests_close_matches(model) -> None:
    with pytest.raises(KeyError, match=r"Did you mean: blocks\.0\.attn\.hook_pattern"):
        model.run_with_hooks(
            torch.zeros(1, 4, dtype=torch.long), fwd_hooks=[("blocks.0.attn.hook_patern", print)]
        )
    with pytest.raises(KeyError, match="hook_resid_post"):
        model.run_with_cache(
            torch.zeros(1, 4, dtype=torch.long), names_filter=["blocks.0.hook_resid_pots"]
        )


def test_token_id_out_of_vocab(model) -> None:
    tokens = torch.tensor([[1, 2, 50]])
    with pytest.raises(ValueError, match=r"token id 50 at \[batch 0, pos 2\].*d_vocab = 50"):
        model(tokens)
    with pytest.raises(ValueError, match="token id -1"):
        model(torch.tensor([[-1]]))


def test_sequence_longer_than_learned_positions(model) -> None:
    with pytest.raises(ValueError, match="exceeds n_ctx = 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_rotary_models_accept_longer_sequences() -> None:
    model = Model(CFG.replace(position="rotary"))
    assert model(torch.zeros(1, 40, dtype=torch.long)).shape == (1, 40, 50)


@pytest.mark.parametrize(
    "bad", [torch.zeros(1, 4), torch.zeros(1, 4, dtype=torch.bool)], ids=["float", "bool"]
)
def test_wrong_dtype(model, bad) -> None:
    with pytest.raises(TypeError, match="integer token ids"):
        model(bad)


def test_wrong_rank_and_type(model) -> None:
    with pytest.raises(ValueError, match=r"shape \[batch, pos\]"):
        model(torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(42)


def test_hooks_removed_after_exception_in_hook(model) -> None:
    def boom(x, hook):
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        model.run_with_hooks(
            torch.zeros(1, 4, dtype=torch.long), fwd_hooks=[("blocks.0.hook_resid_pre", boom)]
        )
    assert not any(h.has_hooks for h in model.hook_dict.values())
    with pytest.raises(RuntimeError), model.hooks(fwd_hooks=[("hook_embed", boom)]):
        model(torch.zeros(1, 4, dtype=torch.long))
    assert not any(h.has_hooks for h in model.hook_dict.values())


def test_unknown_variant_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="Did you mean: rmsnorm"):
        ModelConfig(norm="rmsnrm")
    with pytest.raises(ValueError, match=r"ModelConfig.n_laters .*Did you mean: n_layers"):
        ModelConfig.from_dict({"d_model": 8, "n_laters": 2})


def test_text_without_tokenizer_is_a_clear_error(model) -> None:
    with pytest.raises(ValueError, match="no tokenizer"):
        model("hello")


@pytest.mark.parametrize("bad", [-0.5, float("inf"), float("nan")])
def test_stats_request_checks_the_mlp_threshold_before_any_work(model, bad) -> None:
    """Run 8 (issue #20): the up-front check (what `collect_stats` relies on to fail before
    its first batch) must refuse a bad threshold for MLP statistics."""
    with pytest.raises(ValueError) as err:
        model.stats_request(["mlp.fire_count"], mlp_threshold=bad)
    assert str(err.value) == f"mlp_threshold must be a finite number >= 0, got {bad}"
    assert model.stats_request(["mlp.fire_count"], mlp_threshold=0.5)["mlp"] == ("fire_count",)
