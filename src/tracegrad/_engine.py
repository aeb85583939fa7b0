"""The eager tape: grad_fn nodes and the backward engine.

Every recorded operation creates one node whose class carries PyTorch's
name (``AddBackward0``).  A node knows its op-table entry, the attrs of the
call and the values the entry's vjp rule reads; its backward runs that vjp
rule with numpy arrays, or with Tensors when ``create_graph=True`` so that
the backward pass is itself recorded.

The engine never recurses: it orders the reachable nodes by creation
sequence (a node is always created after the nodes it depends on), so a
100,000-op chain backpropagates like a 10-op one.
"""

from __future__ import annotations

import itertools
import operator
import re
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tracegrad import _trace
from tracegrad._anomaly_mode import ANOMALY, backward_nan_error, has_nan
from tracegrad._dtypes import from_numpy_dtype
from tracegrad._grad_mode import enable_grad
from tracegrad.ir.ops import NUMPY, OPS, Composite, Op, VjpContext, broadcast_shapes

if TYPE_CHECKING:
    from tracegrad._dispatch import TENSOR_EMITTER, apply_op, wrap
    from tracegrad._tensor import Tensor, TensorLike

__all__ = ["Node", "OpNode", "AccumulateGrad", "node_class", "run_backward", "backward", "grad", "connect",
           "FREED_MESSAGE"]

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward.")

_sequence = itertools.count()

if not TYPE_CHECKING:
    # The Tensor class is built on this module; it hands the engine what it computes with (connect).
    Tensor = wrap = TENSOR_EMITTER = apply_op = TensorLike = None


def connect(tensor_class: type, wrap_array: Callable, emitter, apply: Callable, tensor_like: Any) -> None:
    """Give the engine the Tensor class it makes gradients of, once (:func:`tracegrad._dispatch.connect`).

    The engine records nodes for Tensor operations and Tensor operations record into the
    engine, so one side must learn of the other at run time: this is that single link.
    `wrap_array` makes a Tensor of an array, `emitter` applies ops to Tensors with recording
    (vjp rules under ``create_graph``), `apply` runs one op-table entry eagerly; `tensor_like` is
    the annotation of arguments that take a Tensor or array-like (what ``get_type_hints`` resolves).
    """
    global Tensor, wrap, TENSOR_EMITTER, apply_op, TensorLike
    Tensor, wrap, TENSOR_EMITTER, apply_op, TensorLike = tensor_class, wrap_array, emitter, apply, tensor_like


# A gradient in the engine: an array, or a Tensor when the backward pass is itself recorded (create_graph).
Grad: TypeAlias = Any


class _Traced:
    """The `create_graph` a backward inside a trace runs with: truthy, so gradients are computed with
    Tensors (their ops land in the trace, as the function's other ops do), and results are detached on
    the way out, as a backward without ``create_graph`` returns them."""

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "TRACED"


TRACED = _Traced()

_OUTSIDE_GRAD = ("{where}: {action} inside a compiled function would change the .grad of a tensor the function "
                 "did not create (a parameter or a closed-over tensor, {shape}): a compiled function replays only "
                 "what it returns, so that .grad would change once, while tracing.  Return the gradients instead "
                 "(tracegrad.autograd.grad(loss, params) or tracegrad.func.grad), or compile the whole training "
                 "step with tracegrad.train_step(optimizer).")


def outside_grad_error(t: Tensor, action: str = "backward()") -> RuntimeError:
    """The error for a compiled function writing the ``.grad`` of a tensor it did not create."""
    return RuntimeError(_OUTSIDE_GRAD.format(where=_trace.user_location(), action=action,
                                             shape=f"{t._data.dtype}{list(t._data.shape)}"))


def _traced_here(t: Tensor) -> bool:
    """Whether `t` carries a value of a running trace (not one left from a finished trace)."""
    ir = getattr(t, "_ir", None)
    return ir is not None and ir.const is None and any(ir.id in b.owned for b in _trace.TRACE.builders)


def created_by_trace(t: Tensor) -> bool:
    """Whether the running trace made `t` (or the base it is a view of)."""
    owner = t._base if t._base is not None else t
    return _trace.TRACE.created.get(id(owner)) is owner


class Node:
    """Base class of every ``grad_fn`` object.

    ``next_functions`` holds one ``(node, output_nr)`` pair per input, with
    ``(None, 0)`` where the input needs no gradient.
    """

    # _loc: the user's (file, line) of the forward call, recorded only in anomaly mode.
    __slots__ = ("next_functions", "_seq", "_pre_hooks", "_post_hooks", "_retained", "_loc", "__weakref__")
    num_outputs = 1

    # For type checkers only (slots carry no types).
    next_functions: tuple[tuple[Node | None, int], ...]
    _seq: int
    _pre_hooks: list[tuple[int | None, Callable[..., Any]]] | None
    _post_hooks: list[Callable[..., Any]] | None
    _retained: dict[int, weakref.ref[Tensor]] | None

    def name(self) -> str:
        """PyTorch's name of this node, e.g. ``'MulBackward0'`` (its C++-only nodes are qualified:
        ``'torch::autograd::AccumulateGrad'``)."""
        name = type(self).__name__
        return f"torch::autograd::{name}" if name in _QUALIFIED_NAMES else name

    @property
    def metadata(self) -> dict[str, Any]:
        """PyTorch's per-node metadata dict; tracegrad keeps none, so this is a new empty dict each time."""
        return {}

    def register_hook(self, fn: Callable[[tuple[Tensor | None, ...], tuple[Tensor | None, ...]],
                                         Sequence[Tensor | None] | None]) -> _RemovableHandle:
        """Call ``fn(grad_inputs, grad_outputs)`` after this node's backward; it may return new grad_inputs."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(fn)
        return _RemovableHandle(self._post_hooks, fn)

    def register_prehook(self, fn: Callable[[tuple[Tensor | None, ...]],
                                            Sequence[Tensor | None] | None]) -> _RemovableHandle:
        """Call ``fn(grad_outputs)`` before this node's backward; it may return new grad_outputs."""
        return self._add_pre_hook(None, fn)

    def _add_pre_hook(self, output_nr: int | None, fn: Callable[..., Any]) -> _RemovableHandle:
        if self._pre_hooks is None:
            self._pre_hooks = []
        entry = (output_nr, fn)
        self._pre_hooks.append(entry)
        return _RemovableHandle(self._pre_hooks, entry)

    def _backward(self, grads: list[Grad], create_graph: bool) -> tuple[Grad | None, ...]:
        raise NotImplementedError

    def _release(self) -> None:
        """Free saved values after a backward that does not retain the graph."""


class _RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    __slots__ = ("_list", "_item")

    def __init__(self, lst: list[Any], item: object) -> None:
        self._list = lst
        self._item = item

    def remove(self) -> None:
        try:
            self._list.remove(self._item)
        except ValueError:
            pass


_node_classes: dict[tuple[str, type], type] = {}


def node_class(name: str, base: type, module: str = "builtins") -> type:
    """The grad_fn class called `name` (one per name), derived from `base`.

    The class reports module ``builtins`` so that its default repr is
    ``<AddBackward0 object at 0x...>``, exactly PyTorch's (whose node types
    are C types without a module prefix); custom Function nodes report the
    module PyTorch shows for them.
    """
    key = (name, base)
    cls = _node_classes.get(key)
    if cls is None:
        cls = type(name, (base,), {"__slots__": ()})
        cls.__module__ = module
        cls.__qualname__ = name
        _node_classes[key] = cls
    return cls


def _short_name(node: Node) -> str:
    return re.sub(r"Backward\d*$", "", type(node).__name__)


def _type_string(shape: Sequence[int], dtype: np.dtype) -> str:
    return f"[torch.{from_numpy_dtype(dtype).tensor_type} [{', '.join(map(str, shape))}]]"


def version_error(shape: Sequence[int], dtype: np.dtype, producer: Node | None, now: int,
                  expected: int) -> RuntimeError:
    """PyTorch's message for a saved tensor that was modified in place."""
    where = f", which is output 0 of {_short_name(producer)}," if producer is not None else ""
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"{_type_string(shape, dtype)}{where} is at version {now}; expected version {expected} instead. "
        f"Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
        f"torch.autograd.set_detect_anomaly(True, check_nan=False).")


class OpNode(Node):
    """The grad_fn of an op-table operation.

    Saved inputs are kept as the objects passed (Tensor, numpy constant);
    the saved output as its array (keeping the output Tensor would make a
    reference cycle), rebuilt into a Tensor only when a backward with
    ``create_graph=True`` needs it.
    """

    __slots__ = ("entry", "attrs", "saved", "versions", "out", "out_version", "out_ir", "shapes", "dtypes",
                 "compute_dtype", "needs", "freed")

    entry: Op | Composite
    attrs: dict[str, Any]
    saved: tuple[Any, ...]
    versions: tuple[tuple[Tensor, int], ...]
    out: np.ndarray | None
    out_version: tuple[list[int], int] | None
    out_ir: Any                # the output's IR value when recorded inside a trace, else None
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]
    compute_dtype: np.dtype | None
    needs: tuple[bool, ...]
    freed: bool

    def _unpack(self, create_graph: bool) -> tuple[tuple[Any, ...], Any]:
        if self.freed:
            raise RuntimeError(FREED_MESSAGE)
        for t, v in self.versions:
            if t._version_box[0] != v:
                raise version_error(t._data.shape, t._data.dtype, t.grad_fn, t._version_box[0], v)
        if self.out_version is not None and self.out_version[0][0] != self.out_version[1]:
            raise version_error(self.out.shape, self.out.dtype, self, self.out_version[0][0],
                                self.out_version[1])
        cd = self.compute_dtype
        args = []
        for a in self.saved:
            if type(a) is Tensor or isinstance(a, Tensor):
                if create_graph:
                    if cd is not None and a._data.dtype != cd and a._data.dtype.kind != "b":
                        a = a.to(cd)
                else:
                    a = a._data
                    if cd is not None and a.dtype != cd and a.dtype.kind != "b":
                        a = a.astype(cd)
            args.append(a)
        out = self.out
        if out is not None and create_graph:
            out = wrap(out, self)
            ir = self.out_ir
            if ir is not None and any(ir.id in b.owned for b in _trace.TRACE.builders):
                out._ir = ir  # not a constant: the traced value, whatever the call
        return tuple(args), out

    def _backward(self, grads: list[Grad], create_graph: bool) -> tuple[Grad | None, ...]:
        g = grads[0]
        args, out = self._unpack(create_graph)
        entry = self.entry
        if create_graph:
            E = TENSOR_EMITTER
        else:
            E = NUMPY
        ctx = VjpContext(args, out, self.shapes, self.dtypes, self.needs, self.attrs)
        if entry.vjp is not None:
            result = entry.vjp(E, ctx, g)
        else:
            result = _decomposition_vjp(entry, ctx, g, create_graph)
        fixed = []
        for need, r, shape, dtype in zip(self.needs, result, self.shapes, self.dtypes):
            if not need or r is None:
                fixed.append(None)
                continue
            rshape = E.shape(r)
            if rshape != shape:
                # Implicit broadcasting in the forward call: sum the cotangent back down.
                full = broadcast_shapes(rshape, shape)
                r = E.sum_to_shape(E.broadcast_to(r, full), shape)
            if create_graph:
                if r._data.dtype != dtype:
                    r = r.to(dtype)
            elif r.dtype != dtype:
                r = r.astype(dtype)
            fixed.append(r)
        grad_args = entry.grad_args
        if grad_args is not None:
            return tuple(fixed[i] for i in grad_args)
        return tuple(fixed)

    def _release(self) -> None:
        # Only a node that kept values can fail a second backward (as in PyTorch).
        if self.out is not None or any(a is not None for a in self.saved):
            self.freed = True
        self.saved = (None,) * len(self.saved)
        self.out = None
        self.out_version = None
        self.out_ir = None
        self.versions = ()


def _decomposition_vjp(entry: Composite, ctx: VjpContext, g: Grad, create_graph: bool) -> tuple[Grad | None, ...]:
    """Gradient of a composite without a closed-form vjp: differentiate its decomposition."""
    if create_graph:
        inputs = list(ctx.args)
    else:
        inputs = [wrap(np.asarray(a)) if not isinstance(a, Tensor) else a for a in ctx.args]
        for t, need in zip(inputs, ctx.needs):
            t.requires_grad_(bool(need))
    with enable_grad():
        out = entry.decompose(TENSOR_EMITTER, *inputs, **ctx.attrs)
    wanted = [t for t, need in zip(inputs, ctx.needs) if need]
    g_t = g if create_graph else wrap(g)
    got = iter(run_backward([out], [g_t if create_graph else g], retain_graph=create_graph,
                            create_graph=create_graph, inputs=wanted, accumulate=False, allow_unused=True))
    out_grads = []
    for need in ctx.needs:
        r = next(got) if need else None
        if r is not None and not create_graph:
            r = r._data if isinstance(r, Tensor) else r
        out_grads.append(r)
    return tuple(out_grads)


#: Nodes PyTorch defines only in C++, whose ``name()`` carries the namespace.
_QUALIFIED_NAMES = frozenset({"AccumulateGrad", "CopySlices", "CopyBackwards"})


class AccumulateGrad(Node):
    """The node that adds a gradient into a leaf tensor's ``.grad``.

    The leaf owns its accumulator and the accumulator refers back weakly, so
    one accumulator serves every graph built on the leaf without a cycle.
    """

    __slots__ = ("_variable",)

    def __init__(self, variable: Tensor) -> None:
        self._variable = weakref.ref(variable)
        self.next_functions = ()
        self._seq = -1  # runs after every node that can feed it
        self._pre_hooks = None
        self._post_hooks = None
        self._retained = None

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"

    @property
    def variable(self) -> Tensor | None:
        """The leaf tensor this node accumulates into (None once it has been freed)."""
        return self._variable()

    def _accumulate(self, g: Grad, create_graph: bool) -> None:
        var = self._variable()
        if var is None:
            return
        if create_graph:
            g_t = g if isinstance(g, Tensor) else wrap(g)
            if create_graph is TRACED:
                g_t = g_t.detach()
            if g_t._data.dtype != var._data.dtype:
                g_t = g_t.to(var._data.dtype)
            if var._grad is None:
                # PyTorch keeps a copy of the incoming gradient, recorded as CopyBackwards.
                var._grad = apply_op(OPS["mul"], (g_t, 1.0), {}, "CopyBackwards") if g_t.requires_grad else g_t
            else:
                var._grad = var._grad + g_t
            return
        if isinstance(g, Tensor):
            g = g._data
        old = var._grad
        if old is None:
            # A copy: gradient buffers may be shared between inputs (add passes g to both).
            var._grad = wrap(np.array(g, dtype=var._data.dtype) if g.shape == var._data.shape else
                             np.full(var._data.shape, g, dtype=var._data.dtype))
        else:  # in place, as PyTorch does outside create_graph (a .grad with a graph keeps its node)
            np.add(old._data, g, out=old._data, casting="unsafe")
            old._version_box[0] += 1


def _apply_pre_hooks(node: Node, grads: list[Grad], create_graph: bool) -> list[Grad]:
    for output_nr, fn in list(node._pre_hooks or ()):
        if output_nr is None:
            wrapped = tuple(None if g is None else (g if isinstance(g, Tensor) else wrap(g)) for g in grads)
            res = fn(wrapped)
            if res is not None:
                grads = [None if r is None else (r if create_graph else r._data) for r in res]
            continue
        g = grads[output_nr]
        if g is None:
            continue
        res = fn(g if isinstance(g, Tensor) else wrap(g))
        if res is not None:
            if not isinstance(res, Tensor):
                raise TypeError("hooks must return a Tensor or None")
            grads[output_nr] = res if create_graph else res._data
    return grads


def _store_retained(node: Node, grads: list[Grad], create_graph: bool) -> None:
    for output_nr, ref in list(node._retained.items()):
        t = ref()
        g = grads[output_nr]
        if t is None or g is None:
            continue
        _add_to_grad(t, g, create_graph)


_seq_of = operator.attrgetter("_seq")


def _add(a: Grad | None, b: Grad) -> Grad:
    if a is None:
        return b
    return a + b


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Grad], retain_graph: bool = False,
                 create_graph: bool = False, inputs: Sequence[Tensor] | None = None, accumulate: bool = True,
                 allow_unused: bool = False) -> list[Tensor | None] | None:
    """Backpropagate `root_grads` from `roots` through the tape.

    With ``accumulate=True`` gradients are added into ``.grad`` of the leaves
    (only of `inputs` when given); otherwise the gradients of `inputs` are
    returned (``autograd.grad``), None for unused inputs.
    """
    if not create_graph and _trace.TRACE.builders and any(_traced_here(r) for r in roots):
        # Inside a trace: gradients are computed with traced ops, so that compiled code computes
        # them for every call (numpy arrays would be constants of the trace: the first call's).
        create_graph = TRACED
        root_grads = [g if isinstance(g, Tensor) else wrap(np.asarray(g)) for g in root_grads]
    # vjp rules meet 0 * inf and friends at singular points (pow at 0); like
    # PyTorch, say nothing and let the values speak.
    with np.errstate(all="ignore"):
        results = _run_backward(roots, root_grads, retain_graph, create_graph, inputs, accumulate, allow_unused)
    if create_graph is TRACED and results is not None:
        results = [None if r is None else r.detach() for r in results]
    return results


def _run_backward(roots: Sequence[Tensor], root_grads: Sequence[Grad], retain_graph: bool, create_graph: bool,
                  inputs: Sequence[Tensor] | None, accumulate: bool,
                  allow_unused: bool) -> list[Tensor | None] | None:

    buffers: dict = {}
    starts = []
    for t, g in zip(roots, root_grads):
        node, nr = t._edge()
        if node is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        bufs = buffers.get(node)
        if bufs is None:
            bufs = buffers[node] = [None] * node.num_outputs
        bufs[nr] = _add(bufs[nr], g)
        starts.append(node)

    # Everything reachable from the roots, in an order where producers come last.
    seen = set(starts)
    stack = list(seen)
    nodes = []
    while stack:
        node = stack.pop()
        nodes.append(node)
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    if len(nodes) > 1:
        nodes.sort(key=_seq_of, reverse=True)

    targets = None
    results = None
    if inputs is not None:
        targets = {}
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError("inputs must be Tensors")
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            targets.setdefault(t._edge(), []).append(i)
        results = [None] * len(inputs)
        # Only nodes on a path to an input need to run.
        wanted_nodes = {edge[0] for edge in targets}
        needed = set()
        for node in reversed(nodes):
            if node in wanted_nodes or any(n in needed for n, _ in node.next_functions if n is not None):
                needed.add(node)
    else:
        needed = None
    if create_graph is TRACED and accumulate:
        # Refused before any .grad changes (nothing is half done).
        for node in nodes:
            if type(node) is AccumulateGrad and (needed is None or node in needed):
                var = node.variable
                if var is not None and not created_by_trace(var):
                    raise outside_grad_error(var)

    for node in nodes:
        grads = buffers.pop(node, None)
        if grads is None or (needed is not None and node not in needed):
            continue
        if node._pre_hooks:
            grads = _apply_pre_hooks(node, grads, create_graph)
        if node._retained and accumulate:
            _store_retained(node, grads, create_graph)
        is_leaf_node = type(node) is AccumulateGrad
        if targets is not None:
            for nr, g in enumerate(grads):
                idx = targets.get((node, nr))
                if idx is None or g is None:
                    continue
                for i in idx:
                    results[i] = g if create_graph or isinstance(g, Tensor) else wrap(g)
                if accumulate:
                    if is_leaf_node:
                        node._accumulate(g, create_graph)
                    else:
                        _accumulate_target(inputs[idx[0]], g, create_graph)
            if is_leaf_node:
                continue
        elif is_leaf_node:
            if accumulate:
                node._accumulate(grads[0], create_graph)
            continue
        if not any(g is not None for g in grads) if len(grads) > 1 else grads[0] is None:
            continue
        if create_graph:
            grads = [g if g is None or isinstance(g, Tensor) else wrap(g) for g in grads]
        in_grads = node._backward(grads, create_graph)
        if ANOMALY.enabled and ANOMALY.check_nan:
            for k, g in enumerate(in_grads):
                if g is not None and has_nan(g._data if isinstance(g, Tensor) else g):
                    raise backward_nan_error(node.name(), k, getattr(node, "_loc", None))
        if node._post_hooks:
            for hook in list(node._post_hooks):
                res = hook(tuple(None if g is None else (g if isinstance(g, Tensor) else wrap(g))
                                 for g in in_grads),
                           tuple(None if g is None else (g if isinstance(g, Tensor) else wrap(g))
                                 for g in grads))
                if res is not None:
                    in_grads = tuple(None if r is None else (r if create_graph else r._data) for r in res)
        if not retain_graph:
            node._release()
        for (nxt, nr), g in zip(node.next_functions, in_grads):
            if nxt is None or g is None:
                continue
            bufs = buffers.get(nxt)
            if bufs is None:
                bufs = buffers[nxt] = [None] * nxt.num_outputs
            bufs[nr] = _add(bufs[nr], g)

    if results is not None and not accumulate:
        for i, r in enumerate(results):
            if r is None and not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the graph. "
                    f"Set allow_unused=True if this is the desired behavior.")
    return results


def _accumulate_target(t: Tensor, g: Grad, create_graph: bool) -> None:
    """``backward(inputs=...)`` on a non-leaf: its ``.grad`` is filled like a leaf's."""
    t._retains_grad = True
    _add_to_grad(t, g, create_graph)


def _add_to_grad(t: Tensor, g: Grad, create_graph: bool) -> None:
    """Add `g` into the ``.grad`` of non-leaf `t` (out of place: a retained grad may be shared)."""
    if create_graph:
        if create_graph is TRACED:
            g = g.detach()
        t._grad = g if t._grad is None else t._grad + g
    elif t._grad is None:
        t._grad = wrap(np.array(g, dtype=t._data.dtype))
    else:
        t._grad = wrap(t._grad._data + g)


# --------------------------------------------------------------------------
# The public entry points: tracegrad.autograd.backward and .grad
# --------------------------------------------------------------------------

def _as_tuple(x: Any) -> tuple[Any, ...] | None:
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def _root_grads(outputs: Sequence[Tensor], grad_outputs: Sequence[TensorLike | None] | None, create_graph: bool,
                what: str = "grad_output") -> list[Any]:
    if grad_outputs is None and len(outputs) == 1:
        out = outputs[0]
        # The common case, loss.backward(): a scalar seed of ones.
        if isinstance(out, Tensor) and out.grad_fn is not None and out._data.size == 1:
            g_arr = np.ones(out._data.shape, dtype=out._data.dtype)
            return [wrap(g_arr) if create_graph else g_arr]
    grads = []
    grad_outputs = grad_outputs or (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError("grad can be implicitly created only for scalar outputs" if not grad_outputs else
                           f"Mismatch in length: {what}s has {len(grad_outputs)} elements but outputs has "
                           f"{len(outputs)}")
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g_arr = np.ones(out._data.shape, dtype=out._data.dtype)
            grads.append(wrap(g_arr) if create_graph else g_arr)
            continue
        g_t = g if isinstance(g, Tensor) else wrap(np.asarray(g))
        if g_t.shape != out.shape:
            raise RuntimeError(f"Mismatch in shape: {what}[{i}] has a shape of {g_t.shape!r} and output[{i}] has "
                               f"a shape of {out.shape!r}.")
        if create_graph:
            grads.append(g_t.to(out._data.dtype))
        else:
            arr = g_t._data
            grads.append(arr if arr.dtype == out._data.dtype else arr.astype(out._data.dtype))
    return grads


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: TensorLike | Sequence[TensorLike | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of `tensors` into the ``.grad`` of graph leaves (or of `inputs` only).

    A non-scalar tensor needs a matching `grad_tensors` entry (the vector of
    the vector-Jacobian product); its dtype is cast to the tensor's.
    """
    tensors = _as_tuple(tensors)
    grads = _root_grads(tensors, _as_tuple(grad_tensors), create_graph)
    if create_graph:
        warnings.warn("Using backward() with create_graph=True will create a reference cycle between the parameter "
                      "and its gradient which can cause a memory leak. We recommend using autograd.grad when "
                      "creating the graph to avoid this. If you have to use this function, make sure to reset the "
                      ".grad fields of your parameters to None after use to break the cycle and avoid the leak.",
                      UserWarning, stacklevel=3)
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(tensors, grads, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=_as_tuple(inputs), accumulate=True)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: TensorLike | Sequence[TensorLike | None] | None = None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned (``.grad`` is left alone).

    >>> import tracegrad as tg
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> (g,) = tg.autograd.grad(x ** 3, x, create_graph=True)
    >>> g, tg.autograd.grad(g, x)[0]
    (tensor(12., grad_fn=<MulBackward0>), tensor(12.))
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grads = _root_grads(outputs, _as_tuple(grad_outputs), create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    result = run_backward(outputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                          inputs=inputs, accumulate=False, allow_unused=allow_unused)
    if materialize_grads:
        result = [wrap(np.zeros_like(i._data)) if r is None else r for r, i in zip(result, inputs)]
    return tuple(result)
