"""`FactoredMatrix` against dense float64 linear algebra; token helpers against the tokenizer."""

import pytest
import torch

from workbench.core.config import ModelConfig
from workbench.core.factored import FactoredMatrix
from workbench.core.model import Model
from workbench.data.tokenizer import ByteTokenizer


def factors(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 12, 4, generator=gen), torch.randn(2, 3, 4, 12, generator=gen)


def test_svd_and_eigenvalues_match_the_dense_matrix() -> None:
    a, b = factors()
    fm = FactoredMatrix(a, b)
    dense = a.double() @ b.double()
    u, s, v = fm.svd()
    assert u.shape == (2, 3, 12, 4) and s.shape == (2, 3, 4) and v.shape == (2, 3, 12, 4)
    torch.testing.assert_close(s.double(), torch.linalg.svdvals(dense)[..., :4], atol=1e-4, rtol=0)
    rebuilt = u @ torch.diag_embed(s) @ v.mT
    torch.testing.assert_close(rebuilt.double(), dense, atol=1e-4, rtol=0)
    dense_eig = torch.linalg.eigvals(dense).abs().sort(-1, descending=True).values[..., :4]
    ours = fm.eigenvalues.abs().sort(-1, descending=True).values
    torch.testing.assert_close(ours.double(), dense_eig, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fm.norm().double(), dense.norm(dim=(-2, -1)), atol=1e-4, rtol=0)
    torch.testing.assert_close(fm.make_even().AB, fm.AB, atol=1e-4, rtol=0)


def test_products_stay_factored_and_correct() -> None:
    a, b = factors()
    fm = FactoredMatrix(a, b)
    m = torch.randn(12, 5)
    torch.testing.assert_close((fm @ m).AB, fm.AB @ m, atol=1e-4, rtol=0)
    torch.testing.assert_close((m.T @ fm).AB, m.T @ fm.AB, atol=1e-4, rtol=0)
    torch.testing.assert_close((fm @ fm).AB, fm.AB @ fm.AB, atol=1e-3, rtol=1e-5)
    assert (fm @ m).mdim == 4 and (m.T @ fm).mdim == 4  # through the narrow middle
    torch.testing.assert_close(fm[1, 2].AB, fm.AB[1, 2])
    torch.testing.assert_close(fm.T.AB, fm.AB.mT)
    with pytest.raises(IndexError, match="leading dimensions"):
        fm[0, 0, 0]
    with pytest.raises(ValueError, match="inner dimensions"):
        FactoredMatrix(a, a)


def test_products_through_a_wide_middle_are_exact() -> None:
    """Run 8 (issue #20): a middle wider than the outer side (mdim 8 > 5, 3) takes the
    branch that multiplies out A @ B first; float64 against the dense product."""
    gen = torch.Generator().manual_seed(1)
    a, b = (torch.randn(*s, generator=gen, dtype=torch.float64) for s in ((5, 8), (8, 3)))
    right = torch.randn(3, 4, dtype=torch.float64, generator=gen)
    left = torch.randn(4, 5, dtype=torch.float64, generator=gen)
    fm = FactoredMatrix(a, b)
    product, rproduct = fm @ right, left @ fm
    torch.testing.assert_close(product.AB, a @ b @ right)
    torch.testing.assert_close(rproduct.AB, left @ a @ b)
    assert (product.mdim, rproduct.mdim) == (3, 5)  # the narrower side becomes the middle


def test_token_helpers() -> None:
    tok = ByteTokenizer()
    model = Model(ModelConfig(d_model=32, n_layers=1, n_heads=2, d_vocab=tok.vocab_size), tok)
    a = model.to_single_token("a")
    assert a == tok.encode("a", add_bos=False)[0]
    with pytest.raises(ValueError, match="not one"):
        model.to_single_token("ab")
    tokens = model.to_tokens("banana")
    assert model.to_string(tokens[0, 1:]) == "banana"
    assert model.to_string(tokens[:, 1:]) == ["banana"]
    assert model.get_token_position("a", "banana") == 2  # BOS at 0
    assert model.get_token_position("a", tokens, mode="last") == 6
    with pytest.raises(ValueError, match="not in the input"):
        model.get_token_position("z", "banana")
    torch.testing.assert_close(model.tokens_to_residual_directions("a"), model.W_U[:, a])
    with pytest.raises(ValueError, match="token ids must be in"):
        model.tokens_to_residual_directions(10_000)
