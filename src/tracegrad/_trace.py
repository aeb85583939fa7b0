"""Tracing by running: eager Tensors that also carry an IR value.

While a trace is active, every op that :func:`tracegrad._dispatch.apply_op`
runs on a Tensor with an IR value (``Tensor._ir``) also emits the matching
node into the trace's :class:`~tracegrad.ir.graph.GraphBuilder`; the
concrete numpy result is computed as usual.  Tensors without an IR value
(created inside the function, or closed over) become constants.

When Python reads a concrete fact from a traced tensor (``bool``, ``float``,
``int``, ``item``, ``tolist``, ``numpy``), the answer comes from the concrete
value and a guard recording it is appended to the graph: the compiled
function re-checks it on every call and re-traces when it fails.
"""

from __future__ import annotations

import os
import sys
import threading
import types
import weakref
from collections.abc import Callable

import numpy as np

from tracegrad import compiler, ir
from tracegrad._grad_mode import STATE
from tracegrad.ir.graph import GraphBuilder, Value, const_value
from tracegrad.ir.types import TensorType

__all__ = ["TRACE", "trace_op", "concrete_read", "tracing", "source_location", "mark_differentiated",
           "depends_on_differentiated", "differentiated_value_error", "Captures", "captures", "random_input"]


class _TraceState(threading.local):
    def __init__(self):
        self.builders: list[GraphBuilder] = []
        #: Tensors made while the outermost trace runs (by id; Tensor equality is elementwise): the ones
        #: the traced function may write in place.
        self.created: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    @property
    def builder(self) -> GraphBuilder | None:
        return self.builders[-1] if self.builders else None


TRACE = _TraceState()


class tracing:
    """Context manager making `builder` the active trace (traces nest: inner transforms).

    Tensors the traced function reads without receiving them as arguments
    are constants of the trace, like closed-over arrays in JAX, except those
    that require grad (parameters) and values of an enclosing trace: those
    become extra graph inputs, listed in ``builder.implicit``, so that their
    current values are used on every call and gradients reach them.  The IR
    values set on such tensors last only while the trace runs.
    """

    def __init__(self, builder: GraphBuilder):
        self.builder = builder
        if not hasattr(builder, "implicit"):
            builder.implicit = []        # [(tensor, input value, IR value it had before)]
            builder.restore = []         # [(tensor, IR value it had before)] for every tensor touched
            builder.constants = []       # [(tensor, constant value)]: closed-over tensors baked into the graph

    def __enter__(self):
        if not TRACE.builders:
            TRACE.created = weakref.WeakValueDictionary()
        TRACE.builders.append(self.builder)
        return self.builder

    def __exit__(self, *exc):
        TRACE.builders.pop()
        if not TRACE.builders:
            TRACE.created = weakref.WeakValueDictionary()
        for t, before in reversed(self.builder.restore):
            t._ir = before
        return False


def lift(builder: GraphBuilder, t) -> Value:
    """Make tensor `t`, read by the traced function but not passed to it, an input of the trace."""
    outer = depends_on_differentiated(t)
    v = builder.input(TensorType(t._data.dtype, t._data.shape))
    if outer:
        mark_differentiated(builder, v)
    builder.implicit.append((t, v, t._ir))
    builder.restore.append((t, t._ir))
    t._ir = v
    return v


#: Tensors that hold state which changes between calls (module buffers such as running statistics): a
#: trace reads them as inputs, never as constants, so their current values are used on every call and a
#: training step can write them (see :func:`functional_write`).
STATE_TENSORS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def mark_state(t) -> None:
    """Register `t` as state: traces read it as an input (see :data:`STATE_TENSORS`)."""
    if t is not None:
        STATE_TENSORS[id(t)] = t


def functional_write(owner) -> bool:
    """The running trace writes `owner`, a tensor it did not create: True when the trace takes such writes
    as outputs (a training step's writes into module state), after recording `owner` and its values
    before the write; False when the write must be refused."""
    builder = TRACE.builder
    writes = getattr(builder, "outside_writes", None)
    if writes is None or len(TRACE.builders) != 1 or STATE_TENSORS.get(id(owner)) is not owner:
        return False  # (only module state: a parameter the step writes besides its update would be ambiguous)
    if id(owner) not in writes:
        ir = owner._ir
        if ir is None:
            lift(builder, owner)
        elif ir.const is not None or ir.id not in builder.owned:
            return False  # read as a constant first: the trace cannot make it an input any more
        writes[id(owner)] = (owner, owner._data.copy())
    return True


def _constant(builder: GraphBuilder, t) -> Value:
    """A closed-over tensor that needs no gradient: one constant, shared by every use in this trace."""
    v = const_value(t._data)
    builder.restore.append((t, t._ir))
    if TRACE.created.get(id(t)) is not t:  # made by the traced run itself: nothing outside can change it
        builder.constants.append((t, v))
    t._ir = v
    return v


# In-place writes to any tensor, counted.  A write through an alias with its own version
# counter (``w.data.add_(1)``, ``w.data[:] = ...``) leaves ``w._version`` alone, so a trace
# that baked ``w`` in compares its contents again whenever this count has moved.
WRITES = [0]
_UNBOUND = object()


class Captures:
    """What a trace took from outside its arguments, and a cheap test that it still holds.

    * the closed-over tensors it made constants: the same data array, the same
      version (no in-place write), and, after writes through ``.data`` aliases,
      the same contents;
    * the objects bound to the global and closure names the function's code reads
      (``f.__code__.co_names``, ``co_freevars``): rebinding ``w = ...`` after the
      first call makes the trace stale.
    """

    __slots__ = ("tensors", "bindings", "writes_seen")

    def __init__(self, tensors: list, bindings: list):
        self.tensors = tensors      # [(tensor, its data array, version counter, version, contents)]
        self.bindings = bindings    # [(name, globals dict or closure cell, bound object)]
        self.writes_seen = WRITES[0]

    def changed(self) -> str | None:
        """Why the trace no longer matches what it captured, or None when it still does."""
        for name, where, obj in self.bindings:
            if type(where) is dict:
                current = where.get(name, _UNBOUND)
            else:
                try:
                    current = where.cell_contents
                except ValueError:
                    current = _UNBOUND
            if current is not obj:
                return f"the name {name!r} the function reads is bound to another object"
        for t, data, version, number, _ in self.tensors:
            if t._data is not data or version[0] != number:
                return f"a closed-over tensor ({_describe(t)}) was modified in place"
        if self.writes_seen != WRITES[0]:
            for t, data, _, _, contents in self.tensors:
                if not np.array_equal(data, contents, equal_nan=data.dtype.kind in "fc"):
                    return f"a closed-over tensor ({_describe(t)}) was written through an alias"
            self.writes_seen = WRITES[0]
        return None


def _describe(t) -> str:
    return f"{t._data.dtype}{list(t._data.shape)}"


def captures(f, builder: GraphBuilder) -> Captures | None:
    """The :class:`Captures` of a finished trace of `f` (None when it took nothing from outside)."""
    tensors = []
    for t, v in builder.constants:
        # As the function left them: a write the traced run itself made is not a change.
        contents = v.const if np.array_equal(v.const, t._data, equal_nan=t._data.dtype.kind in "fc") \
            else t._data.copy()
        tensors.append((t, t._data, t._version_box, t._version_box[0], contents))
    bindings = _bindings(f)
    return Captures(tensors, bindings) if tensors or bindings else None


def _code_names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # lambdas, comprehensions, nested functions
            names |= _code_names(const)
    return names


def _bindings(f) -> list:
    """``(name, namespace, object)`` for each global and closure name `f`'s code reads (modules aside)."""
    f = getattr(f, "__func__", f)  # bound methods
    code = getattr(f, "__code__", None)
    if not isinstance(code, types.CodeType):
        return []
    out = []
    namespace = getattr(f, "__globals__", None)
    if isinstance(namespace, dict):
        for name in sorted(_code_names(code)):
            obj = namespace.get(name, _UNBOUND)
            if obj is not _UNBOUND and not isinstance(obj, types.ModuleType):
                out.append((name, namespace, obj))
    for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
        try:
            obj = cell.cell_contents
        except ValueError:  # not assigned yet
            continue
        if not isinstance(obj, types.ModuleType):
            out.append((name, cell, obj))
    return out


#: The directories of tracegrad's own code (the front end, the IR, the compiler): frames in them are not the user's.
_LIBRARY_DIRS: tuple[str, ...] = tuple(os.path.dirname(f) + os.sep for f in (__file__, ir.__file__, compiler.__file__))


def source_location() -> tuple[str, int] | None:
    """``(file, line)`` of the innermost frame outside tracegrad: the user's line."""
    frame = sys._getframe(1)
    inside = _INSIDE_LIBRARY
    while frame is not None:
        filename = frame.f_code.co_filename
        found = inside.get(filename)
        if found is None:
            found = inside[filename] = filename.startswith(_LIBRARY_DIRS)
        if not found:
            return (filename, frame.f_lineno)
        frame = frame.f_back
    return None


def user_location() -> str:
    """``file.py:LINE`` of the innermost frame outside tracegrad."""
    loc = source_location()
    return f"{os.path.basename(loc[0])}:{loc[1]}" if loc else "<unknown>"


#: file name -> whether it is one of tracegrad's own (asked once per file: every traced op asks)
_INSIDE_LIBRARY: dict[str, bool] = {}


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn` that points at the user's line (the caller's caller's...)."""
    library = _LIBRARY_DIRS
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(library):
        frame, level = frame.f_back, level + 1
    return level


class _TensorNotLoaded:
    """Stands for :class:`tracegrad.Tensor` until its module, which imports this one, has loaded."""


#: tracegrad.Tensor, set by :func:`register_tensor_class` (an import in every traced op cost a microsecond)
Tensor: type = _TensorNotLoaded


def register_tensor_class(cls: type) -> None:
    """Called once, by :func:`tracegrad._dispatch.connect`, when the Tensor class exists."""
    global Tensor
    Tensor = cls


def _ir_of(builder: GraphBuilder, arg, data) -> Value:
    if isinstance(arg, Tensor):
        ir = arg._ir
        if ir is None:
            ir = lift(builder, arg) if arg.requires_grad or STATE_TENSORS.get(id(arg)) is arg \
                else _constant(builder, arg)
        elif ir.const is None and ir.id not in builder.owned:
            ir = lift(builder, arg)  # a value of an enclosing trace
        if ir.dtype != data.dtype:
            ir = builder.cast_to(ir, data.dtype)
        return ir
    return const_value(data)


def trace_op(entry, args, datas, attrs, out) -> Value | None:
    """Emit `entry` applied to `args` into the active trace; None when no input is a Tensor."""
    builder = TRACE.builder
    for a in args:
        if isinstance(a, Tensor):
            break
    else:
        return None
    builder.loc = source_location()
    values = [_ir_of(builder, a, d) for a, d in zip(args, datas)]
    for v in values:
        if v.const is None:
            break
    else:
        return None  # arithmetic on constants only: its result is a constant too
    if entry.name in ("floor_divide", "remainder") and out.dtype.kind in "iu" and values[1].const is None:
        # Kernels give 0 for an integer division by zero where eager mode raises: guard that the
        # divisor holds no zero, so such a call runs eagerly again and raises ZeroDivisionError.
        zeros = builder.apply("eq", values[1], np.zeros((), values[1].dtype))
        builder.guard(builder.apply("sum", builder.cast_to(zeros, np.dtype(np.int64)), axes=None, keepdims=False), 0)
    result = builder.apply(entry.name, *values, **attrs)
    if result.shape != out.shape or result.dtype != out.dtype:
        raise AssertionError(f"trace of {entry.name} typed {result.type!r}, eager gave "
                             f"{TensorType(out.dtype, out.shape)!r}")
    if not STATE.enabled and out.dtype.kind == "f":
        # Values computed under no_grad carry no gradient in the IR either.
        result = builder.apply("detach", result)
    return result


def detached_ir(t) -> Value | None:
    """The IR of ``t.detach()`` / ``t.data`` during a trace (the array becomes an alias)."""
    builder = TRACE.builder
    if builder is None:
        return None
    if t._ir is None:
        return None
    if t._ir.const is not None:
        return t._ir
    builder.loc = source_location()
    return builder.apply("detach", _ir_of(builder, t, t._data))


def random_input(t, draw: Callable[[], np.ndarray]) -> None:
    """Tensor `t`, just drawn by a random factory inside a trace, becomes an input of the trace that
    `draw` fills anew for every call (as eager mode draws new numbers each time), not a constant."""
    builder = TRACE.builder
    if builder is None:
        return
    lift(builder, t)
    if not hasattr(builder, "redraw"):
        builder.redraw = {}
    builder.redraw[id(t)] = draw


def const_ir(t) -> None:
    """Tensors made by factories inside a trace are constants of it (not closed-over inputs)."""
    if TRACE.builders:
        t._ir = const_value(t._data)


def mark_differentiated(builder: GraphBuilder, value: Value) -> None:
    """Record that `value` (an input of `builder`'s graph) is being differentiated, or depends on one that is."""
    if builder.differentiated is None:
        builder.differentiated = set()
    builder.differentiated.add(value.id)


def depends_on_differentiated(t) -> bool:
    """Whether tensor `t` carries an IR value that depends on an argument some active trace differentiates."""
    ir = getattr(t, "_ir", None)
    if ir is None or ir.const is not None:
        return False
    return any(b.differentiated is not None and ir.id in b.differentiated for b in TRACE.builders)


def differentiated_value_error(what: str, t) -> TypeError:
    """The error for Python reading a value the gradient must flow through (it would silently detach)."""
    loc = source_location()
    where = f" at {os.path.basename(loc[0])}:{loc[1]}" if loc else ""
    shape = "[" + ", ".join(map(str, t._data.shape)) + "]"
    return TypeError(
        f"{what}{where} reads a traced {t._data.dtype} tensor of shape {shape} that depends on a differentiated "
        f"argument: the result would be a constant of the trace and the gradient through it would be lost "
        f"(eager mode drops it silently). Use tracegrad ops (tg.exp(x), not math.exp(x) or np.exp on a "
        f"copy), or .detach() the tensor first if the value is meant as a constant.")


def concrete_read(t, value, kind: str = "value"):
    """Python reads `value` from tensor `t`: during a trace, guard it.

    `kind` is ``"bool"`` for a truth value (a branch: allowed on anything); otherwise Python
    computes with the number or array read, which must then not depend on a differentiated
    argument, and `kind` names the read in the error (``"item()"``, ``"float() ..."``).
    """
    builder = TRACE.builder
    if builder is not None:
        if kind != "bool" and t._data.dtype.kind == "f" and depends_on_differentiated(t):
            raise differentiated_value_error(kind, t)
        ir = _ir_of(builder, t, t._data)
        if ir.const is None:
            builder.loc = source_location()
            if builder.overrides and builder.n_guards in builder.overrides and isinstance(value, bool):
                value = builder.overrides[builder.n_guards]
            builder.guard(ir, value)
    return value
