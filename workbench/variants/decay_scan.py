"""Linear attention with a decaying state, in three forms that give the same outputs.

    S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T,    o_t = S_t^T q_t      (S: [d_k, d_v])

`g_t <= 0` is the log-decay: one value per head and step (RetNet's fixed gamma, Mamba-2's
exp(Delta_t A)) or one per key channel (GLA's alpha_t). Unrolled, with G_t = sum_{r<=t} g_r,

    o_t = sum_{s<=t} sum_d q_td k_sd exp(G_td - G_sd) v_s + sum_d q_td exp(G_td) S0_d,

so the map v -> o is linear: `mixing_matrix` gives its matrix M (y == M v). The forms:
`recurrent` (the loop above), `parallel` (the masked quadratic form, materializes [T, T]),
`chunked` (quadratic inside chunks of `chunk` steps, the state carried between them; linear
in T). Every exponent used is <= 0, so no form overflows however strong the decay.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

BHPD = Float[Tensor, "batch head pos d"]
LogDecay = Float[Tensor, "batch head pos d_k_or_1"]
State = Float[Tensor, "batch head d_k d_v"]


def _initial(q: Tensor, v: Tensor, state: Tensor | None) -> Tensor:
    if state is None:
        return q.new_zeros(*q.shape[:2], q.shape[-1], v.shape[-1])
    return state.expand(*q.shape[:2], q.shape[-1], v.shape[-1])


def decay_recurrent(q: BHPD, k: BHPD, v: BHPD, g: LogDecay, state: State | None = None) -> BHPD:
    """The step-by-step loop (the reference form; one Python step per position)."""
    state = _initial(q, v, state)
    outs = []
    for t in range(q.shape[2]):
        decay = g[:, :, t].exp()[..., None]  # [b, h, d_k or 1, 1]
        state = decay * state + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], state))
    return torch.stack(outs, dim=2)


def _decayed_scores(q: Tensor, k: Tensor, cum: Tensor) -> Float[Tensor, "batch head q k"]:
    """sum_d q_id k_jd exp(G_id - G_jd) for j <= i, 0 above the diagonal."""
    n = q.shape[2]
    causal = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
    diff = cum[:, :, :, None, :] - cum[:, :, None, :, :]  # [b, h, i, j, d_k or 1]
    # masked before exp: above the diagonal the difference is positive and could overflow
    decay = diff.masked_fill(~causal[..., None], float("-inf")).exp()
    if cum.shape[-1] == 1:  # one decay per head: a [T, T] mask on q k^T
        return (q @ k.transpose(-1, -2)) * decay[..., 0]
    return torch.einsum("bhid,bhjd,bhijd->bhij", q, k, decay)


def mixing_matrix(q: BHPD, k: BHPD, g: LogDecay) -> Float[Tensor, "batch head q k"]:
    """M with o == M v (zero initial state): the parallel form's weights. [T, T] memory."""
    return _decayed_scores(q, k, g.cumsum(2))


def decay_parallel(q: BHPD, k: BHPD, v: BHPD, g: LogDecay, state: State | None = None) -> BHPD:
    """The masked quadratic form, o = M v (+ the decayed initial state)."""
    cum = g.cumsum(2)
    out = _decayed_scores(q, k, cum) @ v
    if state is not None:
        out = out + (q * cum.exp()) @ _initial(q, v, state)
    return out


def decay_chunked(
    q: BHPD, k: BHPD, v: BHPD, g: LogDecay, state: State | None = None, chunk: int = 64
) -> BHPD:
    """Quadratic within each chunk, the state carried across chunks: linear in T."""
    state = _initial(q, v, state)
    outs = []
    for start in range(0, q.shape[2], chunk):
        sl = slice(start, start + chunk)
        qc, kc, vc, cum = q[:, :, sl], k[:, :, sl], v[:, :, sl], g[:, :, sl].cumsum(2)
        # what the state at the chunk start contributes, decayed to each step
        from_state = (qc * cum.exp()) @ state
        outs.append(from_state + _decayed_scores(qc, kc, cum) @ vc)
        total = cum[:, :, -1:]  # [b, h, 1, d_k or 1]: decay over the whole chunk
        carried = (kc * (total - cum).exp()).transpose(-1, -2) @ vc
        state = total.transpose(-1, -2).exp() * state + carried
    return torch.cat(outs, dim=2)


FORMS = {"recurrent": decay_recurrent, "parallel": decay_parallel, "chunked": decay_chunked}


def decay_attention(
    q: BHPD,
    k: BHPD,
    v: BHPD,
    g: LogDecay,
    mode: str,
    state: State | None = None,
    chunk: int = 64,
) -> BHPD:
    """Dispatch to one form by name ('recurrent', 'parallel', 'chunked').

    Example:
        >>> g = torch.full((1, 2, 5, 1), -0.1)  # decay exp(-0.1) per step, one per head
        >>> out = decay_attention(q, k, v, g, mode="chunked")
    """
    if mode not in FORMS:
        raise ValueError(f"mode must be one of {sorted(FORMS)}, got {mode!r}")
    if g.shape[-1] not in (1, k.shape[-1]):
        raise ValueError(f"log-decay last dim must be 1 or d_k={k.shape[-1]}, got {g.shape}")
    if mode == "chunked":
        return decay_chunked(q, k, v, g, state, chunk)
    return FORMS[mode](q, k, v, g, state)
