"""Running one op-table entry on Tensors: dtype promotion, the numpy rule, the tape node, the trace, the result.

:func:`apply_op` is what every Tensor operation comes down to: it promotes the operands as
PyTorch does, runs the entry's numpy implementation (rebuilding a failure as PyTorch's error
plus the op, the shapes and the user's line), records a node on the tape when an operand
requires grad, emits the op into the active trace, and wraps the result (:func:`wrap`),
sharing the version counter of the base when the result is a view.

This module sits below the Tensor class it makes: ``tracegrad._tensor`` defines the class on
top of it and hands the class down once (:func:`connect`), to this module, the tape engine and
the tracer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tracegrad import _engine
from tracegrad._anomaly_mode import ANOMALY, forward_nan_error, has_nan
from tracegrad._dtypes import default_float_np, result_type, scalar_dtype
from tracegrad._engine import Node, OpNode, _sequence, node_class
from tracegrad._grad_mode import STATE
from tracegrad._trace import TRACE, functional_write, register_tensor_class, source_location, trace_op, user_location
from tracegrad._trace import WRITES as _WRITES
from tracegrad.ir.graph import TYPES_ONLY
from tracegrad.ir.ops import TABLE, Composite, Emitter, IndexingError, Op, ShapeError
from tracegrad.ir.types import TensorType, category

if TYPE_CHECKING:
    from tracegrad._tensor import PythonScalar, Tensor
else:
    Tensor = PythonScalar = None  # handed down by connect()

__all__ = ["apply_op", "wrap", "TENSOR_EMITTER", "refuse_outside_write", "write_in_place", "connect"]

_EMPTY: dict = {}
_NUMBER = (int, float, bool, np.number, np.bool_)

_OUTSIDE_WRITE = ("{where}: in-place write to a tensor the compiled function did not create (a closed-over or "
                  "argument tensor, a module buffer): a compiled function replays only what it returns, so the "
                  "write would happen once, while tracing.  Update it outside the compiled function, or return "
                  "the new value.")


def connect(tensor_class: type, python_scalar_class: type, tensor_like: Any) -> None:
    """Hand the Tensor class down, once, from ``tracegrad._tensor``: to this module (which wraps
    results in it), to the tape engine (which makes gradients of it) and to the tracer.

    `python_scalar_class` is the Tensor subclass a traced Python float becomes;
    `tensor_like` is the annotation of operands (what ``get_type_hints`` resolves in the engine).
    """
    global Tensor, PythonScalar
    Tensor, PythonScalar = tensor_class, python_scalar_class
    _engine.connect(tensor_class, wrap, TENSOR_EMITTER, apply_op, tensor_like)
    register_tensor_class(tensor_class)


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _type_of(a: Any) -> TensorType:
    if isinstance(a, np.ndarray):
        return TensorType(a.dtype, a.shape)
    arr = np.asarray(a)
    return TensorType(arr.dtype, arr.shape)


def _op_error(entry: Op | Composite, datas: Sequence[np.ndarray], attrs: dict, err: Exception) -> Exception:
    """Rebuild a failure of `entry` as PyTorch's error plus the op, shapes and user line."""
    message = None
    error_type = type(err)
    try:
        TYPES_ONLY.apply(entry.name, *[_type_of(d) for d in datas], **attrs)
    except (ShapeError, IndexingError) as e:
        message, error_type = str(e), type(e)
    if message is None:
        message = str(err)
    shapes = ", ".join(_shape_text(np.shape(d)) for d in datas)
    context = f"\n  in op '{entry.name}' with input shapes {shapes} at {user_location()}"
    if error_type in (ValueError,):
        error_type = ShapeError
    try:
        return error_type(message + context)
    except TypeError:
        return ShapeError(message + context)


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------

def _operand_dtype(a: Any) -> tuple[np.dtype, bool | None]:
    """(dtype, is_dimensioned) of an operand that takes part in promotion; scalars give (dtype, None)."""
    if isinstance(a, Tensor):
        if type(a) is PythonScalar:
            return default_float_np(), None
        d = a._data
        return d.dtype, d.ndim > 0
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype, a.ndim > 0
    return scalar_dtype(a), None


def _compute_dtype(args: Sequence[Any], idxs: Sequence[int]) -> np.dtype:
    dims, zero, scalars = [], [], []
    for i in idxs:
        dt, dimmed = _operand_dtype(args[i])
        (scalars if dimmed is None else dims if dimmed else zero).append(dt)
    return result_type(dims, zero, scalars)


def _to_array(a: Any, dt: np.dtype | None = None) -> np.ndarray:
    if isinstance(a, Tensor):
        d = a._data
        return d if dt is None or d.dtype == dt else d.astype(dt)
    if isinstance(a, np.ndarray):
        return a if dt is None or a.dtype == dt else a.astype(dt)
    if dt is None:
        return np.asarray(a)
    return dt.type(a)


def _edge(a: Any) -> tuple[Node | None, int]:
    if isinstance(a, Tensor):
        return a._edge()
    return (None, 0)


def apply_op(entry: Op | Composite, args: tuple[Any, ...], attrs: dict[str, Any] = _EMPTY,
             name: str | None = None) -> Tensor:
    """Run one op-table entry eagerly on Tensors / arrays / Python scalars.

    >>> import tracegrad as tg
    >>> from tracegrad.ir.ops import OPS
    >>> apply_op(OPS["add"], (tg.ones(2), 1.0))
    tensor([2., 2.])
    """
    policy = entry.promote
    compute = None
    if policy == "keep" or policy == "sum" or policy == "match":
        datas = [a._data if isinstance(a, Tensor) else _to_array(a) for a in args]
        if policy == "match" and any(d.dtype != datas[0].dtype for d in datas):
            raise _op_error(entry, datas, attrs, ValueError("dtype mismatch"))
    else:
        idxs = entry.promote_args
        if idxs is None:
            a0 = args[0]
            # Fast path: tensors of one dtype need no promotion and no conversion.
            if isinstance(a0, Tensor):
                compute = a0._data.dtype
                datas = [a0._data]
                for a in args[1:]:
                    if isinstance(a, Tensor) and a._data.dtype == compute:
                        datas.append(a._data)
                    else:
                        compute = None
                        break
                if compute is not None and policy == "float" and compute.kind != "f":
                    compute = None
            idxs = range(len(args))
        if compute is None:
            compute = _compute_dtype(args, idxs)
            if TRACE.builders and compute.kind == "f" and _python_scalar_arithmetic(args):
                compute = np.dtype(np.float64)  # Python float arithmetic is double precision
            if policy == "float" and category(compute) != 2:
                compute = default_float_np()
            datas = [_to_array(a, compute) if i in idxs else _to_array(a) for i, a in enumerate(args)]
    try:
        out = entry.impl(*datas, **attrs)
    except (ValueError, ShapeError, IndexError) as err:
        raise _op_error(entry, datas, attrs, err) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if ANOMALY.enabled and ANOMALY.check_nan and has_nan(out):
        _raise_forward_nan(entry, args, datas, attrs, name)

    node = None
    if STATE.enabled and entry.differentiable and out.dtype.kind == "f":
        needs = []
        wanted = False
        for a in args:
            need = isinstance(a, Tensor) and (a.grad_fn is not None or a._requires_grad)
            needs.append(need)
            wanted = wanted or need
        if wanted:
            node = _record(entry, args, datas, attrs, out, tuple(needs), compute, name)
            if ANOMALY.enabled:
                node._loc = source_location()
    version = None
    if entry.view and out.base is not None and isinstance(args[0], Tensor):
        version = args[0]._version_box  # a view shares its base's version counter, as in PyTorch
    t = wrap(out, node, version)
    if version is not None:
        # Remembered so that an in-place write through the view can rewrite its base's history.
        t._base = args[0]
        t._view = (entry, args[1:], attrs)
    if node is not None and node.out is not None:
        node.out_version = (t._version_box, t._version_box[0])
    if TRACE.builders:
        t._ir = trace_op(entry, args, datas, attrs, out)
        if node is not None and node.out is not None:
            node.out_ir = t._ir  # a backward inside this trace reads the output as the traced value
        if out.ndim == 0 and out.dtype.kind == "f" and _python_scalar_arithmetic(args):
            t.__class__ = PythonScalar
    return t


def _python_scalar_arithmetic(args) -> bool:
    """Whether an op combines traced Python floats with Python numbers only (its result is one too)."""
    found = False
    for a in args:
        if type(a) is PythonScalar:
            found = True
        elif isinstance(a, Tensor):
            return False
    return found


_NO_EDGE = (None, 0)


def _raise_forward_nan(entry: Op | Composite, args: tuple[Any, ...], datas: Sequence[np.ndarray],
                       attrs: dict[str, Any], name: str | None) -> None:
    """Anomaly mode: `entry` just produced NaN; say which op, which grad_fn and which line."""
    node_name = name if name is not None else (
        entry.eager_name(tuple(np.shape(d) for d in datas), attrs) if entry.differentiable else None)
    raise forward_nan_error(entry.name, node_name, source_location(), any(has_nan(d) for d in datas))


def _record(entry: Op | Composite, args: tuple[Any, ...], datas: Sequence[np.ndarray], attrs: dict[str, Any],
            out: np.ndarray, needs: tuple[bool, ...], compute: np.dtype | None, name: str | None) -> OpNode:
    shapes, dtypes, edges = [], [], []
    grad_args = entry.grad_args
    for i, (a, d) in enumerate(zip(args, datas)):
        shapes.append(d.shape)
        if isinstance(a, Tensor):
            dtypes.append(a._data.dtype)
            if grad_args is None or i in grad_args:
                edges.append(a._edge())
        else:
            dtypes.append(d.dtype)
            if grad_args is None or i in grad_args:
                edges.append(_NO_EDGE)
    shapes = tuple(shapes)
    cls = node_class(name or entry.eager_name(shapes, attrs), OpNode)
    node = cls.__new__(cls)
    node.entry = entry
    node.attrs = attrs
    node.next_functions = tuple(edges)
    node._seq = next(_sequence)
    node._pre_hooks = node._post_hooks = node._retained = None
    node.shapes = shapes
    node.dtypes = tuple(dtypes)
    node.compute_dtype = compute
    node.needs = needs
    node.freed = False
    node.out = None
    node.out_version = None
    node.out_ir = None
    saved = [None] * len(args)
    versions = []
    for s in entry.saves_expanded(len(args)):
        if s == "out":
            node.out = out
        else:
            a = args[s]
            if isinstance(a, Tensor):
                if type(a._version_box) is _InferenceVersion:
                    raise RuntimeError(_INFERENCE_SAVED)
                saved[s] = a
                versions.append((a, a._version_box[0]))
            else:
                saved[s] = datas[s]
    node.saved = tuple(saved)
    node.versions = tuple(versions)
    return node


class _InferenceVersion(list):
    """The version box of a tensor made under ``inference_mode()``: its type marks an inference tensor."""

    __slots__ = ()


_INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in inference mode in "
    "computation tracked by autograd. To work around this, you can make a clone to get a normal tensor and use it "
    "in autograd, or use `torch.no_grad()` instead of `torch.inference_mode()`.")


def refuse_outside_write(t: Tensor, traced_write: bool = False) -> None:
    """Raise at the user's line when a trace is running and did not create `t` (or its base): a compiled
    function replays only what it returns, so a write into a tensor from outside would happen once.
    A `traced_write` (an in-place op, whose new value the trace holds) is allowed in a trace that returns
    such writes (a training step's, see :func:`tracegrad._trace.functional_write`)."""
    if TRACE.builders:
        owner = t._base if t._base is not None else t
        if TRACE.created.get(id(owner)) is not owner and not (traced_write and functional_write(owner)):
            raise RuntimeError(_OUTSIDE_WRITE.format(where=user_location()))


def write_in_place(t: Tensor, values: Any) -> None:
    """Set `t`'s values in place outside autograd (initialisers, optimizers, gradient clipping): counted
    as an in-place write like any other, and refused inside a compiled function that did not create `t`."""
    refuse_outside_write(t)
    t._data[...] = values
    t._version_box[0] += 1
    _WRITES[0] += 1


def wrap(data: np.ndarray, grad_fn: Node | None = None, version: list[int] | None = None) -> Tensor:
    """A Tensor around `data` (no copy), produced by `grad_fn` if given.

    `version` is a version counter to share (views share their base's).
    """
    t = _new_tensor(Tensor)
    t._data = data
    t.grad_fn = grad_fn
    t._requires_grad = False
    t._grad = None
    t._version_box = (_InferenceVersion((0,)) if STATE.inference else [0]) if version is None else version
    t._output_nr = 0
    t._retains_grad = False
    t._hooks = None
    t._acc = None
    t._ir = None
    t._base = None
    t._view = None
    if TRACE.builders:
        TRACE.created[id(t)] = t
    return t


_new_tensor = object.__new__


class TensorEmitter(Emitter):
    """Applies ops to Tensors with recording: vjp rules run through it when ``create_graph=True``."""

    def apply(self, name: str, *args: Any, **attrs: Any) -> Tensor:
        return apply_op(TABLE[name], args, attrs)

    def shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def dtype(self, x: Any) -> np.dtype:
        return x._data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


TENSOR_EMITTER = TensorEmitter()
