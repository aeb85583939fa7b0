"""numpy functions called on Tensors: the ones with a tracegrad op run as that op, so they trace.

``np.exp(x)``, ``np.sum(x * x, axis=0)`` or ``x_array * t`` reach Tensor through numpy's
``__array_ufunc__`` / ``__array_function__`` protocols.  The subset below maps to tracegrad
ops (eagerly as under tracing, returning Tensors as PyTorch's numpy interop does); any other
numpy function sees the tensors' arrays.  While tracing, such a function on a value that
depends on a differentiated argument would drop that dependence silently, so it raises an
error naming the call and the user's line instead.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tracegrad._dispatch import wrap
from tracegrad._grad_mode import STATE
from tracegrad._tensor import Tensor
from tracegrad._trace import TRACE, depends_on_differentiated, differentiated_value_error

__all__ = ["ufunc", "function", "connect", "UFUNCS", "FUNCTIONS"]

#: numpy ufunc name -> tracegrad function name
UFUNCS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "negative": "neg", "power": "pow", "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1",
    "sin": "sin", "cos": "cos", "tanh": "tanh", "sqrt": "sqrt", "absolute": "abs", "maximum": "maximum",
    "minimum": "minimum", "square": "square", "reciprocal": "reciprocal", "sign": "sign", "greater": "gt",
    "greater_equal": "ge", "less": "lt", "less_equal": "le", "equal": "eq", "not_equal": "ne",
    "logical_and": "logical_and", "logical_or": "logical_or", "logical_not": "logical_not", "isnan": "isnan",
    "isinf": "isinf", "isfinite": "isfinite", "matmul": "matmul",
}


class _Package:
    """The tracegrad package, whose function of a numpy name a mapped call runs.  It is built on this
    module, so it hands itself over as it loads (:func:`connect`) rather than being imported here."""

    namespace: Any = None


PACKAGE = _Package()


def connect(package: Any) -> None:
    """Make `package` (the loaded ``tracegrad`` module) the namespace mapped numpy names resolve in."""
    PACKAGE.namespace = package


def _reduction(method):
    def call(a, axis=None, dtype=None, out=None, keepdims=False, **unused):
        if out is not None or unused:
            return NotImplemented
        t = _as_tensor(a)
        if dtype is not None:
            t = t.to(np.dtype(dtype))
        return getattr(t, method)(dim=axis, keepdim=bool(keepdims))
    return call


def _extreme(method):
    def call(a, axis=None, out=None, keepdims=False, **unused):
        if out is not None or unused:
            return NotImplemented
        dims = () if axis is None else axis
        return getattr(_as_tensor(a), method)(dim=dims, keepdim=bool(keepdims))
    return call


def _tg(name):
    def call(*args, **kwargs):
        return getattr(PACKAGE.namespace, name)(*args, **kwargs)
    return call


def _axis_call(name):
    def call(arrays, axis=0, out=None, **unused):
        if out is not None or unused:
            return NotImplemented
        return getattr(PACKAGE.namespace, name)([_as_tensor(a) for a in arrays], dim=axis)
    return call


#: numpy function name -> implementation on Tensors (NotImplemented: arguments it does not take)
FUNCTIONS = {
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "max": _extreme("amax"), "amax": _extreme("amax"),
    "min": _extreme("amin"), "amin": _extreme("amin"),
    "dot": lambda a, b, out=None: NotImplemented if out is not None else _as_tensor(a) @ _as_tensor(b),
    "where": lambda cond, x=None, y=None: (NotImplemented if x is None or y is None
                                           else _tg("where")(_as_tensor(cond), x, y)),
    "reshape": lambda a, shape=None, order="C", **kw: (
        _as_tensor(a).reshape(tuple(np.atleast_1d(kw.get("newshape", shape))))
        if order == "C" else NotImplemented),
    "transpose": lambda a, axes=None: (_as_tensor(a).permute(*(reversed(range(_as_tensor(a).ndim))
                                                               if axes is None else axes))),
    "stack": _axis_call("stack"),
    "concatenate": _axis_call("cat"),
    "clip": lambda a, a_min=None, a_max=None, out=None, **kw: (
        NotImplemented if out is not None or kw else _tg("clamp")(_as_tensor(a), a_min, a_max)),
    "squeeze": lambda a, axis=None: _as_tensor(a).squeeze() if axis is None else _as_tensor(a).squeeze(axis),
    "expand_dims": lambda a, axis: _as_tensor(a).unsqueeze(axis),
}


def _as_tensor(a):
    return a if isinstance(a, Tensor) else wrap(np.asarray(a))


def _tensors(values):
    """Tensors among `values`, also inside (nested) lists and tuples."""
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _tensors(v)


def _to_arrays(v):
    if isinstance(v, Tensor):
        return v.__array__()
    if isinstance(v, (list, tuple)):
        return type(v)(_to_arrays(x) for x in v)
    return v


def _check_traceable(name: str, tensors) -> None:
    """Raise when numpy would see the array of a traced value that depends on a differentiated argument."""
    for t in tensors:
        if depends_on_differentiated(t):
            raise differentiated_value_error(f"np.{name}()", t)


def ufunc(ufunc_obj, method: str, inputs, kwargs):
    """Tensor.__array_ufunc__: a mapped ufunc as its tracegrad op; any other on the arrays."""
    tensors = list(_tensors(inputs))
    name = UFUNCS.get(ufunc_obj.__name__)
    on_tape = STATE.enabled and not TRACE.builders and any(t.requires_grad for t in tensors)
    if method == "__call__" and name is not None and not kwargs and not on_tape:
        return getattr(PACKAGE.namespace, name)(*inputs)
    if TRACE.builders:
        _check_traceable(ufunc_obj.__name__, tensors)
    return getattr(ufunc_obj, method)(*_to_arrays(inputs), **kwargs)


def function(func, args, kwargs):
    """Tensor.__array_function__: a mapped function on Tensors; any other on the arrays."""
    tensors = list(_tensors(list(args) + list(kwargs.values())))
    impl = FUNCTIONS.get(func.__name__)
    on_tape = STATE.enabled and not TRACE.builders and any(t.requires_grad for t in tensors)
    if impl is not None and not on_tape and (func.__module__ or "").startswith("numpy"):
        result = impl(*args, **kwargs)
        if result is not NotImplemented:
            return result
    if TRACE.builders:
        module = (func.__module__ or "numpy").replace("numpy._core.", "").replace("numpy.", "")
        label = func.__name__ if module in ("numpy", "fromnumeric", "multiarray", "numeric") else \
            f"{os.path.basename(module)}.{func.__name__}"
        _check_traceable(label, tensors)
    return func(*_to_arrays(list(args)), **{k: _to_arrays(v) for k, v in kwargs.items()})
