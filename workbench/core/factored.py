"""`FactoredMatrix`: a low-rank product `A @ B` kept as its two factors.

The QK and OV circuits of a head are `d_model x d_model` matrices of rank `d_head`. Kept as
`A [..., ldim, mdim]` and `B [..., mdim, rdim]`, products stay factored, the SVD comes from
QR factors of `A` and `B^T` plus the SVD of a small `mdim x mdim` core, and the nonzero
eigenvalues of `AB` are those of the small `BA`. Names follow TransformerLens's class:
`svd()` returns `(U, S, V)` with `AB == U @ diag(S) @ V^T`.

Example:
    >>> ov = model.OV[1, 3]               # layer 1, head 3
    >>> ov.S                              # d_head singular values, no d_model^2 matrix
    >>> (model.W_E @ ov @ model.W_U).AB   # the full OV circuit, still factored until .AB
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from jaxtyping import Complex, Float
from torch import Tensor


def _linalg(x: Tensor) -> Tensor:
    """linalg routines need float32 or float64."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class FactoredMatrix:
    """`A @ B` without forming it; leading dimensions broadcast like a batch of matrices."""

    def __init__(
        self, A: Float[Tensor, "... ldim mdim"], B: Float[Tensor, "... mdim rdim"]
    ) -> None:
        if A.shape[-1] != B.shape[-2]:
            raise ValueError(
                f"FactoredMatrix: inner dimensions differ, A {list(A.shape)}, B {list(B.shape)}"
            )
        lead = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        self.A = A.broadcast_to((*lead, *A.shape[-2:]))
        self.B = B.broadcast_to((*lead, *B.shape[-2:]))
        self.ldim, self.mdim, self.rdim = A.shape[-2], A.shape[-1], B.shape[-1]
        self.shape = torch.Size((*lead, self.ldim, self.rdim))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def pair(self) -> tuple[Tensor, Tensor]:
        return self.A, self.B

    @property
    def AB(self) -> Float[Tensor, "... ldim rdim"]:
        """The full matrix (this is the one place it is formed)."""
        return self.A @ self.B

    @property
    def BA(self) -> Float[Tensor, "... mdim mdim"]:
        """The small product; needs a square matrix (ldim == rdim)."""
        if self.ldim != self.rdim:
            raise ValueError(f"BA needs a square matrix, this one is {self.ldim} x {self.rdim}")
        return self.B @ self.A

    @property
    def T(self) -> FactoredMatrix:
        return FactoredMatrix(self.B.transpose(-2, -1), self.A.transpose(-2, -1))

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, FactoredMatrix):
            return FactoredMatrix(self.A, (self.B @ other.A) @ other.B)
        if other.dim() == 1:  # a vector: the result is a vector
            return self.A @ (self.B @ other)
        if other.shape[-2] != self.rdim:
            raise ValueError(f"matmul: {list(self.shape)} @ {list(other.shape)}")
        # stay factored through the narrow middle (never forms ldim x rdim when mdim < rdim)
        if self.mdim < self.rdim:
            return FactoredMatrix(self.A, self.B @ other)
        return FactoredMatrix(self.AB, other)

    def __rmatmul__(self, other: Tensor) -> Any:
        if other.dim() == 1:
            return (other @ self.A) @ self.B
        if self.mdim < self.ldim:
            return FactoredMatrix(other @ self.A, self.B)
        return FactoredMatrix(other, self.AB)

    def __mul__(self, scalar: float | Tensor) -> FactoredMatrix:
        if isinstance(scalar, Tensor) and scalar.numel() > 1:
            scalar = scalar[..., None, None]  # one scalar per leading index
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    def __getitem__(self, index: Any) -> FactoredMatrix:
        """Index the leading dimensions: `model.QK[layer, head]`."""
        index = index if isinstance(index, tuple) else (index,)
        if len(index) > len(self.shape) - 2:
            raise IndexError(
                f"FactoredMatrix indexes its {len(self.shape) - 2} leading dimensions only "
                f"(shape {list(self.shape)}); use .AB to index rows and columns"
            )
        return FactoredMatrix(self.A[index], self.B[index])

    @functools.cached_property
    def _svd(self) -> tuple[Tensor, Tensor, Tensor]:
        # AB = Qa Ra (Qb Rb)^T = Qa (Ra Rb^T) Qb^T: only the mdim x mdim core gets an SVD.
        qa, ra = torch.linalg.qr(_linalg(self.A))
        qb, rb = torch.linalg.qr(_linalg(self.B).transpose(-2, -1))
        um, s, vhm = torch.linalg.svd(ra @ rb.transpose(-2, -1))
        return qa @ um, s, qb @ vhm.transpose(-2, -1)

    def svd(self) -> tuple[Tensor, Tensor, Tensor]:
        """`(U [..., ldim, k], S [..., k], V [..., rdim, k])`, `k = min(ldim, mdim, rdim)`,
        `AB == U @ diag(S) @ V^T`, singular values in descending order."""
        return self._svd

    @property
    def U(self) -> Tensor:
        return self.svd()[0]

    @property
    def S(self) -> Tensor:
        return self.svd()[1]

    @property
    def V(self) -> Tensor:
        return self.svd()[2]

    @property
    def eigenvalues(self) -> Complex[Tensor, "... mdim"]:
        """Eigenvalues of the small `BA`: the nonzero eigenvalues of `AB`, plus zeros."""
        return torch.linalg.eigvals(_linalg(self.BA))

    def norm(self) -> Float[Tensor, "..."]:
        """Frobenius norm, from the singular values."""
        return self.S.pow(2).sum(-1).sqrt()

    def make_even(self) -> FactoredMatrix:
        """The same matrix as `(U sqrt(S)) (sqrt(S) V^T)`: both factors carry half the scale."""
        root = self.S.sqrt()
        return FactoredMatrix(self.U * root[..., None, :], root[..., :, None] * self.V.mT)

    def collapse_l(self) -> Tensor:
        """`S V^T` `[..., k, rdim]`: the factorization with an orthonormal left factor dropped."""
        return self.S[..., :, None] * self.V.mT

    def collapse_r(self) -> Tensor:
        """`U S` `[..., ldim, k]`."""
        return self.U * self.S[..., None, :]

    def get_corner(self, k: int = 3) -> Tensor:
        """The top-left `k x k` block of each matrix."""
        return self.A[..., :k, :] @ self.B[..., :, :k]

    def unsqueeze(self, dim: int) -> FactoredMatrix:
        return FactoredMatrix(self.A.unsqueeze(dim), self.B.unsqueeze(dim))

    def __repr__(self) -> str:
        return f"FactoredMatrix: Shape({list(self.shape)}), Hidden Dim({self.mdim})"
