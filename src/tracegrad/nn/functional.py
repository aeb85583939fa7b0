"""``tracegrad.nn.functional``: activations and losses with PyTorch's names, defaults and node names.

Each loss is a composite of the op table (closed-form vjp, one eager node).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np

from tracegrad._contractions import einsum
from tracegrad._creation import arange, rand
from tracegrad._dispatch import apply_op, wrap
from tracegrad._dtypes import DTypeLike
from tracegrad._functions import _t as t_
from tracegrad._functions import broadcast_tensors, where
from tracegrad._grad_mode import no_grad
from tracegrad._tensor import Tensor, TensorLike
from tracegrad.ir.ops import COMPOSITES, OPS, normalize_axes, window_counts

__all__ = ["bilinear", "layer_norm", "embedding", "batch_norm", "conv1d", "conv2d", "max_pool2d", "avg_pool2d",
           "relu", "sigmoid", "tanh", "softplus", "softmax",
           "log_softmax", "logsumexp", "mse_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
           "silu", "elu", "selu", "leaky_relu", "hardtanh", "relu6", "hardsigmoid", "softsign", "gelu", "logsigmoid",
           "mish", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "normalize", "cosine_similarity", "linear",
           "one_hot", "dropout", "pad", "unfold", "fold"]


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


def _softmax_dim(x: Tensor, dim: int | None, name: str) -> int:
    if dim is None:
        # PyTorch's legacy implicit choice of dimension, with its deprecation warning.
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=3)
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return normalize_axes((dim,), x.ndim)[0] if x.ndim else 0


def softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`."""
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return apply_op(COMPOSITES["softmax"], (x,), {"axis": _softmax_dim(x, dim, "softmax")})


def log_softmax(input: TensorLike, dim: int | None = None, dtype: DTypeLike | None = None) -> Tensor:
    """x - logsumexp(x) along `dim`."""
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return apply_op(COMPOSITES["log_softmax"], (x,), {"axis": _softmax_dim(x, dim, "log_softmax")})


def logsumexp(input: TensorLike, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) along `dim`, stable for large values."""
    return _t(input).logsumexp(dim, keepdim)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: Reduction = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error."""
    return _pair_loss("mse_loss", input, target, _reduction(size_average, reduce, reduction), {})


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
    z, t = t_(input), t_(target)
    sp = softplus(-z)
    coeff = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * t
    loss = (1.0 - t) * z + coeff * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "BinaryCrossEntropyWithLogitsBackward0")


def _reduce(loss: Tensor, reduction: str, name: str | None = None) -> Tensor:
    """The loss reduced as `reduction` says; its last node renamed `name` (the one PyTorch records) if given."""
    if reduction == "mean":
        return loss.mean() if name is None else apply_op(COMPOSITES["mean"], (loss,), {"axes": None, "keepdims": False},
                                                         name)
    if reduction == "sum":
        return loss.sum() if name is None else apply_op(OPS["sum"], (loss,), {"axes": None, "keepdims": False}, name)
    return loss if name is None or not loss.requires_grad else apply_op(OPS["mul"], (loss, 1.0), {}, name)


def nll_loss(input: TensorLike, target: TensorLike, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: Reduction = "mean") -> Tensor:
    """Negative log-likelihood of class indices `target` given log-probabilities `input`.

    `input` is (C,), (N, C) or (N, C, d1, ...) with `target` (), (N,) or (N, d1, ...); `weight`
    (C,) scales each class, and ``"mean"`` divides by the total weight of the targets not equal
    to `ignore_index`, as PyTorch does.

    >>> import tracegrad as tg, tracegrad.nn.functional as F
    >>> logp = F.log_softmax(tg.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]), dim=1)
    >>> F.nll_loss(logp, tg.tensor([0, 1]), weight=tg.tensor([1.0, 2.0, 1.0]))
    tensor(0.4481)
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, t = _t(input), _t(target)
    if x.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {x.ndim})")
    if t._data.dtype.kind not in "iu":
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {t.dtype.tensor_type[:-6]}")
    if x.ndim != 1 and t.ndim >= 1 and x.shape[0] != t.shape[0]:
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size ({t.shape[0]}).")
    classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    if x.ndim == 4 and t.ndim != 3:
        raise RuntimeError(f"only batches of spatial targets supported (3D tensors) but got targets of dimension: "
                           f"{t.ndim}")
    if x.ndim >= 3 and t.shape != (x.shape[0], *x.shape[2:]):
        raise RuntimeError(f"Expected target size {list((x.shape[0], *x.shape[2:]))}, got {list(t.shape)}")
    if x.ndim <= 2 and t.ndim != x.ndim - 1:
        raise RuntimeError(f"{'0D' if x.ndim == 1 else '1D'} target tensor expected, multi-target not supported")
    if weight is None:
        w = wrap(np.ones(classes, x._data.dtype))
    else:
        w = _t(weight)
        if w.shape != (classes,):
            raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes "
                               f"but got weight tensor of shape: {list(w.shape)}")
        if w.dtype != x.dtype:
            w = w.to(x.dtype)
    td = t._data
    bad = (td != ignore_index) & ((td < 0) | (td >= classes))
    if np.any(bad):
        raise IndexError(f"Target {int(td[bad].flat[0])} is out of bounds.")
    attrs = {"reduction": reduction, "ignore_index": int(ignore_index)}
    if x.ndim == 3 or x.ndim > 4:
        # As PyTorch: spatial dimensions flattened into one, the loss of (N, C, 1, D) input, its
        # unreduced result viewed back.
        n = x.shape[0]
        loss = apply_op(COMPOSITES["nll_loss"], (x.reshape(n, classes, 1, -1), t.reshape(n, 1, -1), w), attrs)
        return loss.view(t.shape) if reduction == "none" else loss
    return apply_op(COMPOSITES["nll_loss"], (x, t, w), attrs)


def cross_entropy(input: TensorLike, target: TensorLike, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None,
                  reduction: Reduction = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the classes (dimension 1, or 0 for one sample), then the negative
    log-likelihood of class indices (see :func:`nll_loss`) or of class probabilities (`target`
    shaped as `input`).  `label_smoothing` mixes in the uniform distribution over the classes,
    with PyTorch's formulas (and its grad_fn names) for both kinds of target.

    >>> import tracegrad as tg, tracegrad.nn.functional as F
    >>> F.cross_entropy(tg.tensor([[2.0, 0.5, -1.0]]), tg.tensor([0]), label_smoothing=0.1)
    tensor(0.3913)
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x, t = _t(input), _t(target)
    class_dim = 1 if x.ndim >= 2 else 0
    n_classes = x.shape[class_dim] if x.ndim else 1
    logp = log_softmax(x, dim=class_dim)
    w = None
    if weight is not None:
        w = _t(weight)
        if w.dtype != x.dtype:
            w = w.to(x.dtype)
        w_shape = [1] * x.ndim
        if x.ndim:
            w_shape[class_dim] = n_classes
    if t._data.dtype.kind == "f":
        if t.shape != x.shape:
            raise RuntimeError(f"Expected floating point target to have the same shape as input, got {list(t.shape)} "
                               f"and {list(x.shape)}")
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / n_classes
        weighted = logp * t if w is None else logp * t * w.view(w_shape)
        if reduction == "none":
            return -weighted.sum(class_dim)
        if reduction == "sum":
            return -weighted.sum()
        count = x.numel() / n_classes if x.numel() else float("nan")
        return apply_op(OPS["div"], (-weighted.sum(), count), name="DivBackward1")  # PyTorch divides by a number
    nll = nll_loss(logp, t, weight=w, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    ignored = t == ignore_index
    smooth = -(logp.sum(class_dim) if w is None else (logp * w.view(w_shape)).sum(class_dim))
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        kept = ~ignored
        if w is None:
            total = kept.sum()
        else:  # the weights of the kept targets (PyTorch selects them; a product keeps shapes static)
            total = (w.gather(0, t.masked_fill(ignored, 0).flatten()) * kept.flatten()).sum()
        smooth = smooth.sum() / total
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)


# --------------------------------------------------------------------------
# More activations, losses and helpers
# --------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """`input` padded by (before, after) pairs, from the last dimension backwards; negative amounts
    crop.  ``"constant"`` fills with `value` (0 by default) and pads any number of dimensions;
    ``"reflect"``, ``"replicate"`` and ``"circular"`` pad the last 1, 2 or 3 dimensions of input
    with one or two more (a batch, and channels), as PyTorch's do.

    >>> import tracegrad as tg, tracegrad.nn.functional as F
    >>> F.pad(tg.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect")
    tensor([[3., 2., 1., 2., 3., 2.]])
    """
    x = _t(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > x.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {x.ndim}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value:
            raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
        dims = len(pad) // 2
        if dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2):
            raise NotImplementedError(
                f"Padding size {len(pad)} is not supported for {x.ndim}D input tensor.\n"
                "Supported combinations for non-constant padding:\n"
                "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
        if mode == "reflect":
            for k in range(dims):
                axis = x.ndim - 1 - k
                left, right = pad[2 * k], pad[2 * k + 1]
                if max(left, right) >= x.shape[axis]:
                    raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input "
                                       f"dimension, but got: padding ({left}, {right}) at dimension {axis} of input "
                                       f"{list(x.shape)}")
    for k in range(len(pad) // 2):
        axis = x.ndim - 1 - k
        if mode == "circular" and max(pad[2 * k], pad[2 * k + 1]) > x.shape[axis]:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if x.shape[axis] + pad[2 * k] + pad[2 * k + 1] < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
    return apply_op(COMPOSITES["pad"], (x,), {"pad": pad, "mode": mode, "value": 0.0 if value is None else value})


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish)."""
    return apply_op(COMPOSITES["silu"], (_t(input),))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x above 0, alpha (exp(x) - 1) at and below."""
    return apply_op(COMPOSITES["elu"], (_t(input),), {"alpha": float(alpha), "scale": 1.0, "input_scale": 1.0})


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (its node is PyTorch's ``EluBackward0``)."""
    return apply_op(COMPOSITES["elu"], (_t(input),), {"alpha": _SELU_ALPHA, "scale": _SELU_SCALE, "input_scale": 1.0})


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x above 0, negative_slope * x at and below."""
    return apply_op(COMPOSITES["leaky_relu"], (_t(input),), {"negative_slope": float(negative_slope)})


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside."""
    return apply_op(COMPOSITES["hardtanh"], (_t(input),), {"min_val": float(min_val), "max_val": float(max_val)})


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """hardtanh(x, 0, 6)."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """x / 6 + 1/2 clamped to [0, 1]."""
    return apply_op(COMPOSITES["hardsigmoid"], (_t(input),))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = _t(input)
    return x / (x.abs() + 1)


def gelu(input: Tensor, approximate: Literal["none", "tanh"] = "none") -> Tensor:
    """Gaussian error linear unit: x * Phi(x), or its tanh approximation with ``approximate="tanh"``."""
    if approximate == "tanh":
        return apply_op(COMPOSITES["gelu_tanh"], (_t(input),))
    if approximate != "none":
        raise RuntimeError("approximate argument must be either none or tanh.")
    return apply_op(COMPOSITES["gelu"], (_t(input),))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed without overflow."""
    return apply_op(COMPOSITES["logsigmoid"], (_t(input),))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return apply_op(COMPOSITES["mish"], (_t(input),))


def _pair_loss(name: str, input: Tensor, target: Tensor, reduction: str, attrs: dict) -> Tensor:
    _check_reduction(reduction)
    if tuple(_shape(target)) != tuple(_shape(input)):
        warnings.warn(f"Using a target size ({target.shape!r}) that is different to the input size "
                      f"({input.shape!r}). This will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", UserWarning, stacklevel=3)
    return apply_op(COMPOSITES[name], (_t(input), _t(target)), {"reduction": reduction, **attrs})


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: Reduction = "mean") -> Tensor:
    """Mean (or sum) absolute error."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return _reduce((_t(input) - _t(target)).abs(), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: Reduction = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere (the l1 loss at beta = 0)."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _pair_loss("smooth_l1_loss", input, target, _reduction(size_average, reduce, reduction),
                      {"beta": float(beta)})


def huber_loss(input: Tensor, target: Tensor, reduction: Reduction = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - delta / 2) elsewhere."""
    if weight is not None:
        raise NotImplementedError("huber_loss: weight is not supported yet")
    return _pair_loss("huber_loss", input, target, reduction, {"delta": float(delta)})


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence of `target` from log-probabilities `input`: sum of t (log t - input)."""
    reduction = _reduction(size_average, reduce, reduction)
    x, t = _t(input), _t(target)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        # t log t is 0 where t is 0 (xlogy), so that zero targets contribute nothing.
        loss = where(t == 0, 0.0, t * t.where(t > 0, 1.0).log()) - t * x
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    _check_reduction(reduction)
    return _reduce(loss, reduction)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """`input` divided by its p-norm along `dim` (at least `eps`)."""
    x = _t(input)
    return x / x.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(x)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between `x1` and `x2` along `dim` (each norm at least `eps`), as PyTorch computes it."""
    a, b = broadcast_tensors(_t(x1), _t(x2))
    na = a.norm(2, dim, keepdim=True).clamp_min(eps)
    nb = b.norm(2, dim, keepdim=True).clamp_min(eps)
    return ((a / na) * (b / nb)).sum(dim)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias."""
    x, w = _t(input), _t(weight)
    y = x.matmul(w.t()) if w.ndim == 2 else x.matmul(w)
    if bias is None:
        return y
    if x.ndim == 2 and w.ndim == 2:
        return apply_op(OPS["add"], (y, bias), name="AddmmBackward0")  # one node in PyTorch: addmm
    return y + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``: one einsum.

    >>> import tracegrad as tg
    >>> tg.nn.functional.bilinear(tg.tensor([1.0, 2.0]), tg.tensor([3.0]), tg.ones(1, 2, 1))
    tensor([9.])
    """
    x1, x2, w = _t(input1), _t(input2), _t(weight)
    if w.ndim != 3:
        raise RuntimeError("number of dimensions must match")
    for k, (a, b) in enumerate(zip(x1.shape[:-1], x2.shape[:-1])):
        if a != b or x1.ndim != x2.ndim:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {k}: got {a} and {b}")
    for name, x, n in (("input1", x1, w.shape[1]), ("input2", x2, w.shape[2])):
        if x.shape[-1] != n:
            raise RuntimeError(f"bilinear(): {name} size does not match weight size: got {x.shape[-1]} but "
                               f"expected {n}")
    if bias is not None and _t(bias).shape[-1] != w.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {_t(bias).shape[-1]} but "
                           f"expected {w.shape[0]}")
    y = einsum("...i,oij,...j->...o", x1, w, x2)
    if bias is None:  # PyTorch's last node: the view of its trilinear product
        return apply_op(OPS["reshape"], (y,), {"shape": y.shape}, "ViewBackward0")
    return y + bias


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices as int64 one-hot vectors along a new last dimension."""
    t = _t(tensor)
    if t._data.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(t.max().item()) + 1 if t.numel() else 0
    if t.numel() and (t.min().item() < 0 or t.max().item() >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes." if t.min().item() >= 0
                           else "Class values must be non-negative.")
    return (t.unsqueeze(-1) == arange(num_classes)).long()


def _renamed(t: Tensor, name: str) -> Tensor:
    """`t` as the output of a node called `name` (PyTorch's one node for what is composed here)."""
    return apply_op(OPS["reshape"], (t,), {"shape": t.shape}, name) if t.requires_grad else t


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dimensions (mean 0, biased variance 1, `eps` added
    to the variance), then scale by `weight` and shift by `bias`.

    >>> import tracegrad as tg
    >>> tg.nn.functional.layer_norm(tg.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    x = _t(input)
    shape = tuple([normalized_shape] if isinstance(normalized_shape, int) else normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{x.shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(dims, keepdim=True)
    centred = x - mean
    y = centred * ((centred * centred).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return _renamed(y, "NativeLayerNormBackward0")


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by the integer indices `input` (shape ``input.shape + (dim,)``); rows at
    `padding_idx` get no gradient."""
    idx, w = _t(input), _t(weight)
    if idx._data.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {idx.dtype.tensor_type[:-6]} instead (while checking arguments for "
                           "embedding)")
    if idx.numel() and (int(idx.max().item()) >= w.shape[0] or int(idx.min().item()) < -w.shape[0]):
        raise IndexError("index out of range in self")
    rows = w[idx]
    if padding_idx is not None:
        padding = (idx == padding_idx % w.shape[0]).unsqueeze(-1)
        rows = rows.detach().where(padding, rows)
    return _renamed(rows, "EmbeddingBackward0")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dimension 1) over the batch and the other dimensions: with the batch's
    mean and biased variance when `training` (updating the running statistics in place, the variance
    unbiased), else with the running statistics."""
    x = _t(input)
    channels = x.shape[1] if x.ndim > 1 else 1
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None and stat.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {stat.numel()}")
    dims = tuple(d for d in range(x.ndim) if d != 1)
    shape = tuple(channels if d == 1 else 1 for d in range(x.ndim))
    if training:
        count = x.numel() // channels
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
        mean = x.mean(dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mean.detach().reshape(-1) * momentum)
                running_var.mul_(1 - momentum).add_(var.detach().reshape(-1) * (momentum * count / (count - 1)))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        centred = x - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    y = centred * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return _renamed(y, "NativeBatchNormBackward0")


def _pair(value: int | Sequence[int], name: str, dims: int = 2) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * dims
    if len(value) != dims:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {dims} values to match the "
                           f"convolution dimensions, but got {name}={list(value)}")
    return value


def _patches(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """The (kh * kw) windows of x (N, C, H, W) as a new axis 2: (N, C, kh * kw, Ho, Wo), by the table's
    ``unfold`` (im2col)."""
    ho, wo = window_counts(x.shape[-2:], kernel, stride, dilation)
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"Calculated output size: ({max(ho, 0)}x{max(wo, 0)}). Output size is too small")
    return apply_op(COMPOSITES["unfold"], (x,), {"kernel": tuple(kernel), "stride": tuple(stride),
                                          "dilation": tuple(dilation)})


def _block_settings(kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> tuple[tuple[int, int], ...]:
    return (_pair(kernel_size, "kernel_size"), _pair(dilation, "dilation"), _pair(padding, "padding"),
            _pair(stride, "stride"))


def unfold(input: Tensor, kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1,
           padding: int | Sequence[int] = 0, stride: int | Sequence[int] = 1) -> Tensor:
    """im2col, as PyTorch's: the sliding blocks of (N, C, H, W) input as columns, (N, C * kh * kw, L) with
    L blocks (channel-major, then kernel row and column); unbatched (C, H, W) input gives (C kh kw, L).

    >>> import tracegrad as tg
    >>> tg.nn.functional.unfold(tg.arange(9.0).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    x = _t(input)
    if x.ndim < 3:  # PyTorch reads dimension 2 first
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(x.ndim, 1)}, "
                         f"{max(x.ndim, 1) - 1}], but got 2)")
    if x.ndim > 4:
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {x.ndim}D)")
    unbatched = x.ndim == 3
    x = x.unsqueeze(0) if unbatched else x
    kernel, dilation_, pads, stride_ = _block_settings(kernel_size, dilation, padding, stride)
    blocks = window_counts([n + 2 * p_ for n, p_ in zip(x.shape[-2:], pads)], kernel, stride_, dilation_)
    if min(blocks) < 1:
        raise RuntimeError(f"Given input with spatial size ({x.shape[-2]}, {x.shape[-1]}), kernel_size={kernel}, "
                           f"dilation={dilation_}, padding={pads}, calculated shape of the array of sliding blocks "
                           f"as ({blocks[0]}, {blocks[1]}), but its components must be at least one.")
    if any(pads):
        x = pad(x, (pads[1], pads[1], pads[0], pads[0]))
    cols = _patches(x, kernel, stride_, dilation_)
    out = cols.reshape(x.shape[0], -1, blocks[0] * blocks[1])
    return _renamed(out.squeeze(0) if unbatched else out, "Im2ColBackward0")


def fold(input: Tensor, output_size: int | Sequence[int], kernel_size: int | Sequence[int],
         dilation: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
         stride: int | Sequence[int] = 1) -> Tensor:
    """col2im, :func:`unfold`'s adjoint: (N, C * kh * kw, L) columns summed back into (N, C, H, W) with
    (H, W) = `output_size` (overlapping blocks add up); unbatched (C kh kw, L) gives (C, H, W)."""
    g = _t(input)
    if g.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {g.ndim}D)")
    unbatched = g.ndim == 2
    g = g.unsqueeze(0) if unbatched else g
    size = _pair(output_size, "output_size")
    kernel, dilation_, pads, stride_ = _block_settings(kernel_size, dilation, padding, stride)
    area = kernel[0] * kernel[1]
    if g.shape[1] % area:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={g.shape[1]} and kernel_size={kernel}.")
    blocks = window_counts([n + 2 * p_ for n, p_ in zip(size, pads)], kernel, stride_, dilation_)
    if blocks[0] * blocks[1] != g.shape[2]:
        raise RuntimeError(f"Given output_size={size}, kernel_size={kernel}, dilation={dilation_}, padding={pads}, "
                           f"stride={stride_}, expected size of input's dimension 2 to match the calculated number "
                           f"of sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
                           f"input.size(2)={g.shape[2]}.")
    cols = g.reshape(g.shape[0], g.shape[1] // area, area, blocks[0], blocks[1])
    padded = (size[0] + 2 * pads[0], size[1] + 2 * pads[1])
    out = apply_op(COMPOSITES["fold"], (cols,), {"size": padded, "kernel": kernel, "stride": stride_,
                                                 "dilation": dilation_})
    if any(pads):
        out = out[:, :, pads[0]:pads[0] + size[0], pads[1]:pads[1] + size[1]]
    return _renamed(out.squeeze(0) if unbatched else out, "Col2ImBackward0")


def _batched(x: Tensor, spatial: int, name: str) -> tuple[Tensor, bool]:
    """`x` with a batch dimension (unbatched input gets one, removed again by the caller)."""
    if x.ndim == spatial + 1:
        return x.unsqueeze(0), True
    if x.ndim != spatial + 2:
        raise RuntimeError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {name}, but got "
                           f"input of size: {list(x.shape)}")
    return x, False


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] | str = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C, H, W) input with (O, C / groups, kh, kw) weights, as PyTorch's (zero
    padding, ``"valid"`` or ``"same"``, strides, dilation, groups).  Written as im2col and one product per
    group: slices of the input stacked per kernel offset, then a matrix product with the weights.

    >>> import tracegrad as tg
    >>> tg.nn.functional.conv2d(tg.ones(1, 1, 3, 3), tg.ones(1, 1, 2, 2)).shape
    torch.Size([1, 1, 2, 2])
    """
    x, unbatched = _batched(_t(input), 2, "conv2d")
    w = _t(weight)
    if w.ndim != 4:
        raise RuntimeError(f"weight should have 4 dimensions (out_channels, in_channels / groups, kh, kw), got "
                           f"{list(w.shape)}")
    n, c, h, width = x.shape
    out_channels, per_group, kh, kw = w.shape
    if c != per_group * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(w.shape)}, expected input{list(x.shape)} to "
                           f"have {per_group * groups} channels, but got {c} channels instead")
    stride_, dilation_ = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride_ != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for d, k in zip(dilation_, (kh, kw))]
            pads = (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2)
        else:
            raise RuntimeError(f"Invalid padding string '{padding}'")
    else:
        ph, pw = _pair(padding, "padding")
        pads = (pw, pw, ph, ph)
    if any(pads):
        x = pad(x, pads)
    if any(d * (k - 1) + 1 > size for d, k, size in zip(dilation_, (kh, kw), x.shape[-2:])):
        raise RuntimeError(f"Calculated padded input size per channel: ({x.shape[-2]} x {x.shape[-1]}). Kernel size: "
                           f"({kh} x {kw}). Kernel size can't be greater than actual input size")
    cols = _patches(x, (kh, kw), stride_, dilation_)  # (N, C, kh*kw, Ho, Wo)
    ho, wo = cols.shape[-2:]
    # One product per group over the whole batch, (O/G, P) @ (P, N L): a few large products where one
    # per sample and group was many small ones (their calls cost more than their arithmetic).
    patch = per_group * kh * kw
    cols = cols.reshape(n, groups, patch, ho * wo).permute(1, 2, 0, 3).reshape(groups, patch, n * ho * wo)
    kernels = w.reshape(groups, out_channels // groups, patch)
    out = (kernels @ cols).reshape(groups, out_channels // groups, n, ho * wo).permute(2, 0, 1, 3)
    out = out.reshape(n, out_channels, ho, wo)
    if bias is not None:
        out = out + _t(bias).reshape(out_channels, 1, 1)
    return _renamed(out.squeeze(0) if unbatched else out, "ConvolutionBackward0")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] | str = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of (N, C, L) input with (O, C / groups, k) weights: :func:`conv2d` on a height
    of one."""
    x, unbatched = _batched(_t(input), 1, "conv1d")
    w = _t(weight)
    if w.ndim != 3:
        raise RuntimeError(f"weight should have 3 dimensions (out_channels, in_channels / groups, k), got "
                           f"{list(w.shape)}")
    pad_ = padding if isinstance(padding, str) else (0, _pair(padding, "padding", 1)[0])
    out = conv2d(x.unsqueeze(2), w.unsqueeze(2), bias, (1, _pair(stride, "stride", 1)[0]), pad_,
                 (1, _pair(dilation, "dilation", 1)[0]), groups)
    out = out.squeeze(2)
    return _renamed(out.squeeze(0) if unbatched else out, "ConvolutionBackward0")


def _pool_size(size: int, k: int, stride: int, pad_: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size; with `ceil_mode` a last partial window counts if it starts inside
    the input or its left padding."""
    (out,) = window_counts([size + 2 * pad_ + (stride - 1 if ceil_mode else 0)], [k], [stride], [dilation])
    if ceil_mode and (out - 1) * stride >= size + pad_:
        out -= 1
    return out


def _pool_setup(x: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
                padding: int | Sequence[int], dilation: int | Sequence[int], ceil_mode: bool, name: str,
                fill: float) -> tuple[Tensor, Any, bool]:
    """The input batched and padded (the padding, then what `ceil_mode`'s last windows overhang, with
    `fill`), and ``(kernel, stride, dilation, padding, overhang)``."""
    x, unbatched = _batched(x, 2, name)
    kernel = _pair(kernel_size, "kernel_size")
    no_stride = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    stride_ = kernel if no_stride else _pair(stride, "stride")
    dilation_ = _pair(dilation, "dilation")
    pads = _pair(padding, "padding")
    for p_, k, d in zip(pads, kernel, dilation_):
        if p_ > k // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p_}, "
                               f"kernel_size={k} and dilation={d}")
    sizes = [_pool_size(n, k, s_, p_, d, ceil_mode) for n, k, s_, p_, d in
             zip(x.shape[-2:], kernel, stride_, pads, dilation_)]
    if any(n <= 0 for n in sizes):
        raise RuntimeError(f"Given input size: ({x.shape[1]}x{x.shape[2]}x{x.shape[3]}). Calculated output size: "
                           f"({x.shape[1]}x{sizes[0]}x{sizes[1]}). Output size is too small")
    # ceil_mode's last window may reach past the padded input: pad that overhang too (it holds no element)
    overhang = [max(0, (n - 1) * s_ + d * (k - 1) + 1 - (size + 2 * p_)) for n, s_, d, k, size, p_ in
                zip(sizes, stride_, dilation_, kernel, x.shape[-2:], pads)]
    if any(pads) or any(overhang):
        x = pad(x, (pads[1], pads[1] + overhang[1], pads[0], pads[0] + overhang[0]), value=fill)
    return x, (kernel, stride_, dilation_, pads, overhang), unbatched


def max_pool2d(input: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """The largest value of each window; the gradient goes to the first largest (as PyTorch's).  With
    `return_indices`, also where each came from: its flat position in the input's (H, W) plane."""
    source = _t(input)
    x, (kernel, stride_, dilation_, pads, _), unbatched = _pool_setup(
        source, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d", -math.inf)
    patches = _patches(x, kernel, stride_, dilation_)
    first = patches.detach().argmax(2, keepdim=True)
    chosen = first == arange(patches.shape[2]).reshape(1, 1, -1, 1, 1)
    # One product-free pick per window (where, then a sum of one value and zeros): its gradient is a
    # mask, where a gather's would scatter.
    out = where(chosen, patches, 0.0).sum(2)
    out = _renamed(out.squeeze(0) if unbatched else out, "MaxPool2DWithIndicesBackward0")
    if not return_indices:
        return out
    ho, wo = out.shape[-2:]
    row = arange(ho).reshape(-1, 1) * stride_[0] - pads[0] + (first.squeeze(2) // kernel[1]) * dilation_[0]
    col = arange(wo).reshape(1, -1) * stride_[1] - pads[1] + (first.squeeze(2) % kernel[1]) * dilation_[1]
    indices = row * source.shape[-1] + col
    return out, (indices.squeeze(0) if unbatched else indices)


def avg_pool2d(input: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean of each window: padding counts as zeros unless `count_include_pad` is False; what
    `ceil_mode`'s last windows overhang never counts."""
    source = _t(input)
    x, (kernel, stride_, _, pads, overhang), unbatched = _pool_setup(
        source, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d", 0.0)
    total = _patches(x, kernel, stride_, (1, 1)).sum(2)
    if divisor_override is not None:
        out = total / divisor_override
    elif (count_include_pad or not any(pads)) and not any(overhang):
        out = total / (kernel[0] * kernel[1])
    else:  # per window, the number of positions it counts: a constant of the shapes
        counted = np.ones(tuple(source.shape[-2:]), dtype=np.float64)
        counted = np.pad(counted, [(p_, p_) for p_ in pads], constant_values=1.0 if count_include_pad else 0.0)
        counted = np.pad(counted, [(0, o) for o in overhang])[None, None]
        divisor = COMPOSITES["unfold"].fused(counted, kernel=kernel, stride=stride_, dilation=(1, 1)).sum(2)
        out = total / wrap(divisor.astype(x._data.dtype))
    return _renamed(out.squeeze(0) if unbatched else out, "AvgPool2DBackward0")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability `p` and scale the rest by 1 / (1 - p), when `training`.

    The mask comes from tracegrad's generator (``tg.manual_seed`` makes it reproducible; the
    numbers are not PyTorch's).  Inside a compiled function the mask is a constant of the trace.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _t(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = (rand(*x.shape) >= p).to(x.dtype) / (1.0 - p)
    return apply_op(OPS["mul"], (x, keep), name="NativeDropoutBackward0")
