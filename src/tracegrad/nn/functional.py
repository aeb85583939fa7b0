"""``tracegrad.nn.functional``: activations and losses with PyTorch's names, defaults and node names.

Each loss is a composite of the op table (closed-form vjp, one eager node).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np

from tracegrad._dtypes import DTypeLike
from tracegrad._tensor import Tensor, TensorLike, apply_op, wrap
from tracegrad.ir.ops import COMPOSITES, OPS, normalize_axes

__all__ = ["relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax", "logsumexp", "mse_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"]


Reduction: TypeAlias = Literal["mean", "sum", "none"]
"""How a loss combines its elementwise values."""


def _t(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else wrap(np.asarray(x))


def _reduction(size_average: bool | None, reduce: bool | None, reduction: Reduction) -> Reduction:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _shape(x: TensorLike) -> tuple[int, ...]:
    return x._data.shape if isinstance(x, Tensor) else np.shape(x)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return apply_op(OPS["relu"], (input,))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    return apply_op(OPS["sigmoid"], (input,))


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return apply_op(OPS["tanh"], (input,))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""
    return apply_op(COMPOSITES["softplus"], (input,), {"beta": float(beta), "threshold": float(threshold)})


def _softmax_dim(x: Tensor, dim: int | None) -> int:
    if dim is None:
        # PyTorch's legacy implicit choice of dimension.
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return normalize_axes((dim,), x.ndim)[0] if x.ndim else 0


def softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`."""
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return apply_op(COMPOSITES["softmax"], (x,), {"axis": _softmax_dim(x, dim)})


def log_softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """x - logsumexp(x) along `dim`."""
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return apply_op(COMPOSITES["log_softmax"], (x,), {"axis": _softmax_dim(x, dim)})


def logsumexp(input: TensorLike, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) along `dim`, stable for large values."""
    return _t(input).logsumexp(dim, keepdim)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: Reduction = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape!r}) that is different to the input size "
                      f"({input.shape!r}). This will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", UserWarning, stacklevel=2)
    return apply_op(COMPOSITES["mse_loss"], (input, target), {"reduction": reduction})


def binary_cross_entropy(input: Tensor, target: Tensor, weight: TensorLike | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: Reduction = "mean") -> Tensor:
    """BCE of probabilities `input` against `target`; each log is clamped at -100 as in PyTorch."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape!r}) that is different to the input size "
                         f"({input.shape!r}) is deprecated. Please ensure they have the same size.")
    x = _t(input)
    if x._data.size and (np.any(x._data < 0) or np.any(x._data > 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None:
        loss = apply_op(COMPOSITES["binary_cross_entropy"], (input, target), {"reduction": "none"}) * weight
        return _reduce(loss, reduction)
    return apply_op(COMPOSITES["binary_cross_entropy"], (input, target), {"reduction": reduction})


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: TensorLike | None = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: Reduction = "mean", pos_weight: TensorLike | None = None) -> Tensor:
    """BCE on logits, computed stably: ``(1 - t) z + log(1 + exp(-z))`` without overflow."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if _shape(target) != _shape(input):
        raise ValueError(f"Target size ({target.shape!r}) must be the same as input size ({input.shape!r})")
    if weight is None and pos_weight is None:
        return apply_op(COMPOSITES["binary_cross_entropy_with_logits"], (input, target), {"reduction": reduction})
    # Weighted forms: l = w * [(1 - t) z + (1 + (p - 1) t) softplus(-z)].
    from tracegrad._functions import _t as t_
    z, t = t_(input), t_(target)
    sp = softplus(-z)
    coeff = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * t
    loss = (1.0 - t) * z + coeff * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def nll_loss(input: TensorLike, target: TensorLike, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: Reduction = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` given log-probabilities `input` (N, C) or (C,)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, t = _t(input), _t(target)
    if weight is not None:
        raise NotImplementedError("nll_loss: class weights are not supported yet")
    if x.ndim not in (1, 2):
        raise ValueError(f"Expected 1 or 2 dimensions for input (got {x.ndim})")
    if t._data.dtype.kind not in "iu":
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {t.dtype.tensor_type[:-6]}")
    n_expected = x.shape[0] if x.ndim == 2 else None
    if x.ndim == 2 and t.shape != (n_expected,):
        raise ValueError(f"Expected input batch_size ({n_expected}) to match target batch_size "
                         f"({t.shape[0] if t.ndim else 0}).")
    classes = x.shape[-1]
    td = t._data
    bad = (td != ignore_index) & ((td < 0) | (td >= classes))
    if np.any(bad):
        raise IndexError(f"Target {int(td[bad].flat[0])} is out of bounds.")
    return apply_op(COMPOSITES["nll_loss"], (x, t), {"reduction": reduction, "ignore_index": int(ignore_index)})


def cross_entropy(input: TensorLike, target: TensorLike, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None,
                  reduction: Reduction = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over classes followed by nll_loss (class indices), or soft targets (probabilities)."""
    reduction = _reduction(size_average, reduce, reduction)
    x, t = _t(input), _t(target)
    class_dim = 1 if x.ndim >= 2 else 0
    logp = log_softmax(x, dim=class_dim)
    if t._data.dtype.kind == "f":
        if t.shape != x.shape:
            raise RuntimeError("cross_entropy: soft targets must have the same shape as the input")
        n_classes = x.shape[class_dim]
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / n_classes
        loss = -(logp * t).sum(class_dim)
        if reduction == "mean":
            return loss.sum() / (x.shape[0] if x.ndim >= 2 else 1)
        return _reduce(loss, reduction)
    if label_smoothing:
        raise NotImplementedError("cross_entropy: label_smoothing with class indices is not supported yet")
    return nll_loss(logp, t, weight=weight, ignore_index=ignore_index, reduction=reduction)
