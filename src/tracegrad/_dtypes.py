"""tracegrad's dtype objects and PyTorch's type-promotion rules.

A :class:`dtype` wraps a numpy dtype.  Its repr is PyTorch's
(``torch.float32``) because programs written for PyTorch print dtypes and
compare the text.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import TypeAlias

import numpy as np

from tracegrad.ir.types import BOOL, CATEGORY_FLOAT, F32, category
from tracegrad.ir.types import promote_types as _promote_np

__all__ = ["dtype", "float32", "float", "float64", "double", "float16", "half", "int64", "long", "int32",
           "int", "int16", "short", "int8", "uint8", "bool", "to_numpy_dtype", "from_numpy_dtype",
           "get_default_dtype", "set_default_dtype", "promote_types", "result_type", "finfo", "iinfo"]

class dtype:
    """An element type (``tracegrad.float32``, ``tracegrad.int64`` ...)."""

    __slots__ = ("np", "_name", "is_floating_point", "is_signed", "itemsize", "tensor_type")

    def __init__(self, np_dtype: np.dtype | type[np.generic], name: str, tensor_type: str) -> None:
        self.np = np.dtype(np_dtype)
        self._name = name
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self.tensor_type = tensor_type

    @property
    def is_complex(self) -> builtins.bool:
        return False

    def __repr__(self) -> str:
        return f"torch.{self._name}"

    def __reduce__(self) -> tuple[Callable[[DTypeLike], dtype], tuple[np.dtype]]:
        return (from_numpy_dtype, (self.np,))


float32 = float = dtype(np.float32, "float32", "FloatTensor")
float64 = double = dtype(np.float64, "float64", "DoubleTensor")
float16 = half = dtype(np.float16, "float16", "HalfTensor")
int64 = long = dtype(np.int64, "int64", "LongTensor")
int32 = int = dtype(np.int32, "int32", "IntTensor")
int16 = short = dtype(np.int16, "int16", "ShortTensor")
int8 = dtype(np.int8, "int8", "CharTensor")
uint8 = dtype(np.uint8, "uint8", "ByteTensor")
bool = dtype(np.bool_, "bool", "BoolTensor")

# Everything to_numpy_dtype accepts.  From here on `bool`, `int` and `float` are the dtypes above, so
# annotations in this module spell the Python types as builtins.bool etc.
DTypeLike: TypeAlias = dtype | np.dtype | type | str

_FROM_NP = {d.np: d for d in (float32, float64, float16, int64, int32, int16, int8, uint8, bool)}
_DEFAULT = [float32]


def from_numpy_dtype(np_dtype: DTypeLike) -> dtype:
    """The tracegrad dtype of a numpy dtype (TypeError for unsupported ones)."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        d = np.dtype(np_dtype)
        if d in _FROM_NP:
            return _FROM_NP[d]
        raise TypeError(f"can't convert np.ndarray of type numpy.{d}. The only supported types are: "
                        f"float64, float32, float16, int64, int32, int16, int8, uint8, and bool.") from None


def to_numpy_dtype(d: DTypeLike) -> np.dtype:
    """Accept a tracegrad dtype, a numpy dtype, or Python's float/int/bool (float means float64)."""
    if type(d) is dtype:
        return d.np
    if d is builtins.float:
        return float64.np
    if d is builtins.int:
        return int64.np
    if d is builtins.bool:
        return bool.np
    return from_numpy_dtype(np.dtype(d)).np


def get_default_dtype() -> dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _DEFAULT[0]


def set_default_dtype(d: DTypeLike) -> None:
    """Set the default floating dtype (float32 or float64)."""
    nd = to_numpy_dtype(d)
    if nd.kind != "f":
        raise TypeError("only floating-point types are supported as the default type")
    _DEFAULT[0] = from_numpy_dtype(nd)


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    if higher is None:
        return lower
    if lower is None:
        return higher
    if category(higher) == CATEGORY_FLOAT:
        return higher
    if higher == BOOL or category(lower) == CATEGORY_FLOAT:
        return _promote_np(higher, lower)
    return higher


def result_type(dims: Iterable[np.dtype], zero_dims: Iterable[np.dtype], scalars: Iterable[np.dtype]) -> np.dtype:
    """Result dtype of an op over dimensioned tensors, zero-dim tensors and Python scalars.

    Each group is an iterable of numpy dtypes (scalars: bool, int64, or the
    default float for Python floats).  A lower group only raises the result
    when it brings a higher category, as in PyTorch: ``float32 tensor * 2.5``
    stays float32, ``int tensor * 2.5`` becomes the default float.
    """
    groups = []
    for group in (dims, zero_dims, scalars):
        acc = None
        for d in group:
            acc = d if acc is None else _promote_np(acc, d)
        groups.append(acc)
    return _combine(groups[0], _combine(groups[1], groups[2]))


def promote_types(type1: DTypeLike, type2: DTypeLike) -> dtype:
    """The smallest dtype both types convert to without losing their category, as PyTorch promotes.

    >>> import tracegrad as tg
    >>> tg.promote_types(tg.int32, tg.float32), tg.promote_types(tg.uint8, tg.int8)
    (torch.float32, torch.int16)
    """
    return from_numpy_dtype(_promote_np(to_numpy_dtype(type1), to_numpy_dtype(type2)))


class finfo:
    """Machine limits of a floating dtype (the default dtype without argument), printed as PyTorch prints them.

    >>> import tracegrad as tg
    >>> tg.finfo(tg.float32).eps
    1.1920928955078125e-07
    """

    def __init__(self, type: DTypeLike | None = None) -> None:
        nd = default_float_np() if type is None else to_numpy_dtype(type)
        if nd.kind != "f":
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            "'torch.finfo'")
        info = np.finfo(nd)
        self.bits = info.bits
        self.eps, self.max, self.min = builtins.float(info.eps), builtins.float(info.max), builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -info.precision
        self.dtype = from_numpy_dtype(nd)._name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, printed as PyTorch prints them.

    >>> import tracegrad as tg
    >>> tg.iinfo(tg.int32).max
    2147483647
    """

    def __init__(self, type: DTypeLike) -> None:
        nd = to_numpy_dtype(type)
        if nd.kind not in "iub":
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                            "'torch.iinfo'")
        info = np.iinfo(np.uint8 if nd.kind == "b" else nd)
        self.bits = info.bits
        self.min, self.max = builtins.int(info.min), builtins.int(info.max)
        self.dtype = from_numpy_dtype(nd)._name

    def __repr__(self) -> str:
        return f"iinfo(min={builtins.float(self.min):g}, max={builtins.float(self.max):g}, dtype={self.dtype})"


def default_float_np() -> np.dtype:
    return _DEFAULT[0].np


def scalar_dtype(value: object) -> np.dtype:
    """dtype a Python scalar takes in promotion."""
    if isinstance(value, builtins.bool):
        return BOOL
    if isinstance(value, builtins.int):
        return int64.np
    return _DEFAULT[0].np


F32_NP = F32
