"""``tracegrad.linalg``: PyTorch's ``torch.linalg`` functions tracegrad has, differentiable.

Each is an op of the table (LAPACK through numpy in eager mode and on the executor, through
numba in the kernels), so it traces, compiles and differentiates like any other op.

>>> import tracegrad as tg
>>> A = tg.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> tg.linalg.det(A)
tensor(5., grad_fn=<LinalgDetBackward0>)
>>> tg.linalg.solve(A, tg.tensor([1.0, 2.0]))
tensor([0.2000, 0.6000], grad_fn=<LinalgSolveExBackward0>)
"""

from __future__ import annotations

import builtins
import math
import warnings
from typing import NamedTuple

import numpy as np

from tracegrad._dispatch import apply_op
from tracegrad._results import result_type
from tracegrad._tensor import Tensor, TensorLike, _dims
from tracegrad._trace import user_stacklevel
from tracegrad.ir.ops import COMPOSITES, OPS, LinAlgError, ShapeError, _check_matrix, _check_square
from tracegrad.ir.types import TensorType

__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "cond", "norm",
           "vector_norm", "matrix_norm", "LinAlgError"]


def _t(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _square(fname: str, A: TensorLike, check=_check_square) -> Tensor:
    """`A` as a Tensor of square float matrices (or with `check` ``_check_matrix`` any float matrices
    (..., m, n)), or PyTorch's RuntimeError."""
    a = _t(A)
    try:
        check(fname, TensorType(a._data.dtype, a.shape))
    except ShapeError as e:
        raise RuntimeError(str(e)) from None
    return a


def _matrices(fname: str, A: TensorLike) -> Tensor:
    """`A` as a Tensor of float matrices (..., m, n), or PyTorch's RuntimeError."""
    return _square(fname, A, _check_matrix)


def _float_input(fname: str, x: TensorLike, dtype) -> Tensor:
    """`x` (converted to `dtype` if given) as a float Tensor, or PyTorch's RuntimeError."""
    t = _t(x) if dtype is None else _t(x).to(dtype)
    if not t.is_floating_point():
        raise RuntimeError(f"linalg.{fname}: Expected a floating point or complex tensor as input. Got "
                           f"{t.dtype.tensor_type[:-6]}")
    return t


def inv(A: TensorLike) -> Tensor:
    """The inverse of each square matrix of `A` (..., n, n); a singular one raises :class:`LinAlgError`.

    >>> import tracegrad as tg
    >>> tg.linalg.inv(tg.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return apply_op(OPS["inv"], (_square("inv", A),))


def det(A: TensorLike) -> Tensor:
    """The determinant of each square matrix of `A`; its gradient is ``det * A^-T`` (invertible `A`)."""
    return apply_op(OPS["det"], (_square("det", A),))


class _SignLogAbsDet(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class _PrintedSlogdet(_SignLogAbsDet):
    _kind = "slogdet"

    def __repr__(self) -> str:
        return f"torch.return_types.{self._kind}(\nsign={self.sign!r},\nlogabsdet={self.logabsdet!r})"


def _slogdet_type(kind: str) -> type:
    return type(kind, (_PrintedSlogdet,), {"_kind": kind, "__qualname__": kind, "__module__": "tracegrad.return_types",
                                           "__doc__": f"``(sign, logabsdet)`` of ``{kind}``."})


slogdet_result = _slogdet_type("slogdet")
linalg_slogdet_result = _slogdet_type("linalg_slogdet")


def slogdet(A: TensorLike) -> tuple[Tensor, Tensor]:
    """``(sign, logabsdet)`` of each square matrix's determinant, without overflow: ``det = sign *
    exp(logabsdet)``; sign is 0 (and logabsdet -inf) for a singular matrix."""
    a = _square("slogdet", A)
    return linalg_slogdet_result(apply_op(OPS["det_sign"], (a,)), apply_op(OPS["logabsdet"], (a,)))


def solve(A: TensorLike, B: TensorLike, *, left: builtins.bool = True) -> Tensor:
    """X with ``A X = B`` for square `A` (..., n, n); `B` is (..., n, k), or (n,) / (..., n) vectors
    (a vector when its shape is A's without the last dimension, as PyTorch decides).  Batch
    dimensions broadcast.  ``left=False`` solves ``X A = B``."""
    a, b = _square("solve", A), _t(B)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve(a.mT, b.mT).mT
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vector:
        b = b.unsqueeze(-1)
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        shape = (b.shape[-1],) if vector else b.shape[-2:]
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({a.shape[-2]}x{a.shape[-1]} and {'x'.join(map(str, shape))})")
    batch = _broadcast_batch(a.shape[:-2], b.shape[:-2])
    a = a if a.shape[:-2] == batch else a.expand(*batch, *a.shape[-2:])
    b = b if b.shape[:-2] == batch else b.expand(*batch, *b.shape[-2:])
    if a.dtype != b.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                           f"{a.dtype.tensor_type[:-6]} and B of type {b.dtype.tensor_type[:-6]} instead")
    x = apply_op(OPS["solve"], (a, b))
    if vector:  # the solve's node keeps PyTorch's name on the vector result
        return apply_op(OPS["reshape"], (x,), {"shape": x.shape[:-1]}, "LinalgSolveExBackward0")
    return x


def _broadcast_batch(a: tuple, b: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton "
                           f"dimension") from None


def cholesky(A: TensorLike, *, upper: builtins.bool = False) -> Tensor:
    """The lower Cholesky factor L of each symmetric positive-definite matrix (A = L L^T), or with
    `upper` its transpose; one that is not positive-definite raises :class:`LinAlgError`.

    `A` is taken as symmetric (its symmetric part is factored), and the gradient is the symmetric
    one PyTorch returns."""
    low = apply_op(OPS["cholesky_lower"], (_square("cholesky", A),))
    return low.mT if upper else low


linalg_eigh_result = result_type("linalg_eigh", ("eigenvalues", "eigenvectors"),
                                 "``(eigenvalues, eigenvectors)`` of ``linalg.eigh``.")
linalg_svd_result = result_type("linalg_svd", ("U", "S", "Vh"), "``(U, S, Vh)`` of ``linalg.svd``.")
svd_result = result_type("svd", ("U", "S", "V"), "``(U, S, V)`` of ``torch.svd``.")
linalg_qr_result = result_type("linalg_qr", ("Q", "R"), "``(Q, R)`` of ``linalg.qr``.")
qr_result = result_type("qr", ("Q", "R"), "``(Q, R)`` of ``torch.qr``.")


def _symmetric(fname: str, A: TensorLike, UPLO: str) -> Tensor:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return _square(fname, A)


def eigh(A: TensorLike, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix: ascending eigenvalues, and the orthonormal
    eigenvectors as columns (``A = V diag(L) V^T``).

    `A` is taken as symmetric (its symmetric part is decomposed, whichever triangle `UPLO` names), so the
    gradient is the symmetric one PyTorch returns; repeated eigenvalues make the eigenvectors' gradient
    inf or NaN, as in PyTorch.

    >>> import tracegrad as tg
    >>> tg.linalg.eigh(tg.tensor([[2.0, 1.0], [1.0, 2.0]])).eigenvalues
    tensor([1., 3.])
    """
    a = _symmetric("eigh", A, UPLO)
    return linalg_eigh_result(apply_op(OPS["eigvalsh"], (a,)), apply_op(OPS["eigh_vectors"], (a,)))


def eigvalsh(A: TensorLike, UPLO: str = "L") -> Tensor:
    """The eigenvalues of each symmetric matrix, ascending (``linalg.eigh`` without the vectors)."""
    return apply_op(OPS["eigvalsh"], (_symmetric("eigvalsh", A, UPLO),))


def svd(A: TensorLike, full_matrices: builtins.bool = True, *, driver: str | None = None) -> tuple[Tensor, ...]:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh`` for each matrix (m x n, k = min(m, n)): S descending, U's
    columns and Vh's rows orthonormal; ``full_matrices=False`` keeps k of them.  The singular vectors are
    LAPACK's (unique up to sign); their gradient needs distinct singular values, as in PyTorch.

    >>> import tracegrad as tg
    >>> tg.linalg.svd(tg.tensor([[3.0, 0.0], [0.0, -2.0]])).S
    tensor([3., 2.])
    """
    a = _matrices("svd", A)
    full = builtins.bool(full_matrices)
    return linalg_svd_result(apply_op(OPS["svd_u"], (a,), {"full": full}), apply_op(OPS["svdvals"], (a,)),
                             apply_op(OPS["svd_vh"], (a,), {"full": full}))


def svdvals(A: TensorLike, *, driver: str | None = None) -> Tensor:
    """The singular values of each matrix, descending."""
    return apply_op(OPS["svdvals"], (_matrices("svdvals", A),))


def qr(A: TensorLike, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """``(Q, R)`` with ``A = Q R`` for each matrix: Q's columns orthonormal, R upper triangular (LAPACK's
    signs).  `mode` ``"reduced"`` keeps min(m, n) columns of Q, ``"complete"`` all m, ``"r"`` computes R
    only (Q is empty, and differentiating R raises as in PyTorch).

    >>> import tracegrad as tg
    >>> tg.linalg.qr(tg.tensor([[3.0, 1.0], [4.0, 2.0]])).R
    tensor([[-5.0000, -2.2000],
            [ 0.0000,  0.4000]])
    """
    a = _matrices("qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           f"or 'complete'")
    return linalg_qr_result(apply_op(OPS["qr_q"], (a,), {"mode": mode}), apply_op(OPS["qr_r"], (a,), {"mode": mode}))


def cond(A: TensorLike, p: builtins.float | str | None = None) -> Tensor:
    """The condition number of each matrix in the `p` norm (None or 2: largest over smallest singular
    value; -2: the inverse; other matrix norms of square invertible matrices: ``norm(A) * norm(inv(A))``)."""
    a = _matrices("cond", A)
    if p in (None, 2, -2):
        s = svdvals(a)
        ratio = s[..., 0] / s[..., -1]
        return ratio if p != -2 else 1.0 / ratio
    return matrix_norm(a, p) * matrix_norm(inv(a), p)


def vector_norm(x: TensorLike, ord: builtins.float = 2, dim: int | tuple[int, ...] | None = None,
                keepdim: builtins.bool = False, *, dtype=None) -> Tensor:
    """The `ord`-norm of `x` over `dim` (all elements by default): ``inf``/``-inf`` the largest or
    smallest absolute value, 0 the count of nonzeros, otherwise ``sum(|x|^ord)^(1/ord)``.

    >>> import tracegrad as tg
    >>> tg.linalg.vector_norm(tg.tensor([3.0, -4.0]))
    tensor(5.)
    """
    t = _float_input("vector_norm", x, dtype)
    return apply_op(COMPOSITES["norm"], (t,), {"p": float(ord), "axes": _dims(dim, t.ndim), "keepdims": keepdim})


def matrix_norm(A: TensorLike, ord: builtins.float | str = "fro", dim: tuple[int, int] = (-2, -1),
                keepdim: builtins.bool = False, *, dtype=None) -> Tensor:
    """The matrix norm over the two dimensions `dim`: ``"fro"`` (Frobenius), 1 / -1 (largest / smallest
    column sum of absolute values), ``inf`` / ``-inf`` (row sums), 2 / -2 (largest / smallest singular
    value) and ``"nuc"`` (the sum of the singular values)."""
    a = _t(A)
    if a.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    a = _float_input("matrix_norm", a, dtype)
    rows, cols = (d % a.ndim for d in dim)
    if ord == "fro":
        return vector_norm(a, 2, (rows, cols), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(a.movedim((rows, cols), (-2, -1)))
        out = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        return out.unsqueeze(min(rows, cols)).unsqueeze(max(rows, cols)) if keepdim else out
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    summed, over = (rows, cols) if abs(ord) == 1 else (cols, rows)
    sums = a.abs().sum(summed, keepdim=keepdim)
    if not keepdim and over > summed:
        over -= 1
    return sums.amax(over, keepdim=keepdim) if ord > 0 else sums.amin(over, keepdim=keepdim)


def norm(A: TensorLike, ord: builtins.float | str | None = None, dim: int | tuple[int, ...] | None = None,
         keepdim: builtins.bool = False, *, dtype=None) -> Tensor:
    """PyTorch's ``linalg.norm``: a vector norm (`ord` a number, `dim` one dimension, or a 1-D input),
    a matrix norm (`ord` a string, or `dim` two dimensions, or a 2-D input with `ord` given), or with
    neither `ord` nor `dim` the 2-norm of all elements."""
    a = _t(A)
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(a, 2, dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (dim is not None and len(dim) == 2) or (dim is None and a.ndim == 2):
        if dim is None and a.ndim != 2:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                               f"Got {a.ndim}D.")
        return matrix_norm(a, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)
    if dim is None and a.ndim != 1:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {a.ndim}D.")
    return vector_norm(a, ord, dim, keepdim, dtype=dtype)


def _register_tensor_methods() -> None:
    def inverse(self: Tensor) -> Tensor:
        """The inverse of each square matrix (``torch.linalg.inv``)."""
        return inv(self)

    def det_method(self: Tensor) -> Tensor:
        """The determinant of each square matrix (``torch.linalg.det``)."""
        return det(self)

    def logdet(self: Tensor) -> Tensor:
        """log(det): NaN for a negative determinant, -inf for a singular matrix (PyTorch's rule)."""
        sign, logabs = slogdet(self)
        return logabs.where(sign >= 0, math.nan)

    def slogdet_method(self: Tensor) -> tuple[Tensor, Tensor]:
        """``(sign, logabsdet)`` of each determinant (``torch.slogdet``)."""
        sign, logabs = slogdet(self)
        return slogdet_result(sign, logabs)

    def cholesky_method(self: Tensor, upper: builtins.bool = False) -> Tensor:
        """The Cholesky factor (``torch.cholesky``, deprecated in favour of ``torch.linalg.cholesky``)."""
        warnings.warn(_CHOLESKY_DEPRECATED, UserWarning, stacklevel=user_stacklevel())
        low = apply_op(OPS["cholesky_lower"], (_square("cholesky", self),), {}, "CholeskyBackward0")
        return low.mT if upper else low

    def svd_method(self: Tensor, some: builtins.bool = True, compute_uv: builtins.bool = True) -> tuple[Tensor, ...]:
        """``(U, S, V)`` with ``A = U diag(S) V^T`` (``torch.svd``, deprecated in PyTorch in favour of
        ``torch.linalg.svd``, which returns ``Vh = V^T``); `some` keeps min(m, n) vectors, and without
        `compute_uv` U and V are zeros."""
        if not compute_uv:
            s = svdvals(self)
            m, n = self.shape[-2:]
            u_cols, v_cols = (min(m, n), min(m, n)) if some else (m, n)
            zeros = np.zeros
            return svd_result(Tensor(zeros(self.shape[:-2] + (m, u_cols), self._data.dtype)), s,
                              Tensor(zeros(self.shape[:-2] + (n, v_cols), self._data.dtype)))
        u, s, vh = svd(self, full_matrices=not some)
        return svd_result(u, s, vh.mT)

    def qr_method(self: Tensor, some: builtins.bool = True) -> tuple[Tensor, Tensor]:
        """``(Q, R)`` (``torch.qr``, deprecated in favour of ``torch.linalg.qr``): reduced with `some`, else
        complete."""
        warnings.warn(_QR_DEPRECATED, UserWarning, stacklevel=user_stacklevel())
        q, r = qr(self, "reduced" if some else "complete")
        return qr_result(q, r)

    for name, fn in (("inverse", inverse), ("det", det_method), ("logdet", logdet), ("slogdet", slogdet_method),
                     ("cholesky", cholesky_method), ("svd", svd_method), ("qr", qr_method)):
        fn.__name__ = fn.__qualname__ = name
        setattr(Tensor, name, fn)


_CHOLESKY_DEPRECATED = (
    "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in a future PyTorch "
    "release.\nL = torch.cholesky(A)\nshould be replaced with\nL = torch.linalg.cholesky(A)\nand\n"
    "U = torch.cholesky(A, upper=True)\nshould be replaced with\nU = torch.linalg.cholesky(A).mH\n"
    "This transform will produce equivalent results for all valid (symmetric positive definite) inputs.")

_QR_DEPRECATED = (
    "torch.qr is deprecated in favor of torch.linalg.qr and will be removed in a future PyTorch release.\n"
    "The boolean parameter 'some' has been replaced with a string parameter 'mode'.\nQ, R = torch.qr(A, some)\n"
    "should be replaced with\nQ, R = torch.linalg.qr(A, 'reduced' if some else 'complete')")

_register_tensor_methods()
