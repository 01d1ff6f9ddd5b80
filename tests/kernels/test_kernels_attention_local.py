"""Local masks in the attention kernels: the chunked path equals the float64 reference
(outputs and every statistic, with padding and tiles smaller than the window), and visits
only the key tiles a window can reach."""

import dataclasses
from typing import ClassVar

import pytest
import torch
from workbench.kernels.attention import ClippedKernel, SigmoidKernel, SoftmaxKernel
from workbench.kernels.attention._tiling import key_chunks
from workbench.kernels.attention.kind import AttentionCall
from workbench.kernels.attention.local import LocalMask

MASKS = {
    "window": LocalMask(window=5),
    "dilated-global": LocalMask(window=4, dilation=3, global_tokens=2),
    "shifted": LocalMask(window=8, shift=3),
    "blocked-global": LocalMask(window=6, shift=0, global_tokens=1),
    "dilation-only": LocalMask(dilation=2),
}
KINDS = {"softmax": SoftmaxKernel(), "sigmoid": SigmoidKernel(), "clipped": ClippedKernel()}


def qkv(n: int = 37, dtype=torch.float64):
    g = torch.Generator().manual_seed(n)
    return [torch.randn(2, 3, n, 8, generator=g, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", MASKS)
def test_chunked_equals_reference_with_local_masks(mask, kind, causal) -> None:
    kernel = KINDS[kind]
    q, k, v = qkv()
    call = AttentionCall(causal, None, None, torch.tensor([37, 20]), kernel.statistics,
                         MASKS[mask])  # fmt: skip
    ref_out, ref = kernel.forward(q, k, v, call, backend="reference")
    out, got = kernel.forward(q, k, v, call, backend="chunked", chunk=8)
    torch.testing.assert_close(out, ref_out)
    for name in kernel.statistics:
        torch.testing.assert_close(got[name], ref[name], equal_nan=True, msg=name)


def test_window_equal_to_the_sequence_is_full_attention() -> None:
    q, k, v = qkv()
    full = SoftmaxKernel().forward(q, k, v, AttentionCall(stats=("entropy",)), "chunked", 8)
    call = AttentionCall(stats=("entropy",), local=LocalMask(window=37))
    local = SoftmaxKernel().forward(q, k, v, call, "chunked", 8)
    torch.testing.assert_close(local[0], full[0])
    torch.testing.assert_close(local[1]["entropy"], full[1]["entropy"])


def test_key_tiles_grow_with_the_window_not_the_sequence() -> None:
    """Causal window 64, tiles of 64: a query block reaches at most 2 key tiles at any T."""
    for n in (256, 2048):
        q, k, _ = qkv(n, torch.float32)
        q_pos = torch.arange(n - 64, n)
        tiles = list(key_chunks(q[:, :, -64:], q_pos, k, causal=True, slopes=None, chunk=64,
                                local=LocalMask(window=64)))  # fmt: skip
        assert [t[0].start for t in tiles] == [n - 127, n - 63]  # keys n-127 .. n-1
        with_global = key_chunks(q[:, :, -64:], q_pos, k, causal=True, slopes=None, chunk=64,
                                 local=LocalMask(window=64, global_tokens=4))  # fmt: skip
        assert [t[0] for t in with_global][0] == slice(0, 4)


TRITON_CASES = [
    ("window-padded", True, MASKS["window"], torch.tensor([30])),
    ("dilated-global-bidirectional", False, MASKS["dilated-global"], None),
    ("shifted", True, MASKS["shifted"], None),
]


@pytest.mark.parametrize("case", TRITON_CASES, ids=[c[0] for c in TRITON_CASES])
@pytest.mark.parametrize("kind", KINDS)
def test_triton_equals_reference_with_local_masks(kind, case) -> None:
    """Interpreter on CPU (TRITON_INTERPRET=1, conftest), CUDA when present; 45 keys cross
    several 32-key tiles, so skipped and partly masked tiles both occur."""
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    _, causal, local, lengths = case
    kernel = KINDS[kind]
    q, k, v = (t[:1, :2] for t in qkv(45, torch.float32))
    call = AttentionCall(causal, None, None, lengths, kernel.statistics, local)
    ref_out, ref = kernel.forward(q.double(), k.double(), v.double(), call, "reference")
    on_device = AttentionCall(causal, None, None, None if lengths is None else lengths.to(device),
                              kernel.statistics, local)  # fmt: skip
    out, got = kernel.forward(q.to(device), k.to(device), v.to(device), on_device, "triton")
    torch.testing.assert_close(out.double().cpu(), ref_out, atol=2e-5, rtol=2e-5)
    for name in kernel.statistics:
        torch.testing.assert_close(got[name].double().cpu(), ref[name], atol=2e-5, rtol=2e-5,
                                   equal_nan=True, msg=name)  # fmt: skip


def test_triton_refuses_a_local_mask_it_does_not_honour() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoLocalSoftmax(SoftmaxKernel):
        name: ClassVar[str] = ""  # not registered as a kind
        local_in_triton: ClassVar[bool] = False

    q, k, v = qkv(16, torch.float32)
    call = AttentionCall(local=LocalMask(window=4))
    with pytest.raises(NotImplementedError, match="no local"):
        NoLocalSoftmax().forward(q, k, v, call, backend="triton")
    auto, _ = NoLocalSoftmax().forward(q, k, v, call, backend="auto")  # falls back to chunked
    torch.testing.assert_close(auto, SoftmaxKernel().forward(q, k, v, call, "chunked")[0])
    if torch.cuda.is_available():  # only on CUDA does "auto" pick Triton, then fall back
        pytest.importorskip("triton")
        on_gpu, _ = NoLocalSoftmax().forward(q.cuda(), k.cuda(), v.cuda(), call, backend="auto")
        torch.testing.assert_close(on_gpu.cpu(), auto, atol=2e-5, rtol=2e-5)


BRUTE_MASKS = {**MASKS, "dilated": LocalMask(window=3, dilation=2), "shift-0": LocalMask(4, 0)}


@pytest.mark.parametrize("name", BRUTE_MASKS)
def test_key_ranges_and_covers_agree_with_allows(name) -> None:
    """Against `allows` pair by pair, for every query tile of 1-7 positions and key tile of
    1-5: `key_ranges` holds every visible key (soundness) and, without dilation, nothing
    else (a loose range only costs time, so the kernels' tests cannot see it); `covers` is
    True only where every pair is visible and, without dilation, wherever it is."""
    local, n = BRUTE_MASKS[name], 24
    pos = torch.arange(n)
    seen = local.allows(pos[:, None], pos[None, :])  # [q, k]
    exact = local.dilation == 1
    for q_first in range(n):
        for q_last in range(q_first, min(q_first + 7, n)):
            visible = seen[q_first : q_last + 1].any(0)
            ranged = torch.zeros(n, dtype=torch.bool)
            for lo, hi in local.key_ranges(q_first, q_last, n):
                ranged[lo:hi] = True
            assert not (visible & ~ranged).any(), (q_first, q_last)
            if exact:
                assert torch.equal(ranged, visible), (q_first, q_last)
            for k_first in range(n):
                k_last = min(k_first + 4, n - 1)
                full = bool(seen[q_first : q_last + 1, k_first : k_last + 1].all())
                covered = local.covers(q_first, q_last, k_first, k_last)
                assert full or not covered, (q_first, q_last, k_first)
                if exact:
                    assert covered == full, (q_first, q_last, k_first)


@pytest.mark.parametrize("kind", KINDS)
def test_statistics_keep_the_input_dtype_when_no_query_sees_key_zero(kind) -> None:
    """Last queries under a narrow window: key 0 (the sink) is never visited, so `sink` is
    the kernel's initial zeros, which must still be in the input's dtype, like the
    reference's."""
    kernel = KINDS[kind]
    q, k, v = qkv()
    call = AttentionCall(True, None, None, None, kernel.statistics, LocalMask(window=5))
    ref_out, ref = kernel.forward(q[:, :, -4:], k, v, call, backend="reference")
    out, got = kernel.forward(q[:, :, -4:], k, v, call, backend="chunked", chunk=8)
    torch.testing.assert_close(out, ref_out)
    for name in kernel.statistics:
        assert got[name].dtype == ref[name].dtype == torch.float64, name
        torch.testing.assert_close(got[name], ref[name], equal_nan=True, msg=name)
