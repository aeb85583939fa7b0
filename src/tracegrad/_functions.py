"""Module-level functions (``tracegrad.exp``, ``tracegrad.matmul`` ...) with PyTorch's signatures.

Each one is a thin entry into :func:`tracegrad._dispatch.apply_op` or a Tensor
method; ops themselves live in the op table.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, TypeVar, overload

import numpy as np

from tracegrad._dispatch import apply_op, wrap
from tracegrad._tensor import (
    _CPU,
    DeviceLike,
    Dims,
    MinMax,
    Number,
    Size,
    Tensor,
    TensorLike,
    _Device,
    _dims,
    select_where,
)
from tracegrad.ir.ops import COMPOSITES, OPS, normalize_axes

# max, min, pow, abs, sum, all and any shadow the builtins here and in the package namespace on purpose:
# that is PyTorch's API.
__all__ = [
    "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sqrt", "neg", "negative",
    "sign", "square", "reciprocal", "rsqrt", "logical_not", "sum", "mean", "amax", "amin", "argmax", "argmin",
    "norm", "all", "any", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "swapaxes", "t",
    "clamp", "clip", "clamp_min", "clamp_max", "softmax", "log_softmax", "logsumexp", "broadcast_to", "mm",
    "dot", "numel", "clone", "detach", "diagonal", "trace", "tril", "triu", "narrow", "split", "chunk", "unbind",
    "movedim", "moveaxis", "unflatten", "flip", "roll", "tile", "index_select", "masked_fill", "broadcast_tensors",
    "broadcast_shapes", "erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma", "mvlgamma", "cummax", "cummin",
    "aminmax", "mode", "var", "std", "var_mean", "std_mean",
    "add", "mul", "multiply", "div", "divide", "true_divide", "remainder", "count_nonzero",
    "gather", "scatter_add", "take_along_dim", "mv", "bmm", "outer", "ger", "addmm", "baddbmm", "diag",
    "diag_embed", "repeat_interleave", "masked_select", "eq", "ne", "lt", "less", "le", "less_equal",
    "gt", "greater", "ge", "greater_equal", "logical_and", "logical_or",
    "sub", "subtract", "pow", "maximum", "minimum", "matmul", "where", "cat", "concat", "concatenate", "stack",
    "max", "min", "allclose", "equal", "isnan", "isinf", "isfinite", "is_floating_point", "device",
    "asin", "arcsin", "acos", "arccos", "tan", "atan", "arctan", "sinh", "cosh", "asinh", "arcsinh", "acosh", "arccosh",
    "atanh", "arctanh", "log2", "log10", "exp2", "floor", "ceil", "trunc", "fix", "round", "frac", "atan2",
    "arctan2", "hypot", "logaddexp", "fmod", "xlogy", "lerp", "addcmul", "addcdiv", "nan_to_num",
    "cumsum", "cumprod", "prod", "argsort", "sort", "msort", "topk", "kthvalue", "median", "scatter",
    "index_add"
]

_EMPTY: dict = {}
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _t(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else wrap(np.asarray(x))


def _method_function(method: Callable[Concatenate[Tensor, _P], _R],
                     name: str | None = None) -> Callable[Concatenate[TensorLike, _P], _R]:
    """``tracegrad.<name>(input, ...)``, which is ``input.<name>(...)``, with the method's signature.

    `name` is needed where the method is an alias (``Tensor.clip`` is ``Tensor.clamp``).
    """
    attr = name or method.__name__

    def fn(input: TensorLike, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        # Looked up by name on each call, as a method call would be.
        return getattr(_t(input), attr)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = attr
    doc = inspect.getdoc(method)
    fn.__doc__ = f"``tracegrad.{attr}(input, ...)`` is ``input.{attr}(...)``." + (f"\n\n{doc}" if doc else "")
    sig = inspect.signature(method)
    self_param, *rest = sig.parameters.values()
    params = [self_param.replace(name="input", annotation="TensorLike"), *rest]
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    # The method's annotations are strings naming things in tracegrad._tensor; typing.get_type_hints
    # resolves them in the globals of __wrapped__, so they need not be importable here.
    fn.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not p.empty}
    if sig.return_annotation is not sig.empty:
        fn.__annotations__["return"] = sig.return_annotation
    fn.__wrapped__ = method  # type: ignore[attr-defined]
    return fn


exp = _method_function(Tensor.exp)
log = _method_function(Tensor.log)
log1p = _method_function(Tensor.log1p)
expm1 = _method_function(Tensor.expm1)
sin = _method_function(Tensor.sin)
cos = _method_function(Tensor.cos)
tanh = _method_function(Tensor.tanh)
sigmoid = _method_function(Tensor.sigmoid)
relu = _method_function(Tensor.relu)
abs = _method_function(Tensor.abs)
sqrt = _method_function(Tensor.sqrt)
neg = _method_function(Tensor.neg)
negative = _method_function(Tensor.negative, "negative")
sign = _method_function(Tensor.sign)
square = _method_function(Tensor.square)
reciprocal = _method_function(Tensor.reciprocal)
rsqrt = _method_function(Tensor.rsqrt)
logical_not = _method_function(Tensor.logical_not)
sum = _method_function(Tensor.sum)
mean = _method_function(Tensor.mean)
amax = _method_function(Tensor.amax)
amin = _method_function(Tensor.amin)
argmax = _method_function(Tensor.argmax)
argmin = _method_function(Tensor.argmin)
norm = _method_function(Tensor.norm)
all = _method_function(Tensor.all)
any = _method_function(Tensor.any)
reshape = _method_function(Tensor.reshape)
flatten = _method_function(Tensor.flatten)
squeeze = _method_function(Tensor.squeeze)
unsqueeze = _method_function(Tensor.unsqueeze)
permute = _method_function(Tensor.permute)
transpose = _method_function(Tensor.transpose)
swapaxes = _method_function(Tensor.swapaxes, "swapaxes")
t = _method_function(Tensor.t)
clamp = _method_function(Tensor.clamp)
clip = _method_function(Tensor.clip, "clip")
clamp_min = _method_function(Tensor.clamp_min)
clamp_max = _method_function(Tensor.clamp_max)
softmax = _method_function(Tensor.softmax)
log_softmax = _method_function(Tensor.log_softmax)
logsumexp = _method_function(Tensor.logsumexp)
broadcast_to = _method_function(Tensor.broadcast_to)
mm = _method_function(Tensor.mm)
dot = _method_function(Tensor.dot)
numel = _method_function(Tensor.numel)
clone = _method_function(Tensor.clone)
detach = _method_function(Tensor.detach)
diagonal = _method_function(Tensor.diagonal)
trace = _method_function(Tensor.trace)
tril = _method_function(Tensor.tril)
triu = _method_function(Tensor.triu)
narrow = _method_function(Tensor.narrow)
split = _method_function(Tensor.split)
chunk = _method_function(Tensor.chunk)
unbind = _method_function(Tensor.unbind)
movedim = _method_function(Tensor.movedim)
moveaxis = _method_function(Tensor.moveaxis, "moveaxis")
unflatten = _method_function(Tensor.unflatten)
flip = _method_function(Tensor.flip)
roll = _method_function(Tensor.roll)
tile = _method_function(Tensor.tile)
index_select = _method_function(Tensor.index_select)
gather = _method_function(Tensor.gather)
mv = _method_function(Tensor.mv)
bmm = _method_function(Tensor.bmm)
outer = _method_function(Tensor.outer)
ger = _method_function(Tensor.ger, "ger")
addmm = _method_function(Tensor.addmm)
baddbmm = _method_function(Tensor.baddbmm)
diag = _method_function(Tensor.diag)
diag_embed = _method_function(Tensor.diag_embed)
repeat_interleave = _method_function(Tensor.repeat_interleave)
masked_select = _method_function(Tensor.masked_select)
scatter_add = _method_function(Tensor.scatter_add)
take_along_dim = _method_function(Tensor.take_along_dim)
masked_fill = _method_function(Tensor.masked_fill)
erf = _method_function(Tensor.erf)
asin = _method_function(Tensor.asin)
arcsin = _method_function(Tensor.arcsin, "arcsin")
acos = _method_function(Tensor.acos)
arccos = _method_function(Tensor.arccos, "arccos")
tan = _method_function(Tensor.tan)
atan = _method_function(Tensor.atan)
arctan = _method_function(Tensor.arctan, "arctan")
sinh = _method_function(Tensor.sinh)
cosh = _method_function(Tensor.cosh)
asinh = _method_function(Tensor.asinh)
arcsinh = _method_function(Tensor.arcsinh, "arcsinh")
acosh = _method_function(Tensor.acosh)
arccosh = _method_function(Tensor.arccosh, "arccosh")
atanh = _method_function(Tensor.atanh)
arctanh = _method_function(Tensor.arctanh, "arctanh")
log2 = _method_function(Tensor.log2)
log10 = _method_function(Tensor.log10)
exp2 = _method_function(Tensor.exp2)
floor = _method_function(Tensor.floor)
ceil = _method_function(Tensor.ceil)
trunc = _method_function(Tensor.trunc)
fix = _method_function(Tensor.fix, "fix")
round = _method_function(Tensor.round)
frac = _method_function(Tensor.frac)
atan2 = _method_function(Tensor.atan2)
arctan2 = _method_function(Tensor.arctan2, "arctan2")
hypot = _method_function(Tensor.hypot)
logaddexp = _method_function(Tensor.logaddexp)
fmod = _method_function(Tensor.fmod)
xlogy = _method_function(Tensor.xlogy)
lerp = _method_function(Tensor.lerp)
addcmul = _method_function(Tensor.addcmul)
addcdiv = _method_function(Tensor.addcdiv)
nan_to_num = _method_function(Tensor.nan_to_num)
cumsum = _method_function(Tensor.cumsum)
cumprod = _method_function(Tensor.cumprod)
prod = _method_function(Tensor.prod)
argsort = _method_function(Tensor.argsort)
sort = _method_function(Tensor.sort)
msort = _method_function(Tensor.msort)
cummax = _method_function(Tensor.cummax)
cummin = _method_function(Tensor.cummin)
aminmax = _method_function(Tensor.aminmax)
mode = _method_function(Tensor.mode)
topk = _method_function(Tensor.topk)
kthvalue = _method_function(Tensor.kthvalue)
median = _method_function(Tensor.median)
scatter = _method_function(Tensor.scatter)
index_add = _method_function(Tensor.index_add)
erfc = _method_function(Tensor.erfc)
erfinv = _method_function(Tensor.erfinv)
lgamma = _method_function(Tensor.lgamma)
digamma = _method_function(Tensor.digamma)
mvlgamma = _method_function(Tensor.mvlgamma)


def polygamma(n: int, input: TensorLike) -> Tensor:
    """The `n`-th derivative of ``digamma`` at each element of `input` (``input.polygamma(n)``).

    >>> import tracegrad as tg
    >>> tg.polygamma(1, tg.tensor([1.0]))
    tensor([1.6449])
    """
    return _t(input).polygamma(n)
var = _method_function(Tensor.var)
std = _method_function(Tensor.std)


def _spread_mean(name: str, input: TensorLike, dim: Dims | bool | None, unbiased: bool | None, keepdim: bool,
                 correction: float | None) -> tuple[Tensor, Tensor]:
    x = _t(input)
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    node = "VarMeanBackward0" if name == "var" else "StdMeanBackward0"
    spread = x._spread(name, dim, unbiased, keepdim, correction, node)
    return spread, apply_op(COMPOSITES["mean"], (x,), {"axes": _dims(dim, x.ndim), "keepdims": keepdim}, node)


def var_mean(input: TensorLike, dim: Dims | bool | None = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` over `dim` (see :meth:`Tensor.var`)."""
    return _spread_mean("var", input, dim, unbiased, keepdim, correction)


def std_mean(input: TensorLike, dim: Dims | bool | None = None, unbiased: bool | None = None,
             keepdim: bool = False, *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` over `dim` (see :meth:`Tensor.std`)."""
    return _spread_mean("std", input, dim, unbiased, keepdim, correction)


def broadcast_shapes(*shapes: int | Sequence[int]) -> Size:
    """The shape tensors of `shapes` broadcast to, as PyTorch computes it.

    >>> import tracegrad as tg
    >>> tg.broadcast_shapes((3, 1), (4,))
    torch.Size([3, 4])
    """
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    result = [1] * builtins.max((len(s) for s in shapes), default=0)
    for i, shape in enumerate(shapes):
        for j in range(-1, -1 - len(shape), -1):
            if shape[j] == 1 or shape[j] == result[j]:
                continue
            if result[j] != 1:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {shape[j]} at {j}! Mismatching "
                                   f"argument at index {i} had {shape}; but expected shape should be broadcastable "
                                   f"to {result}")
            result[j] = shape[j]
    return Size(result)


def broadcast_tensors(*tensors: TensorLike) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape (as views; gradients sum back)."""
    ts = [_t(x) for x in tensors]
    shape = broadcast_shapes(*[t.shape for t in ts])
    return tuple(t if t.shape == shape else t.expand(shape) for t in ts)


def _binary_function(name: str, method: str) -> Callable[[TensorLike, TensorLike], Tensor]:
    def fn(input: TensorLike, other: TensorLike) -> Tensor:
        if not isinstance(input, Tensor):
            input = wrap(np.asarray(input)) if not isinstance(input, (int, float, bool)) else input
            if not isinstance(input, Tensor):
                return getattr(_t(other), method)(input)
        return getattr(input, method)(other)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting and type promotion."
    return fn


mul = multiply = _binary_function("mul", "__mul__")
true_divide = _binary_function("true_divide", "__truediv__")
remainder = _binary_function("remainder", "__mod__")
eq = _binary_function("eq", "__eq__")
ne = _binary_function("ne", "__ne__")
lt = less = _binary_function("lt", "__lt__")
le = less_equal = _binary_function("le", "__le__")
gt = greater = _binary_function("gt", "__gt__")
ge = greater_equal = _binary_function("ge", "__ge__")
logical_and = _binary_function("logical_and", "__and__")
logical_or = _binary_function("logical_or", "__or__")


_add = _binary_function("add", "__add__")


def add(input: TensorLike, other: TensorLike, *, alpha: Number = 1) -> Tensor:
    """``input + alpha * other``, with broadcasting and type promotion."""
    if alpha != 1:
        other = _t(other) * alpha if not isinstance(other, (int, float, bool)) else other * alpha
    return _add(input, other)


def sub(input: TensorLike, other: TensorLike, *, alpha: Number = 1) -> Tensor:
    """``input - alpha * other``."""
    return _t(input).sub(other, alpha=alpha) if isinstance(input, Tensor) else input - other * alpha


def div(input: TensorLike, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; ``rounding_mode`` ``"trunc"`` or ``"floor"`` rounds the quotient (see :meth:`Tensor.div`)."""
    if rounding_mode is None:
        return true_divide(input, other)
    return _t(input).div(other, rounding_mode=rounding_mode)


divide = div


def count_nonzero(input: TensorLike, dim: Dims | None = None) -> Tensor:
    """How many elements are not zero, over all of `input` or along `dim` (int64).

    >>> import tracegrad as tg
    >>> tg.count_nonzero(tg.tensor([[0, 1], [2, 0]]), dim=0)
    tensor([1, 1])
    """
    return (_t(input) != 0).sum(dim) if dim is not None else (_t(input) != 0).sum()


subtract = sub


def pow(input: TensorLike, exponent: TensorLike) -> Tensor:
    """``input ** exponent``; either may be a number."""
    if isinstance(input, Tensor):
        return input ** exponent
    return _t(exponent).__rpow__(input)


def maximum(input: TensorLike, other: TensorLike) -> Tensor:
    """Elementwise maximum (the gradient is shared at ties)."""
    return apply_op(OPS["maximum"], (input, other))


def minimum(input: TensorLike, other: TensorLike) -> Tensor:
    """Elementwise minimum (the gradient is shared at ties)."""
    return apply_op(OPS["minimum"], (input, other))


def matmul(input: TensorLike, other: TensorLike) -> Tensor:
    """Matrix product with ``torch.matmul`` semantics (vectors, matrices, broadcast batches)."""
    return apply_op(OPS["matmul"], (input, other))


@overload
def where(condition: TensorLike) -> tuple[Tensor, ...]: ...
@overload
def where(condition: TensorLike, input: TensorLike, other: TensorLike) -> Tensor: ...


def where(condition: TensorLike, input: TensorLike | None = None,
          other: TensorLike | None = None) -> Tensor | tuple[Tensor, ...]:
    """``input`` where `condition` holds, else ``other`` (either may be a number).

    With `condition` alone, the indices of its non-zero elements, one tensor per dimension.
    """
    cond = _t(condition)
    if input is None and other is None:
        return tuple(wrap(a) for a in np.nonzero(cond._data))
    return select_where(cond, input, other)


def _dim_of(tensors: Sequence[Tensor], dim: int, extra: int = 0) -> int:
    return normalize_axes((dim,), tensors[0].ndim + extra)[0] if tensors[0].ndim + extra else 0


def cat(tensors: Sequence[TensorLike], dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dimension."""
    tensors = [_t(x) for x in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    return apply_op(OPS["concat"], tuple(tensors), {"axis": _dim_of(tensors, dim)})


concat = concatenate = cat


def stack(tensors: Sequence[TensorLike], dim: int = 0) -> Tensor:
    """Stack tensors of one shape along a new dimension."""
    tensors = [_t(x) for x in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(x.shape)} at entry {i}")
    return apply_op(COMPOSITES["stack"], tuple(tensors), {"axis": _dim_of(tensors, dim, 1)})


@overload
def max(input: TensorLike, dim: None = None, keepdim: bool = False) -> Tensor: ...
@overload
def max(input: TensorLike, dim: Tensor, keepdim: bool = False) -> Tensor: ...
@overload
def max(input: TensorLike, dim: int, keepdim: bool = False) -> MinMax: ...


def max(input: TensorLike, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | MinMax:
    """Maximum of all elements; along `dim` a (values, indices) pair; with a tensor, elementwise."""
    return _t(input).max(dim, keepdim)


@overload
def min(input: TensorLike, dim: None = None, keepdim: bool = False) -> Tensor: ...
@overload
def min(input: TensorLike, dim: Tensor, keepdim: bool = False) -> Tensor: ...
@overload
def min(input: TensorLike, dim: int, keepdim: bool = False) -> MinMax: ...


def min(input: TensorLike, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | MinMax:
    """Minimum of all elements; along `dim` a (values, indices) pair; with a tensor, elementwise."""
    return _t(input).min(dim, keepdim)


def allclose(input: TensorLike, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when all elements are close (numpy's rule)."""
    return _t(input).allclose(_t(other), rtol, atol, equal_nan)


def equal(input: TensorLike, other: TensorLike) -> bool:
    """True when both tensors have the same shape and elements."""
    return _t(input).equal(_t(other))


isnan = _method_function(Tensor.isnan)
isinf = _method_function(Tensor.isinf)
isfinite = _method_function(Tensor.isfinite)


def is_floating_point(input: Tensor) -> bool:
    """True for tensors of a floating dtype."""
    return input.is_floating_point()


def device(spec: DeviceLike = "cpu") -> _Device:
    """The CPU device (tracegrad runs on the CPU only)."""
    if str(spec) != "cpu":
        raise RuntimeError(f"tracegrad runs on the CPU only, got device {spec!r}")
    return _CPU
