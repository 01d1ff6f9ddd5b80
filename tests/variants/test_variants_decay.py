"""Claims of the decayed linear-attention mixers (RetNet, GLA, Mamba-2), each checked
against a plain float64 loop written here, and their token-mixing matrices (y == M v)."""

import pytest
import torch
import torch.nn.functional as F
from workbench.kernels.attention.statistics import entropy, max_weight, sink

from workbench import Model, ModelConfig
from workbench.variants.decay_scan import decay_attention, mixing_matrix
from workbench.variants.recurrent_mixers import (
    delta_rule_matrix,
    delta_rule_recurrent,
    linear_attention_recurrent,
)

GEN = torch.Generator().manual_seed(0)
MODES = ("parallel", "recurrent", "chunked")


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN, dtype=torch.float64)


def plain_loop(q, k, v, g, s0=None):
    """S_t = diag(exp g_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t, one (batch, head) at a time."""
    b, h, n, d_k = q.shape
    out = torch.zeros(b, h, n, v.shape[-1], dtype=q.dtype)
    for i in range(b):
        for j in range(h):
            s = torch.zeros(d_k, v.shape[-1], dtype=q.dtype) if s0 is None else s0[j].clone()
            for t in range(n):
                decay = g[i, j, t].exp().expand(d_k)
                s = torch.diag(decay) @ s + torch.outer(k[i, j, t], v[i, j, t])
                out[i, j, t] = s.T @ q[i, j, t]
    return out


@pytest.mark.parametrize("per_channel", [False, True], ids=["retention", "gla"])
@pytest.mark.parametrize("mode", MODES)
def test_parallel_recurrent_chunked_equal_the_plain_recurrence(mode, per_channel) -> None:
    q, k, v = rand(2, 3, 11, 4), rand(2, 3, 11, 4), rand(2, 3, 11, 5)
    g = -torch.rand(2, 3, 11, 4 if per_channel else 1, generator=GEN, dtype=torch.float64) * 3
    s0 = rand(3, 4, 5)
    expected = plain_loop(q, k, v, g, s0)
    got = decay_attention(q, k, v, g, mode, state=s0[None], chunk=4)  # 11 = 4 + 4 + 3
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_strong_decay_does_not_overflow_the_chunked_form() -> None:
    q, k, v = rand(1, 1, 64, 4), rand(1, 1, 64, 4), rand(1, 1, 64, 4)
    g = torch.full((1, 1, 64, 4), -40.0, dtype=torch.float64)  # exp(+40 * 64) would overflow
    torch.testing.assert_close(
        decay_attention(q, k, v, g, "chunked", chunk=64), plain_loop(q, k, v, g)
    )


@pytest.mark.parametrize("mode", MODES)
def test_decay_one_reduces_to_linear_attention(mode) -> None:
    q, k, v = rand(2, 2, 9, 4), rand(2, 2, 9, 4), rand(2, 2, 9, 4)
    no_decay = torch.zeros(2, 2, 9, 1, dtype=torch.float64)
    torch.testing.assert_close(
        decay_attention(q, k, v, no_decay, mode, chunk=4), linear_attention_recurrent(q, k, v)
    )


def test_retention_uses_the_multiscale_decays_of_the_paper() -> None:
    model = Model(ModelConfig(d_model=32, n_heads=4, n_layers=1, d_vocab=16, attention="retention"))
    gammas = model.blocks[0].attn.log_gamma.double().exp()
    expected = torch.tensor([1 - 2.0**-5, 1 - 2.0**-6, 1 - 2.0**-7, 1 - 2.0**-8])
    torch.testing.assert_close(gammas, expected.double(), rtol=1e-6, atol=0)


def test_gla_learned_initial_state_is_read_by_every_form_and_trained() -> None:
    gla = {"name": "gla", "learn_initial_state": True, "chunk": 4}
    cfg = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=16, position="none", attention=gla)
    model = Model(cfg).double()
    attn = model.blocks[0].attn
    with torch.no_grad():
        attn.S0.copy_(rand(2, 8, 8))
    toks = torch.randint(0, 16, (2, 9), generator=GEN)
    _, cache = model.run_with_cache(toks)
    q, k, v = (cache[f"blocks.0.attn.hook_{n}"].transpose(1, 2) for n in "qkv")
    g = cache["blocks.0.attn.hook_decay"].transpose(1, 2)
    expected = plain_loop(q, k * attn.scale, v, g, attn.S0)
    for mode in MODES:
        attn.mode = mode
        out = decay_attention(q, k * attn.scale, v, g, mode, attn.initial_state(), chunk=4)
        torch.testing.assert_close(out, expected)
        model(toks, return_type="loss").backward()
        assert attn.S0.grad is not None and attn.S0.grad.abs().max() > 0
        attn.S0.grad = None


def mamba2_model(mode: str) -> Model:
    cfg = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=16, n_ctx=32, position="none",
                      attention={"name": "mamba2", "d_state": 4, "mode": mode, "chunk": 4},
                      init_range=0.3)  # fmt: skip
    return Model(cfg).double()


@pytest.mark.parametrize("mode", MODES)
def test_mamba2_forms_equal_the_plain_ssm_scan(mode) -> None:
    """Quadratic masked form, scan and chunked SSD all give H_t = a_t H + dt x B^T, y = H C."""
    model = mamba2_model(mode)
    with torch.no_grad():  # A_log = 0 at init (A = -1) hides a delta*A / delta/A slip
        model.blocks[0].attn.A_log.copy_(torch.tensor([0.7, -0.4]))
    tokens = torch.randint(0, 16, (2, 13), generator=GEN)
    _, cache = model.run_with_cache(tokens)
    xs, bs, cs = (cache[f"blocks.0.attn.hook_{n}"] for n in ("x", "B", "C"))
    delta = cache["blocks.0.attn.hook_delta"]  # [batch, pos, head]
    a = (-model.blocks[0].attn.A_log.exp())[None, None] * delta
    h = torch.zeros(2, 2, xs.shape[-1], 4, dtype=torch.float64)
    expected = []
    for t in range(13):
        drive = (delta[:, t, :, None] * xs[:, t])[..., None] * bs[:, t, :, None, :]
        h = a[:, t, :, None, None].exp() * h + drive
        expected.append(torch.einsum("bhpn,bhn->bhp", h, cs[:, t]))
    got = cache["blocks.0.attn.hook_ssm_out"]
    assert got.abs().max() > 1e-3  # not vanishingly small: the comparison means something
    torch.testing.assert_close(got, torch.stack(expected, 1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("per_channel", [False, True])
def test_decay_mixing_matrix_gives_the_output(per_channel) -> None:
    q, k, v = rand(2, 3, 10, 4), rand(2, 3, 10, 4), rand(2, 3, 10, 6)
    g = -torch.rand(2, 3, 10, 4 if per_channel else 1, generator=GEN, dtype=torch.float64)
    torch.testing.assert_close(mixing_matrix(q, k, g) @ v, plain_loop(q, k, v, g))


def test_deltanet_mixing_matrix_is_the_product_formula_and_gives_the_output() -> None:
    q, k, v = rand(1, 2, 7, 4), rand(1, 2, 7, 4), rand(1, 2, 7, 3)
    q, k = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(k, dim=-1)
    beta = torch.rand(1, 2, 7, generator=GEN, dtype=torch.float64)
    m = delta_rule_matrix(q, k, beta, chunk=3)
    eye = torch.eye(4, dtype=torch.float64)
    for h in range(2):
        for t in range(7):
            for s in range(7):
                prod = eye.clone()
                for r in range(s + 1, t + 1):
                    prod = prod @ (eye - beta[0, h, r] * torch.outer(k[0, h, r], k[0, h, r]))
                want = beta[0, h, s] * k[0, h, s] @ prod @ q[0, h, t] if s <= t else 0.0
                torch.testing.assert_close(m[0, h, t, s], torch.as_tensor(want).double())
    torch.testing.assert_close(m @ v, delta_rule_recurrent(q, k, v, beta))


def test_mamba_channel_matrix_gives_the_sequential_scan() -> None:
    mamba = {"name": "mamba", "d_state": 4}
    cfg = ModelConfig(
        d_model=8, n_layers=1, n_heads=2, d_vocab=16, position="none", attention=mamba
    )
    model = Model(cfg)
    ssm = model.blocks[0].attn.double()
    u, delta = rand(2, 9, 16), torch.rand(2, 9, 16, generator=GEN, dtype=torch.float64)
    b, c = rand(2, 9, 4), rand(2, 9, 4)
    m = ssm.scan_matrix(delta, b, c, rows=4)  # [batch, channel, q, k]
    via_m = torch.einsum("bits,bsi->bti", m, u)
    torch.testing.assert_close(via_m, ssm.scan(u, delta, b, c))


def test_mamba_parallel_scan_equals_the_sequential_scan() -> None:
    cfg = ModelConfig(d_model=8, n_layers=1, n_heads=2, d_vocab=16, n_ctx=32, position="none",
                      attention={"name": "mamba", "d_state": 4, "scan": "parallel"})  # fmt: skip
    ssm = Model(cfg).blocks[0].attn.double()
    u, delta = rand(2, 13, 16), torch.rand(2, 13, 16, generator=GEN, dtype=torch.float64)
    b, c = rand(2, 13, 4), rand(2, 13, 4)
    torch.testing.assert_close(ssm.parallel_scan(u, delta, b, c), ssm.scan(u, delta, b, c))
    sequential = Model(cfg.replace(attention={"name": "mamba", "d_state": 4})).double()
    parallel = Model(cfg).double()
    toks = torch.randint(0, 16, (2, 13), generator=GEN)
    torch.testing.assert_close(parallel(toks), sequential(toks))


def test_bidirectional_mamba_is_the_forward_plus_the_reversed_scan() -> None:
    shape = {"d_model": 8, "n_layers": 1, "n_heads": 2, "d_vocab": 16, "position": "none"}
    mamba = {"name": "mamba", "d_state": 4}
    bi_cfg = ModelConfig(**shape, causal=False, attention={**mamba, "bidirectional": True})
    bi, uni = Model(bi_cfg).double(), Model(ModelConfig(**shape, attention=mamba)).double()
    with torch.no_grad():
        for p in bi.parameters():
            p.copy_(torch.randn(p.shape, generator=GEN, dtype=torch.float64) * 0.3)
    uni.load_state_dict(bi.state_dict())
    toks = torch.randint(0, 16, (2, 9), generator=GEN)

    def ssm_out(model: Model, t: torch.Tensor) -> torch.Tensor:
        return model.run_with_cache(t)[1]["blocks.0.attn.hook_ssm_out"]

    expected = ssm_out(uni, toks) + ssm_out(uni, toks.flip(1)).flip(1)
    torch.testing.assert_close(ssm_out(bi, toks), expected)
    other = toks.clone()
    other[:, -1] = (other[:, -1] + 1) % 16
    assert (ssm_out(bi, other)[:, 0] - ssm_out(bi, toks)[:, 0]).abs().max() > 1e-6  # sees ahead
    assert bi.supported_stats()["attn"] == set()  # two value sequences: no single M


def reference_stats(m: torch.Tensor) -> dict[str, torch.Tensor]:
    w = m.abs() / m.abs().sum(-1, keepdim=True)
    return {"mix_entropy": entropy(w), "mix_max_weight": max_weight(w), "mix_sink": sink(w)}


def linear_matrix(cache) -> torch.Tensor:
    q, k = (1 + F.elu(cache[f"blocks.0.attn.hook_{n}"].transpose(1, 2)) for n in "qk")
    return (q @ k.transpose(-1, -2)).tril()


def mamba2_matrix(cache) -> torch.Tensor:
    """M_ts = C_t . B_s exp(sum_{s<r<=t} Delta_r A_h), written out with explicit loops."""
    b, c = cache["blocks.0.attn.hook_B"], cache["blocks.0.attn.hook_C"]  # [batch, pos, head, n]
    log_a = cache["blocks.0.attn.hook_delta"] * -1.0  # A = -exp(0) = -1 at init
    n = b.shape[1]
    m = torch.zeros(b.shape[0], b.shape[2], n, n, dtype=b.dtype)
    for t in range(n):
        for s in range(t + 1):
            decay = log_a[:, s + 1 : t + 1].sum(1).exp()  # [batch, head]
            m[:, :, t, s] = (c[:, t] * b[:, s]).sum(-1) * decay
    return m


@pytest.mark.parametrize("attention,matrix", [("linear", linear_matrix),
                                              ("mamba2", mamba2_matrix)])  # fmt: skip
def test_mix_stats_of_linear_attention_and_mamba2_come_from_their_matrix(attention, matrix):
    cfg = ModelConfig(d_model=16, n_layers=1, n_heads=2, d_vocab=16, position="none",
                      attention=attention, init_range=0.2)  # fmt: skip
    model = Model(cfg).double()
    tokens = torch.randint(0, 16, (2, 10), generator=GEN)
    stats = model.run_with_stats(tokens, ["attn.mix_entropy", "attn.mix_max_weight",
                                          "attn.mix_sink"])  # fmt: skip
    _, cache = model.run_with_cache(tokens)
    for name, value in reference_stats(matrix(cache)).items():
        torch.testing.assert_close(stats[f"attn.{name}", 0], value)


def test_retention_stats_are_computed_from_its_mixing_matrix() -> None:
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=16, attention="retention")
    model = Model(cfg).double()
    tokens = torch.randint(0, 16, (2, 12), generator=GEN)
    names = ["attn.mix_entropy", "attn.mix_max_weight", "attn.mix_sink"]
    stats = model.run_with_stats(tokens, names)
    _, cache = model.run_with_cache(tokens)
    q = cache["blocks.0.attn.hook_q"].transpose(1, 2)
    k = cache["blocks.0.attn.hook_k"].transpose(1, 2) / 8**0.5
    t = torch.arange(12, dtype=torch.float64)
    gamma = 1 - 2.0 ** (-5 - torch.arange(4, dtype=torch.float64))
    decay = gamma[:, None, None] ** (t[:, None] - t[None, :]).clamp(min=0)
    m = (q @ k.transpose(-1, -2)) * decay * torch.ones(12, 12).tril().double()
    for name, value in reference_stats(m).items():
        torch.testing.assert_close(stats[f"attn.{name}", 0], value)
    with pytest.raises(ValueError, match="attn.entropy"):
        model.run_with_stats(tokens, ["attn.entropy"])  # the softmax names are not offered


def test_decay_shape_error_names_d_k_and_the_shape() -> None:
    """Run 8 (issue #20): the refusal of a log-decay of the wrong width, in full."""
    q, k, v = rand(1, 2, 5, 4), rand(1, 2, 5, 4), rand(1, 2, 5, 6)
    with pytest.raises(ValueError) as err:
        decay_attention(q, k, v, -torch.ones(1, 2, 5, 3), "parallel")
    assert str(err.value) == ("log-decay last dim must be 1 or d_k=4, got torch.Size([1, 2, 5, 3])")


def test_retention_output_is_the_group_normed_scaled_retention_times_the_gate() -> None:
    """Run 10: z = GroupNorm_eps(M v) * gate with M from K scaled by d_head^-1/2, in float64.
    Small keys put the retention's variance near GroupNorm's eps = 1e-5, where the scale of
    K changes z (well above it, the norm would hide the scale)."""
    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=4, d_vocab=16, attention="retention")
    model = Model(cfg).double()
    with torch.no_grad():
        model.blocks[0].attn.W_K.mul_(1e-2)
    tokens = torch.randint(0, 16, (2, 12), generator=GEN)
    _, cache = model.run_with_cache(tokens)
    q, k, v = (cache[f"blocks.0.attn.hook_{n}"].transpose(1, 2) for n in "qkv")
    t = torch.arange(12, dtype=torch.float64)
    gamma = 1 - 2.0 ** (-5 - torch.arange(4, dtype=torch.float64))
    decay = gamma[:, None, None] ** (t[:, None] - t[None, :]).clamp(min=0)
    m = (q @ (k / 8**0.5).transpose(-1, -2)) * decay * torch.ones(12, 12).tril().double()
    y = m @ v  # [batch, head, pos, d_head]
    mean, var = y.mean(-1, keepdim=True), y.var(-1, unbiased=False, keepdim=True)
    normed = ((y - mean) / (var + 1e-5).sqrt()).transpose(1, 2)
    assert float(var.mean()) < 1e-3  # the regime where eps matters
    expected = normed * cache["blocks.0.attn.hook_gate"]
    torch.testing.assert_close(cache["blocks.0.attn.hook_z"], expected)
