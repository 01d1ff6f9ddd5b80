"""Invariants of the attention statistics, fp32 robustness, and the chunked path's memory."""

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from workbench.kernels.attention import KINDS, ClippedKernel, attention_forward

SUPPORTED_STATS = {name: kind.statistics for name, kind in KINDS.items()}
STATS = ("lse", "entropy", "max_weight", "sink", "n_eff")


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def chunked(q, k, v, **kw):
    return attention_forward(q, k, v, backend="chunked", chunk=64, **kw)


def test_entropy_bounds_and_n_eff_range_causal() -> None:
    t = 300
    q, k, v = (randn(2, 3, t, 16, seed=s) * 2 for s in range(3))
    _, st = chunked(q, k, v, causal=True, stats=STATS)
    n = torch.arange(1, t + 1, dtype=torch.float32)
    assert torch.all(st["entropy"] >= -1e-6)
    assert torch.all(st["entropy"] <= torch.log(n) + 1e-5)
    assert torch.all(st["n_eff"] >= 1 - 1e-5) and torch.all(st["n_eff"] <= n + 1e-3)
    # max weight is 1/l with l = sum e^(s - max s): equivalently e^(max s - lse).
    s_max = (
        (torch.einsum("bhqd,bhkd->bhqk", q, k) / 4)
        .tril()
        .masked_fill(torch.ones(t, t).triu(1).bool(), float("-inf"))
        .amax(-1)
    )
    torch.testing.assert_close(st["max_weight"], torch.exp(s_max - st["lse"]))


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
def test_uniform_scores_give_log_n(causal) -> None:
    t = 130
    q = torch.zeros(1, 2, t, 16)
    k, v = randn(1, 2, t, 16, seed=1), randn(1, 2, t, 16, seed=2)
    _, st = chunked(q, k, v, causal=causal, stats=STATS)
    n = torch.arange(1, t + 1, dtype=torch.float32) if causal else torch.full((t,), float(t))
    torch.testing.assert_close(st["entropy"], torch.log(n).expand_as(st["entropy"]))
    torch.testing.assert_close(st["n_eff"], n.expand_as(st["n_eff"]))
    torch.testing.assert_close(st["max_weight"], (1 / n).expand_as(st["max_weight"]))


def test_one_hot_rows_have_zero_entropy() -> None:
    """Every query points at key 3 with a huge score: weights are exactly one-hot."""
    t, d = 40, 16
    q = torch.zeros(1, 1, t, d)
    q[..., 0] = 100.0
    k = torch.zeros(1, 1, t, d)
    k[:, :, 3, 0] = 100.0
    v = randn(1, 1, t, d)
    out, st = chunked(q, k, v, causal=False, stats=STATS)
    torch.testing.assert_close(st["entropy"], torch.zeros(1, 1, t), atol=1e-6, rtol=0)
    torch.testing.assert_close(st["max_weight"], torch.ones(1, 1, t))
    torch.testing.assert_close(st["n_eff"], torch.ones(1, 1, t))
    torch.testing.assert_close(out, v[:, :, 3:4].expand_as(out))


def with_offset(q, k, offset: float):
    """Append one dimension so that every score gains exactly `offset` (scale = 1)."""
    ones = torch.ones(*q.shape[:3], 1, dtype=q.dtype)
    return torch.cat([q, ones * offset], -1), torch.cat([k, torch.ones_like(k[..., :1])], -1)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
def test_large_logit_offset_keeps_fp32_entropy_accurate(causal) -> None:
    q, k, v = (randn(1, 2, 200, 16, seed=s, dtype=torch.float64) for s in range(3))
    q, k = with_offset(q * 0.5, k, 1000.0)
    kw = dict(causal=causal, scale=1.0, stats=("entropy", "lse"))
    _, ref = attention_forward(q, k, v, backend="reference", **kw)
    _, got = chunked(q.float(), k.float(), v.float(), **kw)
    assert float(ref["lse"].min()) > 990  # the offset really is there
    torch.testing.assert_close(got["entropy"].double(), ref["entropy"], atol=1e-4, rtol=0)


def test_sigmoid_entropy_survives_underflowing_weights() -> None:
    """Scores near -100: A ~ 1e-44 is subnormal in fp32; the log-domain entropy is exact."""
    q, k, v = (randn(1, 2, 100, 16, seed=s, dtype=torch.float64) for s in range(3))
    q, k = with_offset(q * 0.5, k, -100.0)
    kw = dict(kind="sigmoid", causal=True, scale=1.0, stats=("entropy",))
    _, ref = attention_forward(q, k, v, backend="reference", **kw)
    _, got = chunked(q.float(), k.float(), v.float(), **kw)
    assert torch.isfinite(ref["entropy"]).all()
    torch.testing.assert_close(got["entropy"].double(), ref["entropy"], atol=1e-4, rtol=0)


def test_sigmoid_and_clipped_invariants() -> None:
    t = 200
    q, k, v = (randn(1, 2, t, 16, seed=s) * 2 for s in range(3))
    _, sig = chunked(q, k, v, kind="sigmoid", stats=SUPPORTED_STATS["sigmoid"])
    n = torch.arange(1, t + 1, dtype=torch.float32)
    assert torch.all(sig["active_count"] <= n) and torch.all(sig["max_weight"] <= 1)
    assert torch.all(sig["row_mass"] >= sig["max_weight"])
    assert torch.all(sig["entropy"] <= torch.log(n) + 1e-5)
    clipping = ClippedKernel(gamma=-0.1)
    _, clip = chunked(q, k, v, kind=clipping, stats=SUPPORTED_STATS["clipped"])
    assert torch.all((clip["zero_frac"] >= 0) & (clip["zero_frac"] < 1))
    assert clip["zero_frac"][..., -1].min() > 0.5  # long rows: most weights clip to zero
    assert torch.all((clip["max_weight"] > 0) & (clip["max_weight"] <= 1))


class LargestAllocation(TorchDispatchMode):
    """Records the largest storage any aten op returns (the [T, T] pattern would show)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.untyped_storage().nbytes())
        return out


def largest_allocation(kind: str, backend: str, t: int) -> int:
    q, k, v = (randn(1, 1, t, 16, seed=s) for s in range(3))
    with LargestAllocation() as probe:
        attention_forward(q, k, v, kind=kind, backend=backend, chunk=512,
                          stats=SUPPORTED_STATS[kind])  # fmt: skip
    return probe.largest


@pytest.mark.parametrize("kind", list(SUPPORTED_STATS))
def test_chunked_never_allocates_the_pattern(kind) -> None:
    t = 4096
    limit = t * t * 4 // 8
    assert largest_allocation(kind, "chunked", t) < limit
    if kind == "softmax":  # the probe does see the pattern when it exists
        assert largest_allocation(kind, "reference", 1024) >= 1024 * 1024 * 4


def test_fp32_entropy_matches_closed_form_at_offset() -> None:
    """Uniform scores at +1000: entropy is exactly log n despite the offset."""
    q, k = with_offset(torch.zeros(1, 1, 64, 8), torch.zeros(1, 1, 64, 8), 1000.0)
    _, st = chunked(q, k, randn(1, 1, 64, 8), causal=False, scale=1.0, stats=("entropy",))
    torch.testing.assert_close(st["entropy"], torch.full((1, 1, 64), math.log(64)))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_chunked_half_inputs_accumulate_in_float32(dtype) -> None:
    """Half-precision inputs: statistics come back in float32, close to the float64 truth."""
    q, k, v = (randn(1, 2, 300, 32, seed=s).to(dtype) for s in range(3))
    _, ref = attention_forward(q.double(), k.double(), v.double(), stats=STATS, backend="reference")
    out, got = chunked(q, k, v, stats=STATS)
    assert out.dtype == dtype and all(x.dtype == torch.float32 for x in got.values())
    for name in STATS:
        torch.testing.assert_close(got[name].double(), ref[name], atol=2e-4, rtol=2e-4)


def test_empty_rows_give_defined_statistics() -> None:
    """A tile where a row sees no key (all -inf) leaves no NaN: the row is marked empty and
    its statistics are 0 (lse -inf)."""
    from workbench.kernels.attention._tiling import OnlineSoftmax

    state = OnlineSoftmax((1, 2), torch.float32, "cpu")
    s = torch.tensor([[[0.5, -1.0, 2.0], [float("-inf")] * 3]])
    state.update(s.clone(), want_entropy=True, want_s2=True)
    state.update(torch.full((1, 2, 3), float("-inf")), want_entropy=True, want_s2=True)
    assert state.empty.tolist() == [[False, True]]
    entropy, n_eff, lse = state.entropy(), state.n_eff(), state.lse()
    assert not any(bool(x.isnan().any()) for x in (entropy, n_eff, lse))
    p = s[0, 0].softmax(-1)
    torch.testing.assert_close(entropy[0, 0], -(p * p.log()).sum())
    torch.testing.assert_close(n_eff[0, 0], 1 / p.square().sum())
    assert entropy[0, 1] == 0 and n_eff[0, 1] == 0 and lse[0, 1] == float("-inf")


def test_shape_errors_state_the_layout_and_every_shape() -> None:
    """Run 8 (issue #20): each refusal of `check_shapes` names the expected layout or the
    rule broken, with all three shapes."""
    from workbench.kernels.attention.kind import check_shapes

    x4, x3 = torch.zeros(1, 2, 3, 4), torch.zeros(2, 3, 4)
    with pytest.raises(ValueError) as err:
        check_shapes(x3, x4, x4)
    assert str(err.value) == (
        "q, k, v must be [batch, head, pos, d_head]; got shapes [2, 3, 4], [1, 2, 3, 4], "
        "[1, 2, 3, 4]"
    )
    with pytest.raises(ValueError) as err:
        check_shapes(x4, x4, torch.zeros(1, 2, 5, 4))
    assert str(err.value) == (
        "Incompatible q [1, 2, 3, 4], k [1, 2, 3, 4], v [1, 2, 5, 4]: batch and head must "
        "agree, k and v must have the same positions, q and k the same d_head."
    )
    with pytest.raises(ValueError) as err:
        check_shapes(torch.zeros(1, 2, 5, 4), x4, x4)
    assert str(err.value) == "More queries (5) than keys (3)."
