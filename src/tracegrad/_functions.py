"""Module-level functions (``tracegrad.exp``, ``tracegrad.matmul`` ...) with PyTorch's signatures.

Each one is a thin entry into :func:`tracegrad._tensor.apply_op` or a Tensor
method; ops themselves live in the op table.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tracegrad._tensor import Tensor, apply_op, wrap
from tracegrad.ir.ops import COMPOSITES, OPS, normalize_axes

_EMPTY: dict = {}


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else wrap(np.asarray(x))


def _method_function(name):
    def fn(input, *args, **kwargs):
        return getattr(_t(input), name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"``tracegrad.{name}(input, ...)`` is ``input.{name}(...)``."
    return fn


_METHOD_FUNCTIONS = [
    "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt", "neg", "negative",
    "sign", "square", "reciprocal", "rsqrt", "logical_not", "sum", "mean", "amax", "amin", "argmax", "argmin",
    "norm", "all", "any", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "swapaxes", "t",
    "clamp", "clip", "clamp_min", "clamp_max", "softmax", "log_softmax", "logsumexp", "broadcast_to", "mm",
    "dot", "numel", "clone", "detach",
]
for _name in _METHOD_FUNCTIONS:
    globals()[_name] = _method_function(_name)
del _name


def _binary_function(name, method):
    def fn(input, other):
        if not isinstance(input, Tensor):
            input = wrap(np.asarray(input)) if not isinstance(input, (int, float, bool)) else input
            if not isinstance(input, Tensor):
                return getattr(_t(other), method)(input)
        return getattr(input, method)(other)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting and type promotion."
    return fn


add = _binary_function("add", "__add__")
mul = multiply = _binary_function("mul", "__mul__")
div = divide = true_divide = _binary_function("div", "__truediv__")
eq = _binary_function("eq", "__eq__")
ne = _binary_function("ne", "__ne__")
lt = less = _binary_function("lt", "__lt__")
le = less_equal = _binary_function("le", "__le__")
gt = greater = _binary_function("gt", "__gt__")
ge = greater_equal = _binary_function("ge", "__ge__")
logical_and = _binary_function("logical_and", "__and__")
logical_or = _binary_function("logical_or", "__or__")


def sub(input, other, *, alpha=1):
    """``input - alpha * other``."""
    return _t(input).sub(other, alpha=alpha) if isinstance(input, Tensor) else input - other * alpha


subtract = sub


def pow(input, exponent):
    """``input ** exponent``; either may be a number."""
    if isinstance(input, Tensor):
        return input ** exponent
    return _t(exponent).__rpow__(input)


def maximum(input, other):
    """Elementwise maximum (the gradient is shared at ties)."""
    return apply_op(OPS["maximum"], (input, other))


def minimum(input, other):
    """Elementwise minimum (the gradient is shared at ties)."""
    return apply_op(OPS["minimum"], (input, other))


def matmul(input, other):
    """Matrix product with ``torch.matmul`` semantics (vectors, matrices, broadcast batches)."""
    return apply_op(OPS["matmul"], (input, other))


def where(condition, input=None, other=None):
    """``input`` where `condition` holds, else ``other`` (either may be a number)."""
    cond = _t(condition)
    if input is None and other is None:
        return tuple(wrap(a) for a in np.nonzero(cond._data))
    if cond._data.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{cond.dtype.tensor_type[:-6]}")
    return apply_op(OPS["where"], (cond, input, other))


def _dim_of(tensors, dim, extra=0):
    return normalize_axes((dim,), tensors[0].ndim + extra)[0] if tensors[0].ndim + extra else 0


def cat(tensors, dim=0):
    """Concatenate tensors along an existing dimension."""
    tensors = [_t(x) for x in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    return apply_op(OPS["concat"], tuple(tensors), {"axis": _dim_of(tensors, dim)})


concat = concatenate = cat


def stack(tensors, dim=0):
    """Stack tensors of one shape along a new dimension."""
    tensors = [_t(x) for x in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(x.shape)} at entry {i}")
    return apply_op(COMPOSITES["stack"], tuple(tensors), {"axis": _dim_of(tensors, dim, 1)})


class _MinMax(namedtuple("_MinMax", ["values", "indices"])):
    """``(values, indices)`` of max/min over a dimension, printed as PyTorch prints it."""

    _kind = "max"

    def __repr__(self):
        return f"torch.return_types.{self._kind}(\nvalues={self.values!r},\nindices={self.indices!r})"


class _Max(_MinMax):
    _kind = "max"


class _Min(_MinMax):
    _kind = "min"


def return_types_minmax(x: Tensor, dim, keepdim: bool, largest: bool):
    """Values and indices of the max (or min) of `x` along `dim`; the gradient goes to the index."""
    data = x._data
    name = "MaxBackward0" if largest else "MinBackward0"
    kind = _Max if largest else _Min
    if data.ndim == 0:
        return kind(apply_op(OPS["reshape"], (x,), {"shape": ()}, name), wrap(np.zeros((), dtype=np.int64)))
    d = normalize_axes((dim,), data.ndim)[0]
    if data.shape[d] == 0:
        raise IndexError(f"{'max' if largest else 'min'}(): Expected reduction dim {d} to have non-zero size.")
    idx = apply_op(OPS["argmax"], (x if largest else -x,), {"axis": d, "keepdims": True})
    grids = np.indices(idx.shape, sparse=True)
    arrays = [idx if i == d else grids[i] for i in range(data.ndim)]
    spec = (("array",),) * data.ndim
    values = apply_op(OPS["index"], (x, *arrays), {"spec": spec}, name)
    indices = idx
    if not keepdim:
        shape = tuple(n for i, n in enumerate(idx.shape) if i != d)
        values = apply_op(OPS["reshape"], (values,), {"shape": shape}, name)
        indices = idx.reshape(shape)
    return kind(values, indices)


def max(input, dim=None, keepdim=False):
    """Maximum of all elements; along `dim` a (values, indices) pair; with a tensor, elementwise."""
    return _t(input).max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """Minimum of all elements; along `dim` a (values, indices) pair; with a tensor, elementwise."""
    return _t(input).min(dim, keepdim)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """True when all elements are close (numpy's rule)."""
    return _t(input).allclose(_t(other), rtol, atol, equal_nan)


def equal(input, other) -> bool:
    """True when both tensors have the same shape and elements."""
    return _t(input).equal(_t(other))


def isnan(input):
    return wrap(np.isnan(_t(input)._data))


def isinf(input):
    return wrap(np.isinf(_t(input)._data))


def isfinite(input):
    return wrap(np.isfinite(_t(input)._data))
