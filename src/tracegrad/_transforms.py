"""Compiled transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jit``, ``jacobian``, ``hessian``.

A transformed function traces one run of the Python function into an IR
graph (:mod:`tracegrad._trace`), derives the adjoint graph
(:mod:`compiler.adjoint`), optimises it (:mod:`compiler.passes`) and runs it
with a backend.  Traces are cached per *key* -- the structure of the
arguments, each array's shape and dtype, and the values of non-array
arguments -- and, within a key, per path: every trace carries the guards it
recorded, a call runs the first trace whose guards hold, and a call no trace
accepts is traced anew (define-by-run semantics at compiled speed).

Transforms nest: a transformed function called on traced values (inside an
outer transform) inlines its graph into the outer trace, so ``grad(grad(f))``
differentiates the inner adjoint graph again.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import threading
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from tracegrad._trace import TRACE, tracing
from tracegrad.autograd.grad_mode import STATE
from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.partition import partition
from tracegrad.compiler.passes import optimize
from tracegrad.ir.graph import Graph, GraphBuilder, const_value, inline, replay
from tracegrad.ir.interpret import GuardFailure, guard_holds, interpret
from tracegrad.ir.types import TensorType, is_float

__all__ = ["grad", "value_and_grad", "vjp", "jit", "jacobian", "hessian", "trace_function", "dump_ir",
           "CacheInfo"]

CacheInfo = namedtuple("CacheInfo", ["traces", "hits", "misses"])


# --------------------------------------------------------------------------
# Argument structures (tuples, lists, dicts of leaves)
# --------------------------------------------------------------------------

def tree_flatten(x):
    """Leaves of nested tuples/lists/dicts, and a description to rebuild the structure."""
    if isinstance(x, (tuple, list)) and not hasattr(x, "_fields"):
        leaves, defs = [], []
        for item in x:
            sub, d = tree_flatten(item)
            leaves.extend(sub)
            defs.append(d)
        return leaves, (type(x), tuple(defs))
    if isinstance(x, dict):
        keys = sorted(x, key=repr)
        leaves, defs = [], []
        for k in keys:
            sub, d = tree_flatten(x[k])
            leaves.extend(sub)
            defs.append(d)
        return leaves, (dict, tuple(keys), tuple(defs))
    return [x], None


def tree_unflatten(treedef, leaves):
    """Inverse of :func:`tree_flatten`."""
    it = iter(leaves)

    def build(d):
        if d is None:
            return next(it)
        if d[0] is dict:
            return {k: build(sub) for k, sub in zip(d[1], d[2])}
        return d[0](build(sub) for sub in d[1])
    return build(treedef)


def _is_dynamic(leaf) -> bool:
    from tracegrad._tensor import Tensor
    return isinstance(leaf, (Tensor, np.ndarray, np.generic))


def _leaf_array(leaf) -> np.ndarray:
    from tracegrad._tensor import Tensor
    if isinstance(leaf, Tensor):
        return leaf._data
    return np.asarray(leaf)


def _static_key(leaf):
    try:
        hash(leaf)
        return (type(leaf), leaf)
    except TypeError:
        return (type(leaf), id(leaf))


# --------------------------------------------------------------------------
# Tracing a call
# --------------------------------------------------------------------------

GRAPH_OUTPUT = object()  # marks an output leaf that the graph computes


@dataclass
class Trace:
    """One traced run: the graph and how to map outputs back to Python values."""

    graph: Graph
    out_tree: object
    out_static: list          # per output leaf: GRAPH_OUTPUT, or the static (non-array) value
    concrete: list            # the arrays the tracing run produced for the graph outputs
    n_main: int               # output leaves of the main result (the rest is aux)


def trace_function(f, args, kwargs, has_aux: bool = False, float_scalars: set[int] | None = None) -> Trace:
    """Run ``f(*args, **kwargs)`` once with traced tensors for its array arguments.

    Leaves listed in `float_scalars` (Python floats to differentiate) are
    traced as 0-d float64 inputs.
    """
    from tracegrad._tensor import Tensor, wrap
    leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
    name = re.sub(r"\W", "_", getattr(f, "__name__", "f").replace("<lambda>", "lambda")) or "f"
    builder = GraphBuilder(Graph(name=name if name[0].isalpha() else f"f{name}"))
    traced = []
    dyn_names = []
    names = _leaf_names(f, args, kwargs)
    for i, leaf in enumerate(leaves):
        if _is_dynamic(leaf) or (float_scalars and i in float_scalars):
            arr = _leaf_array(leaf) if _is_dynamic(leaf) else np.asarray(leaf, dtype=np.float64)
            t = wrap(arr)
            t._ir = builder.input(TensorType(arr.dtype, arr.shape))
            traced.append(t)
            dyn_names.append(names[i])
        else:
            traced.append(leaf)
    builder.graph.input_names = _unique(dyn_names)
    targs, tkwargs = tree_unflatten(in_tree, traced)
    with tracing(builder):
        result = f(*targs, **tkwargs)
    main, aux = (result if has_aux else (result, None))
    if has_aux and not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("has_aux=True requires the function to return a pair (output, aux)")
    out_leaves, out_tree = tree_flatten((main, aux))
    main_leaves, _ = tree_flatten(main)
    outputs, static, concrete = [], [], []
    for leaf in out_leaves:
        if isinstance(leaf, Tensor) or isinstance(leaf, np.ndarray):
            arr = _leaf_array(leaf)
            v = leaf._ir if isinstance(leaf, Tensor) and leaf._ir is not None else const_value(arr)
            outputs.append(v)
            concrete.append(arr)
            static.append(GRAPH_OUTPUT)
        else:
            static.append(leaf)
    builder.graph.outputs = outputs
    return Trace(builder.graph, out_tree, static, concrete, len(main_leaves))


def _leaf_names(f, args, kwargs) -> list[str]:
    try:
        params = [p for p in inspect.signature(f).parameters]
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) else f"a{i}"
        n = len(tree_flatten(a)[0])
        names.extend([base] if n == 1 else [f"{base}{j}" for j in range(n)])
    kw_leaves, _ = tree_flatten(dict(kwargs))
    names.extend(f"kw{j}" for j in range(len(kw_leaves)))
    return names


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = n if n.isidentifier() else "a"
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


# --------------------------------------------------------------------------
# Running graphs: interpreter, inlining into an outer trace, eager replay
# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# The cache of traces
# --------------------------------------------------------------------------

@dataclass
class Compiled:
    """One trace of a transformed function and the graphs derived from it."""

    trace: Trace
    graph: Graph                       # what this transform runs (forward, joint, ...)
    adjoint: Graph | None = None       # for vjp/jit composition: the adjoint half
    n_residuals: int = 0
    extra: dict = field(default_factory=dict)


def _verify_or_none():
    try:
        from tracegrad.ir.verify import verify
    except ImportError:  # pragma: no cover - the verifier ships with the IR
        return None
    return verify if os.environ.get("TRACEGRAD_VERIFY", "1") != "0" else None


def _dump(name: str, texts: dict[str, str]) -> None:
    directory = os.environ.get("TRACEGRAD_DUMP")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for kind, text in texts.items():
        path = os.path.join(directory, f"{name}.{kind}.ir")
        with open(path, "w") as fh:
            fh.write(text + "\n")


class _Transformed:
    """A transformed function with its cache of traces."""

    def __init__(self, fun, mode: str, argnums=0, has_aux: bool = False, backend: str = "interpreter"):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.mode = mode
        self.argnums = argnums
        self.has_aux = has_aux
        if backend not in ("interpreter",):
            raise ValueError(f"unknown backend {backend!r}; available: 'interpreter'")
        self.backend = backend
        self._cache: dict = {}
        self._lock = threading.Lock()
        self._traces = self._hits = self._misses = 0

    def __repr__(self):
        return f"<tracegrad.{self.mode} of {getattr(self.fun, '__qualname__', self.fun)!r}>"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def cache_info(self) -> CacheInfo:
        """Number of traces kept, calls answered by a cached trace, and calls that traced."""
        return CacheInfo(self._traces, self._hits, self._misses)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._traces = 0

    # ----------------------------------------------------------- arguments
    def _diff_positions(self, nargs: int) -> tuple[int, ...]:
        argnums = self.argnums
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for n in nums:
            if not -nargs <= n < nargs:
                raise ValueError(f"argnums {argnums!r} out of range for a function called with {nargs} "
                                 f"positional arguments")
        return tuple(n % nargs for n in nums)

    def _prepare(self, args, kwargs):
        leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
        diff_leaves: list[int] = []
        if self.mode in ("grad", "value_and_grad", "vjp"):
            positions = self._diff_positions(len(args))
            start = 0
            ranges = []
            for a in args:
                n = len(tree_flatten(a)[0])
                ranges.append((start, start + n))
                start += n
            for p in positions:
                diff_leaves.extend(range(*ranges[p]))
        float_scalars = {i for i in diff_leaves if isinstance(leaves[i], float)}
        dyn = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf) or i in float_scalars]
        for i in diff_leaves:
            arr = np.asarray(_leaf_array(leaves[i]) if _is_dynamic(leaves[i]) else leaves[i])
            if arr.dtype.kind != "f":
                raise TypeError(f"{self.mode} requires floating-point inputs to differentiate; argument leaf "
                                f"{i} has dtype {arr.dtype}")
        key = [in_tree, tuple(diff_leaves)]
        for i, leaf in enumerate(leaves):
            if i in float_scalars:
                key.append(("f",))
            elif _is_dynamic(leaf):
                arr = _leaf_array(leaf)
                key.append((arr.shape, arr.dtype))
            else:
                key.append(_static_key(leaf))
        return leaves, dyn, diff_leaves, float_scalars, tuple(key)

    # ------------------------------------------------------------- compile
    def _compile(self, args, kwargs, dyn, diff_leaves, float_scalars) -> Compiled:
        trace = trace_function(self.fun, args, kwargs, self.has_aux, float_scalars)
        self._traces += 1
        verify = _verify_or_none()
        graph = trace.graph
        if verify:
            verify(graph)
        wrt = [dyn.index(i) for i in diff_leaves]
        if self.mode in ("grad", "value_and_grad"):
            out = graph.outputs[0] if graph.outputs and trace.n_main >= 1 else None
            if trace.n_main != 1 or out is None:
                raise TypeError(f"{self.mode} requires the function to return one scalar tensor"
                                + (" (and aux with has_aux=True)" if not self.has_aux else ""))
            if out.shape != () or not is_float(out.dtype):
                raise TypeError(f"{self.mode} requires a scalar floating-point output; the function returned "
                                f"a tensor of shape {list(out.shape)} and dtype {out.dtype}. Use tg.vjp or "
                                f"tg.jacobian for non-scalar outputs.")
            joint, _ = adjoint(graph, wrt, seed="ones", seed_outputs=[0])
            joint = optimize(joint, verify)
            compiled = Compiled(trace, joint)
        elif self.mode == "vjp":
            main = list(range(trace.n_main))
            joint, cts = adjoint(graph, wrt, seed="inputs", seed_outputs=[k for k in main])
            joint = optimize(joint, verify)
            part = partition(joint, len(graph.outputs), cts)
            fwd, bwd = optimize(part.forward, verify), optimize(part.adjoint, verify)
            compiled = Compiled(trace, fwd, bwd, part.n_residuals, {"joint": joint, "cts": cts})
        else:
            compiled = Compiled(trace, optimize(graph, verify))
        _dump(f"{trace.graph.name}_{self._traces}", self._texts(compiled))
        return compiled

    @staticmethod
    def _texts(c: Compiled) -> dict[str, str]:
        texts = {"forward": str(c.trace.graph), "compiled": str(c.graph)}
        if c.adjoint is not None:
            texts["adjoint"] = str(c.adjoint)
        return texts

    def _lookup(self, key, arrays) -> tuple[Compiled, list] | None:
        for c in self._cache.get(key, ()):
            try:
                return c, interpret(c.graph, arrays)
            except GuardFailure:
                continue
        return None

    def _get(self, args, kwargs):
        """The compiled trace for these arguments and the values of its graph on them."""
        leaves, dyn, diff_leaves, float_scalars, key = self._prepare(args, kwargs)
        arrays = [np.asarray(leaves[i], dtype=np.float64) if i in float_scalars else _leaf_array(leaves[i])
                  for i in dyn]
        found = self._lookup(key, arrays)
        if found is not None:
            self._hits += 1
            return leaves, dyn, diff_leaves, found[0], found[1], arrays
        self._misses += 1
        with self._lock:
            compiled = self._compile(args, kwargs, dyn, diff_leaves, float_scalars)
            self._cache.setdefault(key, []).append(compiled)
        return leaves, dyn, diff_leaves, compiled, interpret(compiled.graph, arrays), arrays

    # ---------------------------------------------------------------- calls
    def __call__(self, *args, **kwargs):
        from tracegrad._tensor import Tensor
        leaves_all, _ = tree_flatten((tuple(args), dict(kwargs)))
        nested = bool(TRACE.builders) and any(isinstance(l, Tensor) and l._ir is not None for l in leaves_all)
        if (self.mode == "jit" and not nested and STATE.enabled
                and any(isinstance(l, Tensor) and l.requires_grad for l in leaves_all)):
            return self._jit_with_tape(args, kwargs, leaves_all)
        leaves, dyn, diff_leaves, compiled, values, arrays = self._get(args, kwargs)
        as_tensor = any(isinstance(l, Tensor) for l in leaves)
        if nested:
            values = self._inline(compiled, leaves, dyn, values)
        if self.mode == "jit":
            return self._outputs(compiled.trace, values, as_tensor or nested)
        if self.mode == "vjp":
            raise TypeError("use tg.vjp(f, *primals), not as a decorator")
        n_out = len(compiled.trace.graph.outputs)
        grads = values[n_out:]
        grad_tree = self._grad_structure(args, leaves, diff_leaves, grads, as_tensor or nested)
        out_main, aux = self._outputs(compiled.trace, values[:n_out], as_tensor or nested, split_aux=True)
        if self.mode == "grad":
            return (grad_tree, aux) if self.has_aux else grad_tree
        value = out_main
        return ((value, aux), grad_tree) if self.has_aux else (value, grad_tree)

    def _inline(self, compiled: Compiled, leaves, dyn, values):
        """Inside an outer trace: emit our graph into it and return Tensors carrying both."""
        from tracegrad._tensor import Tensor, wrap
        builder = TRACE.builder
        ins = []
        for i in dyn:
            leaf = leaves[i]
            ins.append(leaf._ir if isinstance(leaf, Tensor) and leaf._ir is not None else const_value(_leaf_array(leaf)))
        mapping = inline(compiled.graph, builder, ins)
        outs = [mapping.get(v.id, v) for v in compiled.graph.outputs]
        result = []
        for v, arr in zip(outs, values):
            t = wrap(np.asarray(arr))
            t._ir = v
            result.append(t)
        return result

    def _outputs(self, trace: Trace, values, as_tensor: bool, split_aux: bool = False):
        from tracegrad._tensor import Tensor, wrap
        it = iter(values)
        leaves = []
        for s in trace.out_static:
            if s is GRAPH_OUTPUT:
                v = next(it)
                if isinstance(v, Tensor):
                    leaves.append(v)
                else:
                    leaves.append(wrap(np.asarray(v)) if as_tensor else np.asarray(v))
            else:
                leaves.append(s)
        main, aux = tree_unflatten(trace.out_tree, leaves)
        if split_aux:
            return main, aux
        return (main, aux) if self.has_aux else main

    def _grad_structure(self, args, leaves, diff_leaves, grads, as_tensor):
        from tracegrad._tensor import Tensor, wrap
        by_leaf = dict(zip(diff_leaves, grads))
        positions = self._diff_positions(len(args))
        out = []
        start = 0
        starts = []
        for a in args:
            starts.append(start)
            start += len(tree_flatten(a)[0])
        for p in positions:
            sub_leaves, tree = tree_flatten(args[p])
            converted = []
            for j, leaf in enumerate(sub_leaves):
                g = by_leaf[starts[p] + j]
                if isinstance(g, Tensor):
                    converted.append(g)
                elif isinstance(leaf, Tensor) or (as_tensor and not isinstance(leaf, (np.ndarray, float))):
                    converted.append(wrap(np.asarray(g)))
                elif isinstance(leaf, float):
                    converted.append(float(g))
                elif isinstance(leaf, np.generic):
                    converted.append(np.asarray(g)[()])
                else:
                    converted.append(np.asarray(g))
            out.append(tree_unflatten(tree, converted))
        return out[0] if isinstance(self.argnums, int) else tuple(out)

    # ------------------------------------------------- jit with the eager tape
    def _jit_with_tape(self, args, kwargs, leaves):
        """Outputs whose grad_fn runs the compiled adjoint, so ``loss.backward()`` reaches the inputs."""
        from tracegrad._tensor import Tensor, wrap
        wants = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor) and leaf.requires_grad
                 and leaf._data.dtype.kind == "f"]
        vjp_fn = _Transformed(self.fun, "vjp", has_aux=self.has_aux)
        vjp_fn._cache = self._vjp_cache()
        # Differentiate with respect to every input that requires grad.
        leaves2, dyn2, diff2, compiled2, values, arrays = vjp_fn._get_for_leaves(args, kwargs, wants)
        n_out = len(compiled2.trace.graph.outputs)
        outs, residuals = values[:n_out], values[n_out:]
        primals = [leaves[i] if isinstance(leaves[i], Tensor) else wrap(np.asarray(leaves[i])) for i in dyn2]
        node = _CompiledFunctionNode.make(compiled2, residuals, [leaves[i] for i in wants], primals)
        result = []
        for k, arr in enumerate(outs):
            t = wrap(np.asarray(arr))
            if is_float(t._data.dtype) and k < compiled2.trace.n_main:
                t.grad_fn = node
                t._output_nr = k
            result.append(t)
        node.num_outputs = len(outs)
        node.out_types = [TensorType(np.asarray(a).dtype, np.shape(a)) for a in outs]
        return self._outputs(compiled2.trace, result, True)

    def _vjp_cache(self):
        if not hasattr(self, "_vjp_cache_store"):
            self._vjp_cache_store = {}
        return self._vjp_cache_store

    def _get_for_leaves(self, args, kwargs, want_leaves):
        """Like :meth:`_get` for a vjp with respect to the given flat leaves."""
        leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
        dyn = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf)]
        key = [in_tree, tuple(want_leaves)]
        for leaf in leaves:
            key.append((_leaf_array(leaf).shape, _leaf_array(leaf).dtype) if _is_dynamic(leaf) else _static_key(leaf))
        key = tuple(key)
        arrays = [_leaf_array(leaves[i]) for i in dyn]
        found = self._lookup(key, arrays)
        if found is not None:
            self._hits += 1
            return leaves, dyn, want_leaves, found[0], found[1], arrays
        self._misses += 1
        compiled = self._compile(args, kwargs, dyn, want_leaves, set())
        self._cache.setdefault(key, []).append(compiled)
        return leaves, dyn, want_leaves, compiled, interpret(compiled.graph, arrays), arrays

    # --------------------------------------------------------------- inspection
    def ir(self, *args, **kwargs) -> str:
        """The IR text of this function for these arguments: forward, then what the transform runs."""
        leaves, dyn, diff_leaves, compiled, _, _ = self._get(args, kwargs)
        texts = self._texts(compiled)
        return "\n\n".join(f"# {kind}\n{text}" for kind, text in texts.items())

    def graphs(self, *args, **kwargs) -> dict[str, Graph]:
        """The Graph objects behind :meth:`ir`."""
        _, _, _, compiled, _, _ = self._get(args, kwargs)
        out = {"forward": compiled.trace.graph, "compiled": compiled.graph}
        if compiled.adjoint is not None:
            out["adjoint"] = compiled.adjoint
        return out


class _CompiledFunctionNode:
    """Placeholder replaced below by a Node subclass (the engine's base class lives in autograd)."""


def _make_node_class():
    from tracegrad.autograd.graph import Node, _sequence, node_class

    class CompiledFunction(Node):
        """grad_fn of tensors returned by a ``tg.jit`` function: runs the compiled adjoint graph."""

        __slots__ = ("compiled", "residuals", "num_outputs", "out_types", "inputs", "primals", "freed")

        @classmethod
        def make(cls, compiled, residuals, inputs, primals):
            node_cls = node_class("CompiledFunctionBackward", cls)
            node = node_cls.__new__(node_cls)
            node.compiled = compiled
            node.residuals = list(residuals)
            node.inputs = inputs
            node.primals = primals
            node.freed = False
            node.next_functions = tuple(t._edge() for t in inputs)
            node._seq = next(_sequence)
            node._pre_hooks = node._post_hooks = node._retained = None
            return node

        def _backward(self, grads, create_graph):
            from tracegrad._tensor import TENSOR_EMITTER, Tensor, wrap
            from tracegrad.autograd.graph import FREED_MESSAGE
            if self.freed:
                raise RuntimeError(FREED_MESSAGE)
            cts = []
            for g, t in zip(grads, self.out_types):
                if not is_float(t.dtype):
                    continue
                cts.append(np.zeros(t.shape, t.dtype) if g is None else g)
            if create_graph:
                # Differentiable replay of the joint graph on the input tensors themselves.
                joint = self.compiled.extra["joint"]
                primal_inputs = self.primals
                ct_tensors = [c if isinstance(c, Tensor) else wrap(np.asarray(c)) for c in cts]
                outs = replay(joint, TENSOR_EMITTER, _merge_inputs(joint, self.compiled.extra["cts"],
                                                                  primal_inputs, ct_tensors))
                return tuple(outs[len(joint.outputs) - len(self.inputs):])
            cts = [c._data if isinstance(c, Tensor) else c for c in cts]
            return tuple(interpret(self.compiled.adjoint, self.residuals + cts))

        def _release(self):
            self.residuals = []
            self.freed = True

    return CompiledFunction


def _merge_inputs(joint, ct_positions, primals, cts):
    it_p, it_c = iter(primals), iter(cts)
    return [next(it_c) if i in ct_positions else next(it_p) for i in range(len(joint.inputs))]


_CompiledFunctionNode = _make_node_class()


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def _decorator(mode):
    def transform(fun=None, *, argnums=0, has_aux=False, backend="interpreter"):
        if fun is None:
            return lambda f: _Transformed(f, mode, argnums, has_aux, backend)
        if isinstance(fun, (int, tuple)) and not callable(fun):
            raise TypeError(f"use @{mode}(argnums=...) with a keyword")
        return _Transformed(fun, mode, argnums, has_aux, backend)
    return transform


def grad(fun=None, *, argnums=0, has_aux=False, backend="interpreter"):
    """The gradient of a scalar function, compiled: ``tg.grad(f)(x)`` is df/dx at x.

    Usable as ``@tg.grad`` or ``@tg.grad(argnums=(0, 1))``.  Arguments may be
    numpy arrays, Python floats, Tensors, or tuples/lists/dicts of them; the
    gradient has the structure of the differentiated argument(s).

    >>> import tracegrad as tg, numpy as np
    >>> tg.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    return _decorator("grad")(fun, argnums=argnums, has_aux=has_aux, backend=backend)


def value_and_grad(fun=None, *, argnums=0, has_aux=False, backend="interpreter"):
    """Like :func:`grad`, returning ``(value, gradient)``."""
    return _decorator("value_and_grad")(fun, argnums=argnums, has_aux=has_aux, backend=backend)


def jit(fun=None, *, backend="interpreter"):
    """Compile `fun`: traced once per argument shapes, re-traced when a guard fails.

    Called on Tensors that require grad, it returns Tensors whose grad_fn
    runs the compiled adjoint, so ``loss = step(w); loss.backward()`` fills
    ``w.grad``.
    """
    return _decorator("jit")(fun, backend=backend)


_vjp_transforms: dict = {}


def vjp(fun, *primals, has_aux=False):
    """``(out, vjp_fn)``: `out` is ``fun(*primals)``; ``vjp_fn(cotangent)`` gives one gradient per primal.

    >>> import tracegrad as tg, numpy as np
    >>> out, f_vjp = tg.vjp(lambda x: x * 2.0, np.array([1.0, 2.0]))
    >>> f_vjp(np.array([1.0, 10.0]))
    (array([ 2., 20.]),)
    """
    key = (fun, has_aux, len(primals))
    t = _vjp_transforms.get(key)
    if t is None:
        t = _vjp_transforms[key] = _Transformed(fun, "vjp", argnums=tuple(range(len(primals))), has_aux=has_aux)
    leaves, dyn, diff_leaves, compiled, values, arrays = t._get(primals, {})
    from tracegrad._tensor import Tensor
    as_tensor = any(isinstance(l, Tensor) for l in leaves)
    n_out = len(compiled.trace.graph.outputs)
    outs, residuals = values[:n_out], values[n_out:]
    main, aux = t._outputs(compiled.trace, outs, as_tensor, split_aux=True)
    out_types = [compiled.trace.graph.outputs[k].type for k in range(compiled.trace.n_main)]

    def vjp_fn(cotangent):
        ct_leaves, _ = tree_flatten(cotangent)
        cts = []
        for c, typ in zip(ct_leaves, out_types):
            if not is_float(typ.dtype):
                continue
            arr = np.asarray(_leaf_array(c) if _is_dynamic(c) else c, dtype=typ.dtype)
            if arr.shape != typ.shape:
                raise ValueError(f"vjp: cotangent has shape {list(arr.shape)}, the output has shape "
                                 f"{list(typ.shape)}")
            cts.append(arr)
        grads = interpret(compiled.adjoint, list(residuals) + cts)
        return t._grad_structure(primals, leaves, diff_leaves, grads, as_tensor)
    if has_aux:
        return main, vjp_fn, aux
    return main, vjp_fn


def jacobian(fun, argnums=0):
    """The Jacobian of `fun` with respect to argument `argnums`, by reverse mode (one vjp per output element).

    The result has shape ``out.shape + in.shape``.
    """
    def jac(*args):
        out, f_vjp = vjp(lambda *a: fun(*a), *args)
        out_arr = np.asarray(_leaf_array(out))
        rows = []
        for k in range(out_arr.size):
            e = np.zeros(out_arr.size, dtype=out_arr.dtype)
            e[k] = 1.0
            g = f_vjp(e.reshape(out_arr.shape))[argnums if isinstance(argnums, int) else argnums[0]]
            rows.append(np.asarray(_leaf_array(g) if _is_dynamic(g) else g))
        in_shape = np.shape(_leaf_array(args[argnums]) if _is_dynamic(args[argnums]) else args[argnums])
        result = np.stack(rows).reshape(out_arr.shape + in_shape) if rows else np.zeros(out_arr.shape + in_shape)
        from tracegrad._tensor import Tensor, wrap
        return wrap(result) if isinstance(args[argnums], Tensor) else result
    return jac


def hessian(fun, argnums=0):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    return jacobian(grad(fun, argnums=argnums), argnums=argnums)


def dump_ir(fun, *args, **kwargs) -> str:
    """The IR text (forward and derived graphs) of a transformed function for these arguments."""
    if not isinstance(fun, _Transformed):
        fun = _Transformed(fun, "grad")
    return fun.ir(*args, **kwargs)
