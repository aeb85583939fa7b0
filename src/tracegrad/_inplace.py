"""Writing into a Tensor: the mechanics behind ``add_``, ``copy_``, ``x[i] = v`` and the other in-place ops.

A write bumps the version counter the tensor shares with its views (so that a backward that
saved the old values refuses to run), takes over the history of the computed result, and,
when the tensor is a view, rewrites its base's history through the op table's
``view_inverse`` (PyTorch's ``CopySlices``) and derives the view from the new base again.
Inside a compiled function, a write into a tensor the trace did not create is refused (see
:func:`tracegrad._dispatch.refuse_outside_write`).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import numpy as np

from tracegrad import _dispatch
from tracegrad._dispatch import (
    _EMPTY,
    TENSOR_EMITTER,
    _InferenceVersion,
    _shape_text,
    apply_op,
    refuse_outside_write,
    wrap,
)
from tracegrad._dtypes import from_numpy_dtype
from tracegrad._grad_mode import STATE
from tracegrad._trace import TRACE
from tracegrad._trace import WRITES as _WRITES
from tracegrad._trace import _ir_of as _trace_ir_of
from tracegrad.ir.ops import OPS, TABLE, Composite, Op
from tracegrad.ir.types import category

if TYPE_CHECKING:
    from tracegrad._tensor import Tensor, TensorLike

__all__ = ["check_writable", "in_place_op", "assign_in_place", "write_through_view", "overwrite"]

_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


def rd_cast(result: Tensor, like: Tensor) -> np.ndarray:
    """`result`'s data in `like`'s dtype (an in-place write keeps the destination's dtype)."""
    d = result._data
    return d if d.dtype == like._data.dtype else d.astype(like._data.dtype)


def check_writable(t: Tensor) -> None:
    """Refuse a write into an inference tensor outside inference mode, or into overlapping memory
    (an expanded tensor), with PyTorch's messages."""
    if type(t._version_box) is _InferenceVersion and not STATE.inference:
        raise RuntimeError(
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone to "
            "get a normal tensor before doing inplace update.See https://github.com/pytorch/rfcs/pull/17 for "
            "more details.")
    if not t._data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation.")


def in_place_op(t: Tensor, entry: Op | Composite, other: TensorLike, name: str | None = None) -> Tensor:
    """Run `entry` on (t, other) and write the result into t, PyTorch-style."""
    recording = STATE.enabled
    if recording and t.grad_fn is None and t._requires_grad:
        raise RuntimeError(_LEAF_INPLACE)
    src = t
    if recording and 0 in entry.saves and (t.requires_grad or
                                           (isinstance(other, _dispatch.Tensor) and other.requires_grad)):
        # The op saves t; keep the values from before the write.
        src = wrap(t._data.copy(), t.grad_fn)
        src._output_nr = t._output_nr
    result = apply_op(entry, (src, other), _EMPTY, name)
    assign_in_place(t, result)
    return t


def assign_in_place(t: Tensor, result: Tensor) -> None:
    """Write `result`'s values into `t` and make `result`'s history (its grad_fn, its traced value) `t`'s:
    counted as a write, checked as PyTorch checks it, and passed on to `t`'s base when `t` is a view."""
    rd = result._data
    if rd.shape != t._data.shape:
        raise RuntimeError(f"output with shape {_shape_text(t._data.shape)} doesn't match the broadcast "
                           f"shape {_shape_text(rd.shape)}")
    if category(rd.dtype) > category(t._data.dtype):
        raise RuntimeError(f"result type {from_numpy_dtype(rd.dtype).tensor_type[:-6]} can't be cast to the "
                           f"desired output type {t.dtype.tensor_type[:-6]}")
    check_writable(t)
    refuse_outside_write(t, traced_write=True)
    np.copyto(t._data, rd, casting="unsafe")
    t._version_box[0] += 1
    _WRITES[0] += 1
    if t._base is not None and write_through_view(t, result):
        return
    if t._ir is not None or result._ir is not None:
        t._ir = result._ir
    node = result.grad_fn
    if node is not None:
        t.grad_fn = node
        t._output_nr = result._output_nr
        if getattr(node, "out", None) is not None:
            node.out_version = (t._version_box, t._version_box[0])


def write_through_view(t: Tensor, result: Tensor) -> builtins.bool:
    """A write into a view: give its base the new history, then derive the view from it again.

    Returns False when nothing beyond the write itself is needed.  For
    ``.data``/``.detach()`` aliases the base's gradient is untouched (as in
    PyTorch); a trace records the new values behind a ``detach``.
    """
    base = t._base
    if t._view == "detach":
        if TRACE.builders:
            builder = TRACE.builder
            old = _trace_ir_of(builder, base, base._data)
            new = _trace_ir_of(builder, result, rd_cast(result, base))
            base._ir = builder.add(old, builder.detach(builder.sub(new, old)))
        return False
    traced = bool(TRACE.builders)
    if not (traced or (STATE.enabled and (result.requires_grad or base.requires_grad))):
        return False
    if STATE.enabled and base.grad_fn is None and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    entry, rest, attrs = t._view
    if entry.view_inverse is None:
        raise RuntimeError(f"in-place writes through a {entry.name} view are not supported")
    op, operands, op_attrs = entry.view_inverse(TENSOR_EMITTER, base, result, *rest, **attrs)
    new_base = apply_op(TABLE[op], operands, op_attrs, "CopySlices")
    assign_in_place(base, new_base)
    # PyTorch regenerates a view written in place as an as_strided view of its new base.
    again = apply_op(entry, (base, *rest), attrs, "AsStridedBackward0")
    t.grad_fn = again.grad_fn
    t._output_nr = 0
    t._ir = again._ir
    return True


def overwrite(t: Tensor, src: Tensor, name: str) -> Tensor:
    """Replace the values of t by `src`; in the graph, ``t * 0 + src``."""
    recording = STATE.enabled and (t.requires_grad or src.requires_grad)
    if recording and t.grad_fn is None and t._requires_grad:
        raise RuntimeError(_LEAF_INPLACE)
    if recording or TRACE.builders:
        old = wrap(t._data.copy(), t.grad_fn)
        old._output_nr = t._output_nr
        old._ir = t._ir
        result = apply_op(OPS["add"], (apply_op(OPS["mul"], (old, 0.0)), src), _EMPTY, name)
        return assign_in_place(t, result) or t
    check_writable(t)
    np.copyto(t._data, src._data, casting="unsafe")
    t._version_box[0] += 1
    _WRITES[0] += 1
    t._ir = None
    return t
