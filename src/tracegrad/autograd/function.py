"""Custom differentiable functions: ``class F(tracegrad.autograd.Function)`` with static forward/backward."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from tracegrad._dispatch import _edge, wrap
from tracegrad._engine import FREED_MESSAGE, Node, _sequence, node_class, version_error
from tracegrad._grad_mode import STATE, _GradMode
from tracegrad._tensor import Tensor
from tracegrad._trace import TRACE, source_location, tracing
from tracegrad.compiler.passes import dce
from tracegrad.ir.graph import Graph, GraphBuilder, const_value
from tracegrad.ir.types import TensorType
from tracegrad.ir.walk import inline

__all__ = ["Function", "FunctionCtx", "once_differentiable"]

_F = TypeVar("_F", bound=Callable[..., Any])


class FunctionCtx(Node):
    """The ``ctx`` of a custom Function, which is also its grad_fn node (``<MyFnBackward>``)."""

    num_outputs = 1

    # Set by Function.apply (FunctionCtx declares no slots, so these live in the instance __dict__).
    _cls: type[Function]
    _saved: tuple[Tensor | _SavedOutput | None, ...]
    _saved_versions: tuple[int | None, ...]
    _freed: bool
    _materialize: bool
    _dirty: tuple[Tensor, ...]
    _non_diff: set[int]
    _in_meta: tuple[tuple[tuple[int, ...] | None, np.dtype | None], ...]
    _out_meta: tuple[tuple[tuple[int, ...], np.dtype], ...]
    needs_input_grad: tuple[bool, ...]

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors for backward; read them back with ``ctx.saved_tensors``."""
        self._saved = tuple(tensors)
        self._saved_versions = tuple(None if t is None else t._version_box[0] for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to ``save_for_backward`` (checked against in-place changes)."""
        if self._freed:
            raise RuntimeError(FREED_MESSAGE)
        saved = tuple(s.unpack(self) if type(s) is _SavedOutput else s for s in self._saved)
        for t, v in zip(saved, self._saved_versions):
            if t is not None and t._version_box[0] != v:
                raise version_error(t._data.shape, t._data.dtype, t.grad_fn, t._version_box[0], v)
        return saved

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare the inputs that forward modified in place (they are returned as outputs)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that get no grad_fn (integer results, masks ...)."""
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """Whether backward receives zero tensors (True, the default) or None for outputs without a gradient."""
        self._materialize = bool(value)

    def _release(self) -> None:
        self._saved = ()
        self._freed = True

    def _backward(self, grads: list[Any], create_graph: bool) -> tuple[Any, ...]:
        grad_tensors = []
        for g, meta in zip(grads, self._out_meta):
            if g is None:
                if self._materialize:
                    grad_tensors.append(wrap(np.zeros(meta[0], dtype=meta[1])))
                else:
                    grad_tensors.append(None)
            else:
                grad_tensors.append(g if isinstance(g, Tensor) else wrap(g))
        with _GradMode(create_graph):
            result = self._cls.backward(self, *grad_tensors)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.next_functions)
        if len(result) != n:
            if len(result) > n and all(r is None for r in result[n:]):
                result = result[:n]
            else:
                raise RuntimeError(f"function {type(self).__name__} returned an incorrect number of gradients "
                                   f"(expected {n}, got {len(result)})")
        out = []
        for r, (shape, dtype) in zip(result, self._in_meta):
            if r is None or shape is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"function {type(self).__name__} returned a gradient that is not a Tensor or None")
            if tuple(r.shape) != shape:
                raise RuntimeError(f"Function {type(self).__name__} returned an invalid gradient at index "
                                   f"{len(out)} - got {list(r.shape)} but expected shape compatible with "
                                   f"{list(shape)}")
            if r._data.dtype != dtype:
                r = r.to(dtype)
            out.append(r if create_graph else r._data)
        return tuple(out)


class Function:
    """Base class for operations with a hand-written backward.

    >>> import tracegrad as tg
    >>> class Square(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g
    >>> x = tg.tensor([3.0], requires_grad=True)
    >>> Square.apply(x).backward(tg.ones(1)); x.grad
    tensor([6.])
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        """The computation: Tensors in, Tensor(s) out; runs with gradient recording off."""
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        """Gradients of the inputs (a Tensor or None for each) given those of the outputs."""
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> None:
        """Override (with a ``forward`` that takes no ctx) to save what backward needs from inputs and output.

        >>> import tracegrad as tg
        >>> class Scale(tg.autograd.Function):
        ...     @staticmethod
        ...     def forward(x, k):
        ...         return x * k
        ...     @staticmethod
        ...     def setup_context(ctx, inputs, output):
        ...         ctx.k = inputs[1]
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return g * ctx.k, None
        >>> x = tg.ones(2, requires_grad=True)
        >>> Scale.apply(x, 3.0).sum().backward(); x.grad
        tensor([3., 3.])
        """
        raise NotImplementedError("setup_context is not implemented.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(f"{type(self)} should not be instantiated. Methods on autograd functions are all static, so "
                      f"you should invoke them on the class itself. Instantiating an autograd function will raise an "
                      f"error in a future version of PyTorch.", DeprecationWarning, stacklevel=2)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Legacy autograd function with non-static forward method is deprecated. Please use "
                           "new-style autograd function with static forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @classmethod
    def _forward(cls, ctx: FunctionCtx, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run forward in either style: ``forward(ctx, *args)``, or ``forward(*args)`` then ``setup_context``."""
        if cls.setup_context is Function.setup_context:
            return cls.forward(ctx, *args, **kwargs)
        output = cls.forward(*args, **kwargs)
        cls.setup_context(ctx, args, output)
        return output

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` without recording, and attach ``backward`` as the outputs' grad_fn."""
        node_cls = node_class(f"{cls.__name__}Backward", FunctionCtx, module="torch.autograd.function")
        ctx = node_cls.__new__(node_cls)
        ctx._cls = cls
        ctx._saved = ()
        ctx._saved_versions = ()
        ctx._freed = False
        ctx._materialize = True
        ctx._dirty = ()
        ctx._non_diff = set()
        ctx._pre_hooks = ctx._post_hooks = ctx._retained = None
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        if TRACE.builders and any(isinstance(a, Tensor) and a._ir is not None for a in args):
            return _trace_region(cls, ctx, args, kwargs)
        with _GradMode(False):
            outputs = cls._forward(ctx, args, kwargs)
        record = STATE.enabled and any(ctx.needs_input_grad)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not record:
            return outputs
        ctx.next_functions = tuple(_edge(a) for a in args)
        ctx._seq = next(_sequence)
        ctx._in_meta = tuple((tuple(a.shape), a._data.dtype) if isinstance(a, Tensor) else (None, None)
                             for a in args)
        result, meta = [], []
        inputs_by_id = {id(a) for a in args if isinstance(a, Tensor)}
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                result.append(o)
                meta.append(((), np.dtype(np.float32)))
                continue
            if id(o) in inputs_by_id and o not in ctx._dirty:
                o = wrap(o._data)  # an input returned as is becomes a new output tensor
            meta.append((tuple(o.shape), o._data.dtype))
            if id(o) not in ctx._non_diff and o._data.dtype.kind == "f":
                o.grad_fn = ctx
                o._output_nr = i
                o._requires_grad = False
            result.append(o)
        ctx._out_meta = tuple(meta)
        ctx.num_outputs = len(outs)
        # An output saved for backward would refer to ctx (its grad_fn) while ctx refers
        # to it: a cycle that outlives a forward without backward.  Keep its data instead.
        if any(isinstance(t, Tensor) and t.grad_fn is ctx for t in ctx._saved):
            ctx._saved = tuple(_SavedOutput(t) if isinstance(t, Tensor) and t.grad_fn is ctx else t
                               for t in ctx._saved)
        return result[0] if single else tuple(result)


class _SavedOutput:
    """An output of a custom Function saved for its backward, held without its grad_fn (the ctx itself)."""

    __slots__ = ("data", "version", "output_nr")

    def __init__(self, t: Tensor):
        self.data, self.version, self.output_nr = t._data, t._version_box, t._output_nr

    def unpack(self, ctx: FunctionCtx) -> Tensor:
        t = wrap(self.data, ctx, self.version)
        t._output_nr = self.output_nr
        return t


_region_ids = __import__("itertools").count()


def _trace_region(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """Inside a trace: one ``custom_vjp`` node whose backward is ``cls.backward``, traced.

    The forward is traced into its own graph; the backward is traced into a
    graph taking the inputs and the cotangent, which first recomputes the
    forward (so tensors saved by ``ctx`` are available) and then runs
    ``backward``; dead recomputation is removed by the passes later.
    """

    outer = TRACE.builder
    region = f"{cls.__name__}_{next(_region_ids)}"
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    fwd = GraphBuilder(Graph(name=f"{region}_fwd"))
    targs = list(args)
    for i in positions:
        t = wrap(args[i]._data)
        t._ir = fwd.input(TensorType(t._data.dtype, t._data.shape))
        targs[i] = t
    with tracing(fwd), _GradMode(True):
        out = cls._forward(ctx, tuple(targs), kwargs)
    if not isinstance(out, Tensor):
        raise NotImplementedError(f"{cls.__name__}: inside a compiled function, custom Functions must return a "
                                  f"single Tensor")
    fwd.graph.outputs = [out._ir if out._ir is not None else const_value(out._data)]

    bwd = GraphBuilder(Graph(name=f"{region}_bwd"))
    xs = [bwd.input(fwd.graph.inputs[k].type) for k in range(len(positions))]
    g_value = bwd.input(fwd.graph.outputs[0].type)
    mapping = inline(fwd.graph, bwd, xs)
    saved = [t for t in ctx._saved if isinstance(t, Tensor)]
    previous = [t._ir for t in saved]
    for t in saved:
        if t._ir is not None:
            t._ir = mapping.get(t._ir.id, t._ir)
    g = wrap(np.ones(out._data.shape, dtype=out._data.dtype))
    g._ir = g_value
    try:
        with tracing(bwd), _GradMode(True):
            grads = cls.backward(ctx, g)
    finally:
        for t, ir in zip(saved, previous):
            t._ir = ir
    grads = grads if isinstance(grads, tuple) else (grads,)
    outs = []
    for i, x in zip(positions, xs):
        gi = grads[i] if i < len(grads) else None
        if gi is None:
            outs.append(bwd.broadcast_to(const_value(np.zeros((), dtype=x.dtype)), x.shape))
        else:
            outs.append(gi._ir if gi._ir is not None else const_value(gi._data))
    bwd.graph.outputs = outs
    bwd.graph = dce(bwd.graph)  # the recomputed forward values backward did not read

    ins = [args[i]._ir if args[i]._ir is not None else const_value(args[i]._data) for i in positions]
    outer.loc = source_location()
    value = outer.apply("custom_vjp", *ins, fwd=fwd.graph, bwd=bwd.graph)
    result = wrap(out._data)
    result._ir = value
    return result


class DelayedError(Function):
    """Passes tensors through; differentiating through it raises (the mark of ``once_differentiable``)."""

    @staticmethod
    def forward(ctx: FunctionCtx, *tensors: Tensor) -> Any:
        outs = tuple(t.clone() for t in tensors)
        return outs[0] if len(outs) == 1 else outs

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn: _F) -> _F:
    """Mark a custom Function's backward as differentiable once only, as PyTorch's decorator does.

    The backward runs without recording; when its incoming gradients require grad
    (``create_graph=True``), its results carry a node that raises if a second
    backward reaches it.
    """
    import functools


    @functools.wraps(fn)
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        with _GradMode(False):
            outputs = fn(ctx, *grads)
        if not STATE.enabled or not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o._data.dtype.kind == "f"]
        if not positions:
            return outputs
        for o in (outs[i] for i in positions):
            o.requires_grad_(True)
        marked = DelayedError.apply(*(outs[i] for i in positions))
        marked = marked if isinstance(marked, tuple) else (marked,)
        result = list(outs)
        for i, m in zip(positions, marked):
            result[i] = m
        return result[0] if single else tuple(result)
    return backward  # type: ignore[return-value]
