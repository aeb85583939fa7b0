"""Element types and tensor types of the IR.

The IR names element types the way its text form prints them (``f32``,
``i64``, ``bool``); numpy dtypes are what the arrays carry.  Both directions
are table look-ups so that hot paths never touch ``dtype.name``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: IR short name -> numpy dtype, in promotion order within each category.
SHORT_TO_DTYPE: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_),
    "u8": np.dtype(np.uint8),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
}
DTYPE_TO_SHORT: dict[np.dtype, str] = {v: k for k, v in SHORT_TO_DTYPE.items()}

BOOL = SHORT_TO_DTYPE["bool"]
I64 = SHORT_TO_DTYPE["i64"]
F32 = SHORT_TO_DTYPE["f32"]
F64 = SHORT_TO_DTYPE["f64"]

#: Categories order promotion across kinds: bool < integer < floating.
CATEGORY_BOOL, CATEGORY_INT, CATEGORY_FLOAT = 0, 1, 2
_CATEGORY = {dt: (CATEGORY_BOOL if dt == BOOL else CATEGORY_FLOAT if dt.kind == "f" else CATEGORY_INT)
             for dt in SHORT_TO_DTYPE.values()}


def category(dtype: np.dtype) -> int:
    """Return the promotion category of `dtype` (bool < int < float)."""
    return _CATEGORY[dtype]


def is_float(dtype: np.dtype) -> bool:
    """True for floating dtypes, the only ones that carry gradients."""
    return _CATEGORY[dtype] == CATEGORY_FLOAT


class TensorType(NamedTuple):
    """The static type of a value: element dtype and shape.

    >>> TensorType(np.dtype("float32"), (5, 3))
    f32[5,3]
    """

    dtype: np.dtype
    shape: tuple[int, ...]

    def __repr__(self) -> str:
        return f"{DTYPE_TO_SHORT[self.dtype]}[{','.join(map(str, self.shape))}]"

    @property
    def ndim(self) -> int:
        return len(self.shape)


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promotion of two dtypes: a higher category wins outright
    (int32 with float32 is float32, where numpy would say float64)."""
    if a == b:
        return a
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)
