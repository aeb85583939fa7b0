"""Python indexing keys as the ``index`` op's static spec and its integer index arrays.

``x[0, 1:3, None, mask, [2, 0]]`` becomes one spec item per key element (``("int", 0)``,
``("slice", 1, 3, None)``, ``("none",)``, ``("array",)`` ...) and the index arrays the
``array`` items read, with PyTorch's errors for keys it refuses; a boolean mask becomes the
positions of its true elements (which a trace records as a value Python read).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad import _dispatch
from tracegrad._dispatch import _shape_text
from tracegrad._trace import TRACE, concrete_read
from tracegrad.ir.ops import IndexingError
from tracegrad.ir.types import BOOL

__all__ = ["parse_index"]


def _as_int(v: Any) -> int:
    if isinstance(v, _dispatch.Tensor):
        return int(v._data)
    return int(v)


def parse_index(key: Any, shape: tuple[int, ...]) -> tuple[tuple[tuple[Any, ...], ...], list[Any]]:
    """Turn a Python indexing key into the index op's static spec and integer index arrays."""
    if not isinstance(key, tuple):
        key = (key,)
    spec: list[tuple[Any, ...]] = []
    arrays: list[Any] = []
    dim = 0
    for item in key:
        if item is None:
            spec.append(("none",))
        elif item is Ellipsis:
            spec.append(("ellipsis",))
            dim += len(shape) - sum(1 for k in key if k is not None and k is not Ellipsis
                                    and not _is_bool_index(k))
            dim += sum(np.ndim(k._data if isinstance(k, _dispatch.Tensor) else k) for k in key if _is_bool_index(k))
        elif isinstance(item, slice):
            spec.append(("slice", None if item.start is None else _as_int(item.start),
                         None if item.stop is None else _as_int(item.stop),
                         None if item.step is None else _as_int(item.step)))
            dim += 1
        elif isinstance(item, (bool, np.bool_)):
            raise IndexingError("indexing with a Python bool is not supported; use a boolean tensor")
        elif isinstance(item, (int, np.integer)) or (isinstance(item, _dispatch.Tensor) and item._data.ndim == 0
                                                     and item._data.dtype.kind in "iu"):
            spec.append(("int", _as_int(item)))
            dim += 1
        else:
            arr = item._data if isinstance(item, _dispatch.Tensor) else np.asarray(item)
            if isinstance(item, _dispatch.Tensor) and TRACE.builders and arr.dtype == BOOL:
                concrete_read(item, arr, "bool")  # the positions picked depend on the mask's values
            if arr.dtype == BOOL:
                mask_shape = arr.shape
                target = shape[dim:dim + arr.ndim]
                for j, (m, n) in enumerate(zip(mask_shape, target)):
                    if m != n:
                        raise IndexingError(
                            f"The shape of the mask {_shape_text(mask_shape)} at index {j} does not match "
                            f"the shape of the indexed tensor {_shape_text(shape)} at index {dim + j}")
                for nz in np.nonzero(arr):
                    spec.append(("array",))
                    arrays.append(nz)
                dim += arr.ndim
            elif arr.dtype.kind in "iu" or arr.size == 0:
                spec.append(("array",))
                if isinstance(item, _dispatch.Tensor) and TRACE.builders:
                    arrays.append(item if arr.dtype == np.int64 else item.long())
                else:
                    arrays.append(arr.astype(np.int64, copy=False))
                dim += 1
            else:
                raise IndexingError("tensors used as indices must be long, int, byte or bool tensors")
    return tuple(spec), arrays


def _is_bool_index(k: Any) -> bool:
    if isinstance(k, _dispatch.Tensor):
        return k._data.dtype == BOOL
    return isinstance(k, np.ndarray) and k.dtype == BOOL
