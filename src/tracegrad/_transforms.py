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
import logging
import os
import re
import threading
import time
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from tracegrad import _check, stages
from tracegrad._anomaly_mode import ANOMALY
from tracegrad._check import SelfCheckError
from tracegrad._dispatch import TENSOR_EMITTER, wrap
from tracegrad._engine import FREED_MESSAGE, Node, _sequence, node_class
from tracegrad._functions import stack
from tracegrad._grad_mode import STATE, enable_grad
from tracegrad._log import cache_log, compile_log, guard_log
from tracegrad._pytree import (
    _is_dynamic,
    _key_repr,
    _leaf_array,
    _static_key,
    _Uncached,
    in_tree_of,
    tree_flatten,
    tree_paths,
    tree_unflatten,
)
from tracegrad._tensor import PythonScalar, Tensor
from tracegrad._trace import (
    TRACE,
    _ir_of,
    captures,
    depends_on_differentiated,
    mark_differentiated,
    random_input,
    tracing,
    user_stacklevel,
)
from tracegrad.autograd import grad as tape_grad
from tracegrad.compiler import BACKENDS, pipeline
from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.passes import guard_cone
from tracegrad.ir.graph import Graph, GraphBuilder, const_value
from tracegrad.ir.interpret import GuardFailure, interpret
from tracegrad.ir.types import TensorType, is_float
from tracegrad.ir.verify import verify
from tracegrad.ir.walk import inline, replay

__all__ = ["grad", "value_and_grad", "vjp", "jit", "jacobian", "hessian", "trace_function", "make_ir", "dump_ir",
           "CacheInfo", "SelfCheckError", "CompiledFunction"]

def _compiled_runner(graph, backend: str):
    """The runner of `graph` on `backend` (:func:`tracegrad.compiler.backend.compile_graph`)."""
    from tracegrad.compiler.backend import compile_graph  # numba loads with the first compiled graph, not on import
    return compile_graph(graph, backend)


class CacheInfo(namedtuple("CacheInfo", ["traces", "hits", "misses"])):
    """Traces kept, calls a cached trace answered, calls that traced; `tiers` says what runs each trace.

    It compares equal to the plain tuple ``(traces, hits, misses)``.  `tiers` lists, per
    trace kept, the tier of its main graph: ``"executor"``, ``"kernel"``, ``"kernel (compiling)"``
    while a background compile runs, ``"interpreter"``, or ``"not run yet"``.
    """

    tiers: tuple[str, ...] = ()

    def __repr__(self) -> str:
        shown = f", tiers={list(self.tiers)}" if self.tiers else ""
        return f"CacheInfo(traces={self.traces}, hits={self.hits}, misses={self.misses}{shown})"
#: every transform; each composes with every other (tests/test_compositions.py reads this list)
TRANSFORMS = ("grad", "value_and_grad", "vjp", "jit", "jacobian", "hessian")
#: modes that differentiate their `argnums` (the others: jit, and tape, which differentiates what requires grad)
_DIFFERENTIATING = ("grad", "value_and_grad", "vjp", "jacobian")
_COMPILE_LOCK = threading.RLock()


# --------------------------------------------------------------------------
# Tracing a call
# --------------------------------------------------------------------------

GRAPH_OUTPUT = object()  # marks an output leaf that the graph computes
PYTHON_FLOAT_OUTPUT = object()  # ... and that the function returned as a Python float (a traced float argument's)


@dataclass
class Trace:
    """One traced run: the graph and how to map outputs back to Python values.

    The graph's inputs are the array arguments, then `implicit`: tensors the
    function read without receiving them (closed-over parameters), whose
    current data every call passes in.
    """

    graph: Graph
    out_tree: object
    out_static: list          # per output leaf: GRAPH_OUTPUT (or PYTHON_FLOAT_OUTPUT), or the static value
    concrete: list            # the arrays the tracing run produced for the graph outputs
    n_main: int               # output leaves of the main result (the rest is aux)
    n_explicit: int           # graph inputs that are arguments; the rest are `implicit`
    implicit: list            # closed-over tensors, in graph-input order
    captures: Any = None      # _trace.Captures: closed-over constants and name bindings to re-check per call
    redraws: list | None = None  # per implicit input: None, or how to draw its random numbers anew per call


def _graph_name(f) -> str:
    name = re.sub(r"\W", "_", getattr(f, "__name__", "f").replace("<lambda>", "lambda")) or "f"
    return name if name[0].isalpha() or name[0] == "_" else f"f{name}"


def trace_function(f, args, kwargs, has_aux: bool = False, float_scalars: set[int] | None = None,
                   differentiate: Sequence[int] = (), overrides: dict[int, bool] | None = None) -> Trace:
    """Run ``f(*args, **kwargs)`` once with traced tensors for its array arguments.

    Leaves listed in `float_scalars` (Python floats to differentiate) are
    traced as 0-d float64 inputs.  Leaves listed in `differentiate` are the
    ones a gradient is taken of: Python may branch on values that depend on
    them, but not compute with them (see :func:`tracegrad._trace.concrete_read`).
    `overrides` maps guard numbers to the truth values Python is to see there.
    """
    leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
    builder = GraphBuilder(Graph(name=_graph_name(f)))
    builder.overrides = dict(overrides or {})
    traced, dyn_names = [], []
    names = _leaf_names(f, args, kwargs)
    for i, leaf in enumerate(leaves):
        if _is_dynamic(leaf) or (float_scalars and i in float_scalars):
            # A copy: in-place writes inside the traced run must not reach the caller's array.
            arr = np.array(_leaf_array(leaf) if _is_dynamic(leaf) else leaf,
                           dtype=None if _is_dynamic(leaf) else np.float64)
            t = wrap(arr)
            if float_scalars and i in float_scalars and i not in differentiate and not _is_dynamic(leaf):
                t.__class__ = PythonScalar  # a varying Python float: promotes as the float would
            t._ir = builder.input(TensorType(arr.dtype, arr.shape))
            if i in differentiate or (isinstance(leaf, Tensor) and depends_on_differentiated(leaf)):
                mark_differentiated(builder, t._ir)
            traced.append(t)
            dyn_names.append(names[i])
        else:
            traced.append(leaf)
    n_explicit = len(builder.graph.inputs)
    targs, tkwargs = tree_unflatten(in_tree, traced)
    with tracing(builder):
        main, aux = _split_aux(f(*targs, **tkwargs), has_aux)
        out_leaves, out_tree = tree_flatten((main, aux))
        outputs, static, concrete = [], [], []
        for leaf in out_leaves:
            if isinstance(leaf, (Tensor, np.ndarray)):
                arr = _leaf_array(leaf)
                outputs.append(_ir_of(builder, leaf, arr) if isinstance(leaf, Tensor) else const_value(arr))
                concrete.append(arr)
                static.append(PYTHON_FLOAT_OUTPUT if type(leaf) is PythonScalar else GRAPH_OUTPUT)
            else:
                static.append(leaf)
    implicit = [t for t, _, _ in builder.implicit]
    redraw = getattr(builder, "redraw", None)
    redraws = [redraw.get(id(t)) for t in implicit] if redraw else None
    builder.graph.input_names = _unique(dyn_names + [("random" if redraws and redraws[j] else "closure") + str(j)
                                                     for j in range(len(implicit))])
    builder.graph.outputs = outputs
    return Trace(builder.graph, out_tree, static, concrete, len(tree_flatten(main)[0]), n_explicit, implicit,
                 captures(f, builder), redraws)


def make_ir(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Graph:
    """The IR graph of one run of ``f(*args)``; array and Tensor arguments become graph inputs.

    (JAX's ``make_jaxpr``; ``tracegrad.trace`` is the matrix trace, as in PyTorch.)

    >>> import tracegrad as tg, numpy as np
    >>> g = tg.make_ir(lambda x: (x * 2).sum(), np.ones(3, np.float32))
    >>> [n.op for n in g.nodes]
    ['broadcast', 'mul', 'sum']
    """
    return trace_function(f, args, kwargs).graph


def _split_aux(result, has_aux: bool):
    """``(main output, aux)`` of a function's result (aux None without `has_aux`)."""
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("has_aux=True requires the function to return a pair (output, aux)")
    return result


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
# The cache of traces
# --------------------------------------------------------------------------

@dataclass
class Compiled:
    """One trace of a transformed function and the graphs derived from it."""

    trace: Trace
    graph: Graph                       # what this transform runs (forward, joint, ...)
    wrt: list[int] = field(default_factory=list)   # graph inputs differentiated
    adjoint: Graph | None = None       # for vjp/jit composition: the adjoint half
    n_residuals: int = 0
    extra: dict = field(default_factory=dict)
    backend: str = "interpreter"
    _runners: dict = field(default_factory=dict)

    def _runner(self, which: str):
        runner = self._runners.get(which)
        if runner is None:
            with _COMPILE_LOCK:  # one compile per graph, however many threads ask
                runner = self._runners.get(which)
                if runner is None:
                    graph = pipeline.runnable(self.graph) if which == "graph" else self.adjoint
                    runner = self._runners[which] = _compiled_runner(graph, self.backend)
        return runner

    def run(self, arrays):
        """Values of `graph` on `arrays` with this trace's backend (raises GuardFailure).

        Guards on numbers Python read are checked first, by interpreting their cone of the traced
        graph on numpy (:func:`~tracegrad.compiler.passes.guard_cone`); the kernel checks the rest.
        """
        runner = self._runner("graph")
        if self.guards is None:
            self.run = getattr(runner, "_call", runner)  # later calls go straight to the wrapper
        else:
            interpret(self.guards, arrays)
        return runner(arrays)

    @property
    def guards(self) -> Graph | None:
        """The cone of guards on numbers this trace's calls must pass (None when Python read none)."""
        cone = self.extra.get("guards", False)
        if cone is False:
            traced = self.trace.graph
            source = traced if len(traced.inputs) == len(self.graph.inputs) else self.graph
            cone = self.extra["guards"] = guard_cone(source)
        return cone

    def run_adjoint(self, arrays):
        """Values of the adjoint half on ``residuals + cotangents``."""
        if ANOMALY.enabled and ANOMALY.check_nan:
            return self.run_checked(arrays, "adjoint")
        return self._runner("adjoint")(arrays)

    def every_value(self, arrays, which: str = "graph") -> list:
        """The checked variant's results: the graph's outputs, then every node's value in order."""
        key = f"{which}_checked"
        runner = self._runners.get(key)
        if runner is None:
            with _COMPILE_LOCK:
                runner = self._runners.get(key)
                if runner is None:
                    checked, _ = _check.checked_graph(self.graph if which == "graph" else self.adjoint)
                    # The path is chosen before this runs: a kernel rounding a guarded value its own way
                    # must not reject it (every value is an output, so nothing else is lost).
                    checked.nodes = [n for n in checked.nodes if n.op != "guard"]
                    runner = self._runners[key] = _compiled_runner(checked, self.backend)
        return runner(arrays)

    def run_checked(self, arrays, which: str = "graph") -> list:
        """Like :meth:`run`, through the checked variant, raising at the first node whose value holds NaN."""
        graph = self.graph if which == "graph" else self.adjoint
        values = self.every_value(arrays, which)
        _check.raise_first_nan(graph, arrays, values)
        return values[:len(graph.outputs)]

    def kernel_source(self) -> dict[str, str]:
        """Generated kernel source of each graph this trace runs (after they first ran)."""
        return {k: r.source for k, r in self._runners.items()
                if getattr(r, "source", None) and not k.endswith("_checked")}

    def executor_programs(self) -> dict[str, str]:
        """The executor program (as text) of each graph this trace runs on the executor (after they first ran)."""
        out = {}
        for k, r in self._runners.items():
            r = getattr(r, "current", r)  # a tiered runner still on the executor
            program = getattr(r, "program", None)
            if program is not None and not k.endswith("_checked"):
                out[k] = program.as_text()
        return out

    def arrays(self, explicit: list) -> list | None:
        """Graph input arrays for a call: its arguments and the closed-over tensors' current data.

        None when a closed-over tensor changed shape or dtype (this trace does not apply).
        """
        if not self.trace.implicit:
            return explicit
        out = list(explicit)
        redraws = self.trace.redraws or ()
        for k, (t, v) in enumerate(zip(self.trace.implicit, self.trace.graph.inputs[self.trace.n_explicit:])):
            if k < len(redraws) and redraws[k] is not None:
                out.append(redraws[k]())  # random numbers: new ones every call, as in eager mode
                continue
            d = t._data
            if d.shape != v.shape or d.dtype != v.dtype:
                return None
            out.append(d)
        return out


def _verify_or_none():
    return verify if os.environ.get("TRACEGRAD_VERIFY", "1") != "0" else None


def _dump(name: str, texts: dict[str, str]) -> None:
    directory = os.environ.get("TRACEGRAD_DUMP")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for kind, text in texts.items():
        with open(os.path.join(directory, f"{name}.{kind}.ir"), "w") as fh:
            fh.write(text + "\n")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {os.environ[name]!r}") from None


def _check_argnums(argnums, where: str) -> None:
    """Reject an `argnums` that is not an int or a sequence of ints, naming it."""
    def is_int(n):
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool)
    if is_int(argnums):
        return
    if isinstance(argnums, (tuple, list)) and argnums and all(is_int(n) for n in argnums):
        return
    raise TypeError(f"{where}: argnums must be an int or a non-empty tuple of ints, got {argnums!r} "
                    f"({type(argnums).__name__})")


class CompiledFunction:
    """A transformed function with its cache of traces (what ``tg.grad``, ``tg.jit``, ... return).

    Modes: ``grad`` and ``value_and_grad`` run the joint graph; ``vjp`` runs
    the forward half now and the adjoint half when asked; ``jit`` runs the
    forward graph, or, called on tensors that require grad, the forward half
    of a vjp whose adjoint becomes the outputs' ``grad_fn`` (``tape``).

    The cache keeps the traces of at most `max_keys` argument signatures
    (``$TRACEGRAD_TRACE_CACHE_SIZE``, default 64), dropping the least
    recently used; a dropped signature is traced again when it comes back
    (its kernels usually still sit in the kernel cache).  With `check`
    (``$TRACEGRAD_CHECK=1``), every new trace is compared with the eager
    tape on its first call (see :class:`SelfCheckError`).
    """

    #: A compiled function passed as a static argument of another is keyed by identity (see _pytree).
    keyed_by_identity = True

    def __init__(self, fun: Callable[..., Any], mode: str, argnums: int | Sequence[int] = 0,
                 has_aux: bool = False, backend: str | None = None, tier: str | None = None,
                 check: bool | None = None):
        functools.update_wrapper(self, fun)
        # update_wrapper copied fun's attributes, its table of transforms among them: the
        # transforms of this wrapper are others (the Jacobian of grad(f) is not the Jacobian of f).
        self.__dict__.pop("_tracegrad_transforms", None)
        _check_argnums(argnums, f"tg.{mode}")
        if backend and tier and backend not in ("interpreter", TIERS.get(tier)):
            # Silently preferring one would run a tier the caller did not ask for.
            raise ValueError(f"backend={backend!r} and tier={tier!r} disagree; give one of them "
                             f"(tier {tier!r} is backend {TIERS.get(tier, '?')!r})")
        backend = backend or default_backend(tier)
        self.fun = fun
        self.mode = mode
        self.argnums = argnums
        self.has_aux = has_aux
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; available: {', '.join(map(repr, BACKENDS))}")
        if backend != "interpreter":
            # numba loads when the first compiled function is created, not with tracegrad
            # (eager-only programs never need it) nor inside its first call.
            import tracegrad.compiler.backend  # noqa: F401
        self.backend = backend
        self.check = bool(_env_int("TRACEGRAD_CHECK", 0)) if check is None else bool(check)
        self.max_keys = _env_int("TRACEGRAD_TRACE_CACHE_SIZE", 64)
        self._cache: OrderedDict = OrderedDict()
        self._fast: dict = {}
        self._lock = threading.RLock()
        self._traces = self._hits = self._misses = 0
        self.path_limit = max(_env_int("TRACEGRAD_PATH_LIMIT", 8), 1)
        self.recompile_limit = max(_env_int("TRACEGRAD_RECOMPILE_LIMIT", 8), 1)
        self._eager: dict = {}            # signature -> why its new paths run eagerly
        self._static_retraces: dict = {}  # argument -> re-traces for new constant values, or why it runs eagerly
        self._stale: dict = {}            # signature -> times its traces went stale (captured values changed)
        self._warned_uncached = False     # said once that a static argument has no value key
        self._varying_floats: dict = {}   # argument structure -> positions of Python floats traced as inputs
        self._constant_floats: set = set()  # argument structures whose floats must stay constants

    def __repr__(self):
        return f"<tracegrad.{self.mode} of {getattr(self.fun, '__qualname__', self.fun)!r}>"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def cache_info(self) -> CacheInfo:
        """Number of traces kept, calls answered by a cached trace, and calls that traced."""
        info = CacheInfo(self._traces, self._hits, self._misses)
        info.tiers = tuple(_tier_of(c._runners.get("graph")) for paths in list(self._cache.values()) for c in paths
                           if isinstance(c, Compiled))
        return info

    def clear_cache(self) -> None:
        """Forget every trace."""
        self._cache.clear()
        self._fast.clear()
        self._eager.clear()
        self._static_retraces.clear()
        self._stale.clear()
        self._varying_floats.clear()
        self._constant_floats.clear()
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

    def _leaf_path(self, args, leaf: int) -> str:
        """Leaf number `leaf` of the positional arguments, spelled as the user wrote it (``argument 'd'['c']``)."""
        paths = self._leaf_paths(args, {})
        return paths[leaf] if leaf < len(paths) else f"argument leaf {leaf}"

    def _prepare(self, args, kwargs, mode, varying_floats=None):
        """Leaves, the dynamic ones, which to differentiate, and the cache key of a call.

        `varying_floats` (argument leaves) says which Python floats are traced inputs; by
        default, those this function has seen change value.
        """
        leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
        diff_leaves: list[int] = []
        if mode in _DIFFERENTIATING:
            positions = self._diff_positions(len(args))
            start, ranges = 0, []
            for a in args:
                n = len(tree_flatten(a)[0])
                ranges.append((start, start + n))
                start += n
            for p in positions:
                # None is an empty subtree (as in JAX): nothing to differentiate, None in the gradient.
                diff_leaves.extend(i for i in range(*ranges[p]) if leaves[i] is not None)
        elif mode == "tape":
            diff_leaves = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor) and leaf.requires_grad
                           and leaf._data.dtype.kind == "f"]
        float_scalars = {i for i in diff_leaves if isinstance(leaves[i], float)}
        if varying_floats is not None:
            float_scalars.update(i for i in varying_floats if i < len(leaves) and type(leaves[i]) is float)
        elif self._varying_floats:
            float_scalars.update(i for i in self._varying_floats.get(in_tree, ())
                                 if type(leaves[i]) is float)
        dyn = [i for i, leaf in enumerate(leaves) if _is_dynamic(leaf) or i in float_scalars]
        for i in diff_leaves:
            arr = np.asarray(_leaf_array(leaves[i]) if _is_dynamic(leaves[i]) else leaves[i])
            if arr.dtype.kind != "f":
                raise TypeError(f"{self.mode} requires floating-point inputs to differentiate; "
                                f"{self._leaf_path(args, i)} has dtype {arr.dtype}. Pass floats, or leave "
                                f"the argument out of argnums.")
        key = [mode, in_tree, tuple(diff_leaves)]
        for i, leaf in enumerate(leaves):
            if i in float_scalars:
                key.append(("f",))
            elif _is_dynamic(leaf):
                arr = _leaf_array(leaf)
                key.append((arr.shape, arr.dtype))
            else:
                key.append(_static_key(leaf))
        arrays = [np.asarray(leaves[i], dtype=np.float64) if i in float_scalars else _leaf_array(leaves[i])
                  for i in dyn]
        return leaves, dyn, diff_leaves, float_scalars, tuple(key), arrays

    # ------------------------------------------------------------- compile
    def _compile(self, mode, args, kwargs, dyn, diff_leaves, float_scalars, overrides=None) -> Compiled:
        """Trace this call's path and derive the graphs `mode` runs (the first two stages of the pipeline)."""
        with pipeline.collector_paused():
            trace, start, traced = self._trace(mode, args, kwargs, diff_leaves, float_scalars, overrides)
            self._traces += 1
            compiled = self._derive(mode, trace, dyn, diff_leaves, start, traced, overrides)
        if os.environ.get("TRACEGRAD_DUMP"):  # printing a large graph costs more than optimising it
            _dump(f"{trace.graph.name}_{self._traces}", self._texts(compiled))
        return compiled

    def _trace(self, mode, args, kwargs, diff_leaves, float_scalars, overrides=None):
        """``(trace, start, end)``: one traced run of the function, with when it started and ended."""
        start = time.perf_counter()
        trace = trace_function(self.fun, args, kwargs, self.has_aux, float_scalars,
                               diff_leaves if mode in _DIFFERENTIATING else (), overrides)
        return trace, start, time.perf_counter()

    def _derive(self, mode, trace: Trace, dyn, diff_leaves, start: float, traced: float,
                overrides=None) -> Compiled:
        """The graphs `mode` runs, derived from `trace` (:func:`compiler.pipeline.derive`), as a Compiled."""
        verify = _verify_or_none()
        graph = trace.graph
        if verify and os.environ.get("TRACEGRAD_VERIFY") == "passes":
            # The builder typed every traced node as it emitted it, and the graphs derived from
            # the trace (which hold all of its nodes) are checked below; this check is the
            # thorough mode's (it cost a tenth of a large graph's first call).
            verify(graph)
        wrt = [dyn.index(i) for i in diff_leaves]
        if mode == "tape":
            # Closed-over tensors that require grad get gradients too, as in eager mode.
            wrt += [trace.n_explicit + j for j, t in enumerate(trace.implicit) if t.requires_grad]
        if mode in ("grad", "value_and_grad"):
            out = graph.outputs[0] if graph.outputs and trace.n_main >= 1 else None
            if trace.n_main != 1 or out is None:
                raise TypeError(f"{self.mode} requires the function to return one scalar tensor"
                                + (" (and aux with has_aux=True)" if not self.has_aux else ""))
            if out.shape != () or not is_float(out.dtype):
                raise TypeError(f"{self.mode} requires a scalar floating-point output; the function returned "
                                f"a tensor of shape {list(out.shape)} and dtype {out.dtype}. Use tg.vjp or "
                                f"tg.jacobian for non-scalar outputs.")
        elif mode == "jacobian":
            static = [s for s in trace.out_static[:trace.n_main]
                      if s is not GRAPH_OUTPUT and s is not PYTHON_FLOAT_OUTPUT]
            if static:
                raise TypeError(f"jacobian requires the function to return arrays or tensors (in any structure); "
                                f"it returned {type(static[0]).__name__} {static[0]!r} among them")
        derived = pipeline.derive(graph, mode, wrt, trace.n_main, verify)
        extra = {"joint": derived.joint, "cts": derived.cts} if derived.joint is not None else {}
        compiled = Compiled(trace, derived.graph, wrt, derived.adjoint, derived.n_residuals, extra,
                            backend=self.backend)
        end = time.perf_counter()
        compile_log.info("traced %s in %.1f ms (%d nodes, %d guards); %s graph derived and optimised in %.1f ms "
                         "(%d nodes)", graph.name, (traced - start) * 1e3, len(graph.nodes),
                         sum(1 for n in graph.nodes if n.op == "guard"), mode, (end - traced) * 1e3,
                         len(compiled.graph.nodes))
        compiled.extra["overrides"] = dict(overrides or {})
        compiled.extra["seconds"] = {"trace": traced - start, "derive": end - traced}
        return compiled

    @staticmethod
    def _texts(c: Compiled) -> dict[str, str]:
        texts = {"forward": str(c.trace.graph), "compiled": str(c.graph)}
        if c.adjoint is not None:
            texts["adjoint"] = str(c.adjoint)
        return texts

    def _get(self, args, kwargs, mode=None):
        """The compiled trace for these arguments, the values of its graph on them, and the call's facts.

        Raises :class:`_RunEagerly` when this call must be answered by running the function eagerly:
        its signature reached the path limit or the function the re-trace limit, or no traced path
        can be made to accept it (see :meth:`_trace_new_path`).
        """
        mode = mode or self.mode
        leaves, dyn, diff_leaves, float_scalars, key, arrays = self._prepare(args, kwargs, mode)
        found = _first_accepting(self._cache.get(key, ()), arrays)
        fresh = None
        if found is None:
            # One hold of the lock from the re-check to the insert: otherwise two threads
            # could both find nothing and trace the same path twice.
            with self._lock:
                rejections: list = []
                found = _first_accepting(self._cache.get(key, ()), arrays, rejections)  # traced meanwhile?
                if found is None:
                    self._misses += 1
                    eager_reason = self._eager.get(key)
                    if eager_reason is not None:
                        raise _RunEagerly(eager_reason)
                    if self._uncacheable(args, key):
                        raise _RunEagerly("a static argument cannot be compared by value")
                    if cache_log.isEnabledFor(logging.INFO):
                        cache_log.info("%s: %s", getattr(self.fun, "__name__", "function"),
                                       self._miss_reason(key, arrays))
                    self._drop_stale(key)
                    if self._trace_varying_floats(key, in_tree_of(args, kwargs)):
                        self._misses -= 1  # counted by the retry
                        return self._get(args, kwargs, mode)  # the same call, its varying floats traced
                    self._check_limits(key, args)
                    try:
                        found = fresh = self._trace_new_path(mode, key, args, kwargs, dyn, diff_leaves,
                                                             float_scalars, arrays, rejections)
                    except _FloatsBrokeTrace:
                        self._misses -= 1  # counted by the retry
                        return self._get(args, kwargs, mode)
        if fresh is None:
            self._hits += 1
            if self._cache and next(reversed(self._cache)) != key:
                try:
                    self._cache.move_to_end(key)
                except KeyError:  # evicted by another thread meanwhile
                    pass
        compiled, values, full = found
        if ANOMALY.enabled and ANOMALY.check_nan:
            values = compiled.run_checked(full)
        elif fresh is not None and self.check and not TRACE.builders and mode in ("grad", "value_and_grad", "jit") \
                and not compiled.trace.redraws:  # (random numbers drawn inside differ from the eager run's)
            self._self_check(compiled, args, kwargs, diff_leaves, float_scalars, full, values, mode)
        return leaves, dyn, diff_leaves, compiled, values, full

    def _trace_new_path(self, mode, key, args, kwargs, dyn, diff_leaves, float_scalars, arrays, rejections):
        """Trace the path this call takes, cache it and run it (the caller holds the lock).

        Kernels decide branches with their own arithmetic, which may round a value Python compared
        differently from the eager run that traced (a sum within rounding of 0).  When the eager run
        takes a path whose kernel rejects the call at a truth value, the function is traced again
        with that truth value answered as the kernel computed it: the new path is the one compiled
        code takes for this input, every time.  Each such re-trace is a path under the path limit.
        """
        paths = self._cache.setdefault(key, [])
        overrides: dict[int, bool] = {}
        while True:
            try:
                compiled = self._compile(mode, args, kwargs, dyn, diff_leaves, float_scalars, overrides)
            except Exception:
                if not self._varying_floats.pop(in_tree_of(args, kwargs), None):
                    raise
                # The function does not run with a traced float there: keep those floats constant.
                self._constant_floats.add(in_tree_of(args, kwargs))
                compile_log.info("%s: floats traced as tensors broke the trace; they stay constants",
                                 getattr(self.fun, "__name__", "function"))
                raise _FloatsBrokeTrace() from None
            fingerprint = compiled.graph.fingerprint()
            same = next((c for c in paths if c.graph.fingerprint() == fingerprint), None)
            if same is None:
                paths.append(compiled)
                self._cache.move_to_end(key)
                self._evict()
                rejected: list = []
                found = _first_accepting([compiled], arrays, rejected)
                if found is not None:
                    return found
                same, failure = rejected[0]
            else:
                self._traces -= 1
                failure = next((e for c, e in rejections if c is same), None)
            forced = _kernel_branch(same, failure)
            if forced is None or len(paths) >= self.path_limit:
                raise _RunEagerly("compiled code reads a value Python used with other rounding than the eager "
                                  "run, and no traced path accepts this input")
            guard_log.info("%s: re-tracing with the branch compiled code takes at guard %s",
                           getattr(self.fun, "__name__", "function"), _guard_line(failure.node))
            overrides = forced
            rejections = []

    def _check_limits(self, key, args) -> None:
        """Before tracing anew: stop re-tracing a signature or function that keeps producing new traces.

        A signature with `path_limit` paths, or a function re-traced `recompile_limit` times for new
        values of the same non-array argument, runs eagerly from then on, with one warning saying why.
        """
        paths = self._cache.get(key, ())
        if len(paths) >= self.path_limit:
            lines = sorted({_guard_line(g) for c in paths for g in c.trace.graph.nodes if g.op == "guard"})
            reason = (f"{len(paths)} paths traced for one argument signature (path limit {self.path_limit}); "
                      f"guards at {', '.join(lines) or '?'} keep changing. Calls that no traced path accepts "
                      f"run eagerly. A data-dependent branch, loop count or boolean mask changes from call to "
                      f"call: use tg.where instead of a mask or a branch, or raise $TRACEGRAD_PATH_LIMIT.")
            self._give_up(self._eager, key, reason)
        if paths or key in self._cache:
            return
        changed = self._changed_static(key, args)
        if changed is None:
            return
        if isinstance(self._static_retraces.get(changed), str):  # already past the limit: warned once
            raise _RunEagerly(self._static_retraces[changed])
        self._static_retraces[changed] = self._static_retraces.get(changed, 0) + 1
        if self._static_retraces[changed] >= self.recompile_limit:
            reason = (f"re-traced {self._static_retraces[changed]} times because {changed} takes a new value "
                      f"on each call (re-trace limit {self.recompile_limit}); calls with new values run eagerly. "
                      f"Non-array arguments are constants of a trace: pass a value that varies as a numpy "
                      f"array or tensor (np.float64(x) for a number), or raise $TRACEGRAD_RECOMPILE_LIMIT.")
            self._give_up(self._static_retraces, changed, reason)

    def _trace_varying_floats(self, key, in_tree) -> bool:
        """Make Python float arguments that changed value since a cached signature traced inputs; True if any.

        Like JAX, but only once a float has changed: a float that never changes stays a constant
        of the trace (and is folded into the kernel).
        """
        if in_tree in self._constant_floats:
            return False
        for other, diffs in self._differences(key):
            if all(_is_float_key(key[3 + i]) and _is_float_key(other[3 + i]) for i in diffs):
                known = self._varying_floats.setdefault(in_tree, set())
                if not known.issuperset(diffs):
                    known.update(diffs)
                    cache_log.info("%s: float argument leaf %s changed value (%s, cached: %s): traced as an "
                                   "input from now on", getattr(self.fun, "__name__", "function"),
                                   ", ".join(map(str, diffs)), ", ".join(_key_repr(key[3 + i]) for i in diffs),
                                   ", ".join(_key_repr(other[3 + i]) for i in diffs))
                    return True
        return False

    def _changed_static(self, key, args) -> str | None:
        """The argument whose constant (non-array) value differs from a cached signature's, else None."""
        for other, diffs in self._differences(key):
            if all(not _is_array_key(key[3 + i]) and not _is_array_key(other[3 + i]) for i in diffs):
                return self._leaf_path(args, diffs[0])
        return None

    def _differences(self, key):
        """``(cached key, argument leaves whose entries differ)`` for each cached key of the same structure."""
        for other in self._cache:
            if other[:3] == key[:3] and len(other) == len(key):
                diffs = [i for i, (a, b) in enumerate(zip(key[3:], other[3:])) if a != b]
                if diffs:
                    yield other, diffs

    def _give_up(self, table: dict, what, reason: str):
        """Remember that calls of `what` (a signature or an argument) run eagerly, warn once, and run this one so."""
        table[what] = reason
        fname = getattr(self.fun, "__qualname__", "function")
        warnings.warn(f"tracegrad: {self.mode} of {fname!r} falls back to eager mode: {reason}",
                      RuntimeWarning, stacklevel=user_stacklevel())
        raise _RunEagerly(reason)

    def _drop_stale(self, key) -> None:
        """Forget the traces of `key` whose closed-over values changed: they can never run again.

        A signature whose traces went stale `recompile_limit` times runs eagerly from then on
        (a global the function reads is rebound on every call, say), with one warning.
        """
        traces = self._cache.get(key)
        if not traces:
            return
        kept, reasons = [], []
        for c in traces:
            why = c.trace.captures.changed() if c.trace.captures is not None else None
            if why is None:
                kept.append(c)
            else:
                reasons.append(why)
        self._traces -= len(traces) - len(kept)
        traces[:] = kept  # in place: fast routes share this list
        if reasons:
            self._stale[key] = self._stale.get(key, 0) + 1
            if self._stale[key] >= self.recompile_limit:
                self._give_up(self._eager, key, f"re-traced {self._stale[key]} times because {reasons[0]} "
                              f"(re-trace limit {self.recompile_limit}); calls run eagerly. Pass a value that "
                              f"changes as an argument, or raise $TRACEGRAD_RECOMPILE_LIMIT.")

    def _uncacheable(self, args, key) -> bool:
        """Whether a static argument has no value key; warns once per function that such calls run eagerly."""
        uncached = [i for i, part in enumerate(key[3:]) if type(part) is _Uncached]
        if not uncached:
            return False
        if not self._warned_uncached:
            self._warned_uncached = True
            i = uncached[0]
            warnings.warn(f"{self.mode} of {getattr(self.fun, '__qualname__', 'function')!r}: "
                          f"{self._leaf_path(args, i)} is {key[3 + i].what}, so a cached trace could be stale; "
                          f"such calls run eagerly. Pass an array, or a small value.",
                          UserWarning, stacklevel=user_stacklevel())
        return True

    def _evict(self) -> None:
        """Drop the least recently used signatures beyond `max_keys` (caller holds the lock)."""
        while len(self._cache) > max(self.max_keys, 1):
            _, dropped = self._cache.popitem(last=False)
            self._traces -= len(dropped)
            self._fast.clear()  # fast routes hold references to the dropped traces

    # ----------------------------------------------------------- self-check
    def _eager_reference(self, args, kwargs, diff_leaves, mode):
        """The main outputs and gradients of running the function on the eager tape."""
        _, targs, tkwargs, diff_tensors = self._eager_inputs(args, kwargs, diff_leaves)
        with enable_grad():
            result = self.fun(*targs, **tkwargs)
        main = result[0] if self.has_aux else result
        outs = [leaf for leaf in tree_flatten(main)[0] if isinstance(leaf, (Tensor, np.ndarray))]
        grads = []
        if mode in ("grad", "value_and_grad"):
            found = tape_grad(outs[0], diff_tensors, allow_unused=True)  # not .backward(): no .grad side effects
            grads = [np.zeros_like(t._data) if g is None else g._data for t, g in zip(diff_tensors, found)]
        return [_leaf_array(o) for o in outs], grads

    def _self_check(self, compiled: Compiled, args, kwargs, diff_leaves, float_scalars, full, values, mode):
        """Compare a new trace's first results with the eager tape; raise SelfCheckError naming where they part."""
        trace = compiled.trace
        eager_outs, eager_grads = self._eager_reference(args, kwargs, diff_leaves, mode)
        n_main = sum(1 for s in trace.out_static[:trace.n_main] if s is GRAPH_OUTPUT or s is PYTHON_FLOAT_OUTPUT)
        n_out = len(trace.graph.outputs)
        names = trace.graph.input_names or []
        pairs = [(f"output {k}", k, values[k], eager_outs[k]) for k in range(min(n_main, len(eager_outs)))]
        if mode != "jit":
            pairs = pairs[:1]
            for j, (w, g) in enumerate(zip(compiled.wrt, eager_grads)):
                label = f"gradient of argument {names[w]!r}" if w < len(names) else f"gradient {j}"
                pairs.append((label, n_out + j, values[n_out + j], g))
        masked = any(n.op == "where" for n in compiled.graph.nodes)
        bad = [(label, k, got, want) for label, k, got, want in pairs if not _check.close(got, want, masked)]
        if not bad:
            return
        fname = getattr(self.fun, "__qualname__", "function")
        lines = [f"{self.mode} of {fname!r}: the compiled result differs from the eager tape (check=True)"]
        lines += [f"  {label}: {_check.sample(got, want)} (compiled vs eager)" for label, _, got, want in bad]
        graph = compiled.graph
        diverged = _check.first_divergence(graph, full, compiled.every_value(full))
        if diverged is not None:
            node, got, want = diverged
            origin = f", in the adjoint of {node.grad_of}" if node.grad_of else ""
            lines.append(f"  first diverging IR value: the compiled kernel differs from the reference interpreter "
                         f"at\n    {_check.describe_node(graph, node)}\n    ({_check.where(node)}{origin}): "
                         f"{_check.sample(got, want)} (kernel vs interpreter)")
        else:
            unoptimised = trace.graph
            if mode != "jit":
                unoptimised, _ = adjoint(trace.graph, compiled.wrt, seed="ones", seed_outputs=[0])
            env = _check.interpret_all(unoptimised, full)
            k = bad[0][1]
            out_value = unoptimised.outputs[k]
            before = out_value.const if out_value.const is not None else env[out_value.id]
            stage = ("an optimisation pass changed it" if _check.close(before, bad[0][3])
                     else "the traced graph differs from running the function eagerly (a Python read "
                          "that no guard covers, random numbers or other state?)")
            producer = next((n for n in graph.nodes if any(v is graph.outputs[k] for v in n.outputs)), None)
            at = f" at\n    {_check.describe_node(graph, producer)}" if producer is not None else ""
            lines.append(f"  the kernel agrees with the interpreter on every IR value; {stage}; {bad[0][0]} "
                         f"is computed{at}")
        raise SelfCheckError("\n".join(lines))

    def _miss_reason(self, key, arrays) -> str:
        """Why no cached trace answered this call (for the cache log)."""
        traces = self._cache.get(key)
        if traces:
            failures = []
            for c in traces:
                changed = c.trace.captures.changed() if c.trace.captures is not None else None
                if changed is not None:
                    failures.append(changed)
                    continue
                full = c.arrays(arrays)
                if full is None:
                    failures.append("a closed-over tensor changed shape or dtype")
                    continue
                try:
                    c.run(full)
                except GuardFailure as e:
                    node = e.node
                    where = f"{os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else "?"
                    failures.append(f"guard failed at {where} (traced with {node.attrs['expected']!r})")
            return f"new path: {'; '.join(failures)}" if failures else "new path"
        if not self._cache:
            return "first call: tracing"
        same_structure = [k for k in self._cache if k[:3] == key[:3]]
        if not same_structure:
            return "new argument structure (or arguments to differentiate)"
        other = same_structure[0]
        changes = []
        for i, (a, b) in enumerate(zip(key[3:], other[3:])):
            if a == b:
                continue
            if isinstance(a, tuple) and len(a) == 2 and isinstance(b, tuple) and len(b) == 2 and \
                    isinstance(a[1], np.dtype) and isinstance(b[1], np.dtype):
                what = " and ".join(w for w, d in (("new shape", a[0] != b[0]), ("new dtype", a[1] != b[1])) if d)
                changes.append(f"{what} for argument leaf {i}: {a[1]}{list(a[0])} (cached: {b[1]}{list(b[0])})")
            else:
                changes.append(f"new constant argument leaf {i}: {_key_repr(a)} (cached: {_key_repr(b)})")
        return "; ".join(changes) or "new argument structure"

    # ---------------------------------------------------------------- calls
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and not TRACE.builders and not ANOMALY.enabled:
            # Steady state: arrays of shapes seen before go straight to their compiled traces.
            sig = _fast_signature(args)
            if sig is not None:
                fast = self._fast.get(sig)
                if fast is not None:
                    result = fast(args)
                    if result is not _MISS:
                        self._hits += 1
                        return result
        else:
            sig = None
        result = self._call(args, kwargs)
        if sig is not None:
            self._install_fast(sig, args)
        return result

    def _install_fast(self, sig, args) -> None:
        """Remember a direct route for calls with this signature, when their results have a flat structure."""
        if sig in self._fast or self.has_aux or self.mode not in ("grad", "value_and_grad", "jit", "jacobian"):
            return
        if self.mode in ("jit", "jacobian") and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return  # the tape's route
        key = self._prepare(args, {}, self.mode)[4]
        traces = self._cache.get(key)
        if not traces:
            return
        trace = traces[0].trace
        out_leaves = [s for s in trace.out_static]
        if any(s is not GRAPH_OUTPUT for s in out_leaves[:trace.n_main]) or len(out_leaves) != trace.n_main + 1:
            return
        main_tree = trace.out_tree[1][0]
        if main_tree is not None and main_tree != (tuple, (None,) * trace.n_main):
            return  # a list, dict or namedtuple result is rebuilt by the general path
        if self.mode == "jit" and any(c.trace.implicit and any(t.requires_grad for t in c.trace.implicit)
                                      for c in traces):
            return
        self._fast[sig] = _FastCall(self, traces, args)

    def _call(self, args, kwargs):
        if self.mode == "vjp":
            raise TypeError("use tg.vjp(f, *primals), not as a decorator")
        leaves_all, _ = tree_flatten((tuple(args), dict(kwargs)))
        nested = bool(TRACE.builders)
        on_tape = not nested and STATE.enabled and any(
            isinstance(leaf, Tensor) and leaf.requires_grad for leaf in leaves_all)
        if on_tape and self.mode == "jit":
            return self._jit_with_tape(args, kwargs)
        if on_tape:
            # Gradients of tensors that are themselves on the eager tape: computed on the tape
            # (create_graph), so that differentiating the result again reaches those tensors.
            return self._eager_call(args, kwargs)
        try:
            leaves, dyn, diff_leaves, compiled, values, arrays = self._get(args, kwargs)
        except _RunEagerly as why:
            compile_log.info("%s runs eagerly: %s", getattr(self.fun, "__name__", "function"), why)
            return self._eager_call(args, kwargs)
        if self.mode == "jit" and not nested and STATE.enabled and any(t.requires_grad for t in
                                                                       compiled.trace.implicit):
            return self._jit_with_tape(args, kwargs)
        as_tensor = nested or any(isinstance(leaf, Tensor) for leaf in leaves)
        if nested:
            values = self._inline(compiled, leaves, dyn, values)
        return self._result(args, leaves, diff_leaves, compiled, values, as_tensor)

    def _result(self, args, leaves, diff_leaves, compiled: Compiled, values, as_tensor: bool):
        """What the transform returns for a call, from the values of its compiled graph."""
        if self.mode == "jit":
            return self._outputs(compiled.trace, values, as_tensor)
        if self.mode == "jacobian":
            return self._jacobian_structure(args, compiled.trace, leaves, diff_leaves, values, as_tensor)
        n_out = len(compiled.trace.graph.outputs)
        grad_tree = self._grad_structure(args, leaves, diff_leaves, values[n_out:], as_tensor)
        value, aux = self._outputs(compiled.trace, values[:n_out], as_tensor, split_aux=True)
        if self.mode == "grad":
            return (grad_tree, aux) if self.has_aux else grad_tree
        return ((value, aux), grad_tree) if self.has_aux else (value, grad_tree)

    # ------------------------------------------------------------ eager mode
    def _eager_inputs(self, args, kwargs, diff_leaves):
        """Arguments for running the function on the eager tape: Tensors, those to differentiate requiring grad.

        A Tensor argument is passed as itself, so results stay connected to an enclosing tape or
        trace; one to differentiate that does not require grad is aliased by a fresh leaf that
        does (sharing its data and, inside a trace, its IR value).
        """
        leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
        fresh, diff_tensors = [], []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tensor):
                t = leaf
                if i in diff_leaves and not t.requires_grad:
                    t = wrap(leaf._data)
                    t._ir = leaf._ir
                    t.requires_grad_()
            elif _is_dynamic(leaf) or i in diff_leaves:
                t = wrap(np.array(_leaf_array(leaf) if _is_dynamic(leaf) else leaf,
                                  dtype=None if _is_dynamic(leaf) else np.float64))
                if i in diff_leaves:
                    t.requires_grad_()
            else:
                fresh.append(leaf)
                continue
            fresh.append(t)
            if i in diff_leaves:
                diff_tensors.append(t)
        targs, tkwargs = tree_unflatten(in_tree, fresh)
        return leaves, targs, tkwargs, diff_tensors

    def _eager_call(self, args, kwargs):
        """What the transform returns, computed by running the function eagerly (on the tape for gradients)."""
        mode = "jit" if self.mode == "jit" else self.mode
        if mode == "jacobian":
            return self._eager_jacobian(args, kwargs)
        diff_leaves = self._prepare(args, kwargs, mode)[2]
        leaves, targs, tkwargs, diff_tensors = self._eager_inputs(args, kwargs, diff_leaves)
        as_tensor = bool(TRACE.builders) or any(isinstance(leaf, Tensor) for leaf in leaves)
        if mode == "jit":
            result = self.fun(*targs, **tkwargs)
            return result if as_tensor else _to_arrays(result)
        with enable_grad():
            main, aux = _split_aux(self.fun(*targs, **tkwargs), self.has_aux)
            out = main if isinstance(main, Tensor) else None
            if out is None or out.shape != () or not is_float(out._data.dtype):
                raise TypeError(f"{self.mode} requires the function to return one scalar tensor")
            create = bool(TRACE.builders) or any(isinstance(leaf, Tensor) and leaf.requires_grad for leaf in leaves)
            found = [None] * len(diff_tensors)
            if out.requires_grad:
                found = tape_grad(out, diff_tensors, create_graph=create, allow_unused=True)
        grads = [_zeros_like_tensor(t) if g is None else g for t, g in zip(diff_tensors, found)]
        if not as_tensor:
            grads = [g._data for g in grads]
        grad_tree = self._grad_structure(args, leaves, diff_leaves, grads, as_tensor)
        if not as_tensor:
            main, aux = _to_arrays(main), _to_arrays(aux)
        if self.mode == "grad":
            return (grad_tree, aux) if self.has_aux else grad_tree
        return ((main, aux), grad_tree) if self.has_aux else (main, grad_tree)

    def _eager_jacobian(self, args, kwargs):
        """The Jacobian on the eager tape, one vjp per output element (differentiable again, create_graph)."""
        positions = self._diff_positions(len(args))
        # vjp takes primals only: keyword arguments are bound first (the eager vjp keeps no traces to share)
        fun = functools.partial(self.fun, **kwargs) if kwargs else self.fun
        out, f_vjp = _eager_vjp(_cached_transform(fun, "vjp", positions), args, False)
        return _jacobian_by_rows(out, f_vjp, args, positions, self.argnums)

    def _jacobian_structure(self, args, trace: Trace, leaves, diff_leaves, blocks, as_tensor):
        """The Jacobian blocks as JAX's jacrev arranges them: the output's structure, each output leaf
        replaced by the structure of the differentiated argument(s)."""
        n = len(diff_leaves)
        per_output = [self._grad_structure(args, leaves, diff_leaves, blocks[k * n:(k + 1) * n], as_tensor,
                                           blocks=True) for k in range(trace.n_main)]
        return tree_unflatten(trace.out_tree[1][0], per_output)

    def _inline(self, compiled: Compiled, leaves, dyn, values):
        """Inside an outer trace: emit our graph into it and return Tensors carrying both."""
        ins = [leaves[i] if isinstance(leaves[i], Tensor) else _leaf_array(leaves[i]) for i in dyn]
        implicit = list(compiled.trace.implicit)
        for k, draw in enumerate(compiled.trace.redraws or ()):
            if draw is not None:  # drawn per call of the enclosing function too
                implicit[k] = wrap(draw())
                random_input(implicit[k], draw)
        return _inline_graph(compiled.graph, ins + implicit, values)

    def _outputs(self, trace: Trace, values, as_tensor: bool, split_aux: bool = False):
        it = iter(values)
        leaves = []
        for s in trace.out_static:
            if s is PYTHON_FLOAT_OUTPUT and not TRACE.builders:
                v = next(it)
                leaves.append(float(np.asarray(getattr(v, "_data", v))))
            elif s is GRAPH_OUTPUT or s is PYTHON_FLOAT_OUTPUT:
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

    def _grad_structure(self, args, leaves, diff_leaves, grads, as_tensor, blocks: bool = False):
        """`grads` (one per differentiated leaf) in the structure of the differentiated argument(s).

        Each gradient takes its leaf's kind (Tensor, array, numpy scalar, float); `blocks` (Jacobian
        blocks, which have the output's axes too) are Tensors when `as_tensor`, else arrays.
        """
        by_leaf = dict(zip(diff_leaves, grads))
        positions = self._diff_positions(len(args))
        starts, start = [], 0
        for a in args:
            starts.append(start)
            start += len(tree_flatten(a)[0])
        out = []
        for p in positions:
            sub_leaves, tree = tree_flatten(args[p])
            converted = []
            for j, leaf in enumerate(sub_leaves):
                if leaf is None:
                    converted.append(None)
                    continue
                g = by_leaf[starts[p] + j]
                if isinstance(g, Tensor):
                    converted.append(g)
                elif blocks:
                    converted.append(wrap(np.asarray(g)) if as_tensor else np.asarray(g))
                elif isinstance(leaf, Tensor) or (as_tensor and not isinstance(leaf, (np.ndarray, float))):
                    converted.append(wrap(np.asarray(g)))
                elif isinstance(leaf, np.generic):  # before float: np.float64 is a float too
                    converted.append(np.asarray(g, dtype=leaf.dtype)[()])
                elif isinstance(leaf, float):
                    converted.append(float(g))
                else:
                    converted.append(np.asarray(g))
            out.append(tree_unflatten(tree, converted))
        return out[0] if isinstance(self.argnums, int) else tuple(out)

    # ------------------------------------------------- jit with the eager tape
    def _jit_with_tape(self, args, kwargs):
        """Outputs whose grad_fn runs the compiled adjoint, so ``loss.backward()`` reaches the inputs."""
        leaves, dyn, diff_leaves, compiled, values, arrays = self._get(args, kwargs, mode="tape")
        trace = compiled.trace
        n_out = len(trace.graph.outputs)
        outs, residuals = values[:n_out], values[n_out:]
        primals = [leaves[i] if isinstance(leaves[i], Tensor) else wrap(np.asarray(a))
                   for i, a in zip(dyn, arrays)] + list(trace.implicit)
        inputs = [primals[k] for k in compiled.wrt]
        node = _CompiledFunctionNode.make(compiled, residuals, inputs, primals)
        result = []
        for k, arr in enumerate(outs):
            t = wrap(np.asarray(arr))
            if is_float(t._data.dtype) and k < trace.n_main:
                t.grad_fn = node
                t._output_nr = k
            result.append(t)
        node.num_outputs = len(outs)
        node.out_types = [TensorType(np.asarray(a).dtype, np.shape(a)) for a in outs]
        return self._outputs(trace, result, True)

    # --------------------------------------------------------------- inspection
    def trace(self, *args: Any, **kwargs: Any) -> stages.Traced:
        """Trace this transform for these arguments ahead of time: the first stage of :mod:`tracegrad.stages`.

        The function runs once with traced tensors, and the graphs this transform runs are
        derived from the trace; nothing is lowered, compiled or cached.  The result prints its
        graphs (``.as_text()``) and lowers to a tier (``.lower()``), whose ``.compile()`` is
        callable like this transform for arguments of the traced types.

        >>> import tracegrad as tg, numpy as np
        >>> g = tg.grad(lambda x: (x * x).sum())
        >>> traced = g.trace(np.array([1.0, 2.0]))
        >>> traced.lower(tier="executor").compile()(np.array([3.0, 4.0]))
        array([6., 8.])
        """
        if self.mode == "vjp":
            raise TypeError("trace ahead of time a transform returned by tg.grad, tg.value_and_grad, tg.jit, "
                            "tg.jacobian or tg.hessian; tg.vjp returns a pair, not a transform")
        if TRACE.builders:
            raise TypeError(f"{self.mode}.trace() inside another transform: trace the outer transform instead")
        mode = self.mode
        _, dyn, diff_leaves, float_scalars, key, _ = self._prepare(args, kwargs, mode)
        with self._lock:
            trace, start, traced = self._trace(mode, args, kwargs, diff_leaves, float_scalars)
            compiled = self._derive(mode, trace, dyn, diff_leaves, start, traced)
        return stages.Traced(self, compiled, key, float_scalars, self._leaf_paths(args, kwargs))

    def lower(self, *args: Any, tier: str | None = None, **kwargs: Any) -> stages.Lowered:
        """``self.trace(*args, **kwargs).lower(tier)``: trace and lower in one step.

        >>> import tracegrad as tg, numpy as np
        >>> print(tg.jit(lambda x: x * 2.0).lower(np.ones(3), tier="executor").as_text())
        # executor program for lambda: 1 instructions, arenas f64[9] i64[1] f32[1]
            0  mul_f            0 6 3 1 3 0 0 1 3 0 1 0 0 0
        """
        return self.trace(*args, **kwargs).lower(tier)

    def _leaf_paths(self, args, kwargs) -> list[str]:
        """How each argument leaf is spelled for the user (``argument 'x'``, ``keyword 'n'``), in key order."""
        try:
            params = list(inspect.signature(self.fun).parameters)
        except (TypeError, ValueError):
            params = []
        paths = []
        for i, a in enumerate(args):
            paths.extend(tree_paths(a, f"argument {params[i]!r}" if i < len(params) else f"argument {i}"))
        for k in sorted(kwargs, key=repr):
            paths.extend(tree_paths(kwargs[k], f"keyword {k!r}"))
        return paths

    def ir(self, *args: Any, **kwargs: Any) -> str:
        """The IR text of this function for these arguments: forward, then what the transform runs."""
        compiled = self._get(args, kwargs)[3]
        return "\n\n".join(f"# {kind}\n{text}" for kind, text in self._texts(compiled).items())

    def graphs(self, *args: Any, **kwargs: Any) -> dict[str, Graph]:
        """The Graph objects behind :meth:`ir`."""
        compiled = self._get(args, kwargs)[3]
        out = {"forward": compiled.trace.graph, "compiled": compiled.graph}
        if compiled.adjoint is not None:
            out["adjoint"] = compiled.adjoint
        return out


def _inline_graph(graph: Graph, inputs: list, values: list) -> list:
    """Emit `graph` into the active trace reading `inputs` (Tensors or arrays); Tensors of its `values`.

    The returned Tensors hold the concrete `values` (computed by running the graph) and the
    IR values of the inlined copy, so the enclosing trace sees through the inner transform.
    """
    builder = TRACE.builder
    ins = [_ir_of(builder, x, x._data) if isinstance(x, Tensor) else const_value(np.asarray(x)) for x in inputs]
    mapping = inline(graph, builder, ins)
    result = []
    for v, arr in zip(graph.outputs, values):
        t = wrap(np.asarray(arr._data if isinstance(arr, Tensor) else arr))
        t._ir = mapping.get(v.id, v)
        result.append(t)
    return result


def _to_arrays(tree):
    """`tree` with its Tensor leaves replaced by their arrays (results of calls made with arrays)."""
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [leaf._data if isinstance(leaf, Tensor) else leaf for leaf in leaves])


def _zeros_like_tensor(t):
    return wrap(np.zeros_like(t._data))


_MISS = object()


def _guard_line(node) -> str:
    return f"{os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else "?"


def _first_accepting(traces, arrays, rejections: list | None = None):
    """``(trace, graph values, graph inputs)`` of the first trace whose guards hold for `arrays`, else None.

    Traces whose closed-over values changed are skipped.  The accepting path moves forward
    (:func:`_to_front`).  `rejections` collects ``(trace, GuardFailure)``.
    """
    for i, c in enumerate(traces):
        if c.trace.captures is not None and c.trace.captures.changed() is not None:
            continue
        full = c.arrays(arrays) if c.trace.implicit else arrays
        if full is None:
            continue
        try:
            values = c.run(full)
        except GuardFailure as e:
            if rejections is not None:
                rejections.append((c, e))
            if guard_log.isEnabledFor(logging.INFO):
                guard_log.info("guard at %s does not hold (traced with %r) in %s", _guard_line(e.node),
                               e.node.attrs["expected"], c.trace.graph.name)
            continue
        _to_front(traces, i)
        return c, values, full
    return None


def _to_front(traces: list, i: int) -> None:
    """Move the path that answered one place forward: often-taken paths drift to the front.

    (Moving it all the way would put a cycle of paths in the worst order, each call trying
    every other path first.)
    """
    if i:
        try:
            traces[i - 1], traces[i] = traces[i], traces[i - 1]
        except IndexError:  # another thread reordered the list meanwhile
            pass


class _RunEagerly(Exception):
    """This call is answered by running the function eagerly (the reason is in the message)."""


class _FloatsBrokeTrace(Exception):
    """Tracing failed with varying floats as traced inputs; they are constants again: retry the call."""


def _kernel_branch(c, failure) -> dict[int, bool] | None:
    """Guard overrides that make a re-trace take the branch `c`'s kernel took where it rejected the call.

    `failure` is the GuardFailure; None when it is not a guard on a single truth value (nothing to flip).
    """
    if failure is None or failure.ordinal is None or not isinstance(failure.node.attrs.get("expected"), bool):
        return None
    guards = [n for n in c.graph.nodes if n.op == "guard"]
    checked_in_kernel = [i for i, n in enumerate(guards) if n.inputs[0].dtype.kind != "f"]
    if failure.ordinal >= len(checked_in_kernel):
        return None
    return {**c.extra.get("overrides", {}), checked_in_kernel[failure.ordinal]: not failure.node.attrs["expected"]}


def _is_float_key(k) -> bool:
    """Whether a cache-key entry stands for a Python float argument kept as a constant."""
    return isinstance(k, tuple) and len(k) >= 2 and k[0] is float


def _is_array_key(k) -> bool:
    return isinstance(k, tuple) and len(k) == 2 and isinstance(k[1], np.dtype)


_ndarray = np.ndarray


def _fast_signature(args):
    """A cheap key for positional arrays and tensors (None when another kind of argument is present)."""
    sig = []
    for a in args:
        t = type(a)
        if t is _ndarray:
            sig.append(a.shape)
            sig.append(a.dtype)
        elif t is Tensor:
            d = a._data
            sig.append(d.shape)
            sig.append(d.dtype)
            sig.append(a._requires_grad or a.grad_fn is not None)
        else:
            return None
    return tuple(sig)


class _FastCall:
    """The steady-state path of one call signature: run the cached traces, build the result directly."""

    __slots__ = ("traces", "finish")

    def __init__(self, owner: CompiledFunction, traces: list, args):
        self.traces = traces                   # shared with the cache: new paths appear here too
        n_out = len(traces[0].trace.graph.outputs)
        as_tensor = any(isinstance(a, Tensor) for a in args)
        conv = (lambda v: wrap(v)) if as_tensor else (lambda v: v)
        mode = owner.mode
        if mode == "jacobian":
            # Every argument is one array here: each output has one block per differentiated argument.
            n = len(owner._diff_positions(len(args)))
            one = isinstance(owner.argnums, int)

            def per_output(values, k):
                return conv(values[k]) if one else tuple([conv(b) for b in values[k * n:(k + 1) * n]])
            if traces[0].trace.out_tree == (tuple, (None, None)):
                self.finish = lambda values: per_output(values, 0)
            else:
                n_main = traces[0].trace.n_main
                self.finish = lambda values: tuple([per_output(values, k) for k in range(n_main)])
        elif mode == "jit":
            single = traces[0].trace.out_tree == (tuple, (None, None))
            if single:
                self.finish = (lambda values: conv(values[0])) if as_tensor else (lambda values: values[0])
            else:
                self.finish = lambda values: tuple([conv(v) for v in values[:n_out]])
        else:
            if isinstance(owner.argnums, int):
                grads = (lambda values: conv(values[n_out])) if as_tensor else (lambda values: values[n_out])
            elif as_tensor:
                grads = lambda values: tuple([conv(v) for v in values[n_out:]])  # noqa: E731
            else:
                grads = lambda values: tuple(values[n_out:])  # noqa: E731
            if mode == "grad":
                self.finish = grads
            else:
                self.finish = lambda values: (conv(values[0]), grads(values))

    def __call__(self, args):
        found = _first_accepting(self.traces, [a if type(a) is _ndarray else a._data for a in args])
        return _MISS if found is None else self.finish(found[1])


def _make_node_class():

    class CompiledFunctionBackwardNode(Node):
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
            if self.freed:
                raise RuntimeError(FREED_MESSAGE)
            cts = [np.zeros(t.shape, t.dtype) if g is None else g
                   for g, t in zip(grads, self.out_types) if is_float(t.dtype)]
            if create_graph:
                # Differentiable replay of the joint graph on the input tensors themselves.
                joint, ct_positions = self.compiled.extra["joint"], self.compiled.extra["cts"]
                ct_tensors = iter(c if isinstance(c, Tensor) else wrap(np.asarray(c)) for c in cts)
                primal_it = iter(self.primals)
                ins = [next(ct_tensors) if i in ct_positions else next(primal_it) for i in range(len(joint.inputs))]
                outs = replay(joint, TENSOR_EMITTER, ins)
                return tuple(outs[len(joint.outputs) - len(self.inputs):])
            cts = [c._data if isinstance(c, Tensor) else c for c in cts]
            return tuple(self.compiled.run_adjoint(self.residuals + cts))

        def _release(self):
            self.residuals = []
            self.freed = True

    return CompiledFunctionBackwardNode


_CompiledFunctionNode = _make_node_class()


def _tier_of(runner) -> str:
    """What answers calls of a trace's main graph (for :meth:`CompiledFunction.cache_info`)."""
    if runner is None:
        return "not run yet"
    tier = getattr(runner, "tier", None)
    if tier is not None:
        return "kernel (compiling)" if tier == "executor" and runner.state == "compiling" else tier
    name = type(runner).__name__
    return {"NumbaKernel": "kernel", "ExecutorRunner": "executor"}.get(name, "interpreter")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

#: What each tier runs on: the executor first and kernels when hot, only the executor, only kernels.
TIERS = {"auto": "auto", "executor": "executor", "kernel": "numba"}


def default_backend(tier: str | None = None) -> str:
    """The backend for `tier` (``$TRACEGRAD_TIER``, else ``"auto"``); ``$TRACEGRAD_BACKEND`` overrides both.

    >>> default_backend("kernel")   # doctest: +SKIP
    'numba'
    """
    forced = os.environ.get("TRACEGRAD_BACKEND")
    if forced:
        return forced
    tier = tier or os.environ.get("TRACEGRAD_TIER") or "auto"
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; available: {', '.join(map(repr, TIERS))}")
    return TIERS[tier]


ArgNums = int | Sequence[int]
Decorator = Callable[[Callable[..., Any]], CompiledFunction]


def _decorator(mode: str):
    def transform(fun=None, *, argnums=0, has_aux=False, backend=None, tier=None, check=None):
        if fun is None:
            return lambda f: CompiledFunction(f, mode, argnums, has_aux, backend, tier, check)
        if not callable(fun):
            raise TypeError(f"tg.{mode} takes a function; use @tg.{mode}(argnums=...) with keywords")
        return CompiledFunction(fun, mode, argnums, has_aux, backend, tier, check)
    return transform


@overload
def grad(fun: Callable[..., Any], *, argnums: ArgNums = 0, has_aux: bool = False, backend: str | None = None,
         tier: str | None = None, check: bool | None = None) -> CompiledFunction: ...
@overload
def grad(fun: None = None, *, argnums: ArgNums = 0, has_aux: bool = False, backend: str | None = None,
         tier: str | None = None, check: bool | None = None) -> Decorator: ...


def grad(fun: Callable[..., Any] | None = None, *, argnums: ArgNums = 0, has_aux: bool = False,
         backend: str | None = None, tier: str | None = None,
         check: bool | None = None) -> CompiledFunction | Decorator:
    """The gradient of a scalar function, compiled: ``tg.grad(f)(x)`` is df/dx at x.

    Usable as ``@tg.grad`` or ``@tg.grad(argnums=(0, 1))``.  Arguments may be
    numpy arrays, Python floats, Tensors, or tuples/lists/dicts of them; the
    gradient has the structure of the differentiated argument(s).
    `tier` says what runs the compiled graphs: ``"auto"`` (default, or
    ``$TRACEGRAD_TIER``) starts on the executor, which needs no compilation,
    and moves to a fused numba kernel compiled in the background once the
    function is hot; ``"executor"`` and ``"kernel"`` stay on one tier.
    `backend` (``"auto"``, ``"numba"``, ``"executor"``, ``"interpreter"``,
    or ``$TRACEGRAD_BACKEND``) picks the runner directly, the reference
    interpreter included; `check=True` compares every new trace with the eager
    tape on its first call and raises :class:`SelfCheckError` naming the
    first IR value that diverges.

    >>> import tracegrad as tg, numpy as np
    >>> tg.grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    return _decorator("grad")(fun, argnums=argnums, has_aux=has_aux, backend=backend, tier=tier, check=check)


@overload
def value_and_grad(fun: Callable[..., Any], *, argnums: ArgNums = 0, has_aux: bool = False,
                   backend: str | None = None, tier: str | None = None,
         check: bool | None = None) -> CompiledFunction: ...
@overload
def value_and_grad(fun: None = None, *, argnums: ArgNums = 0, has_aux: bool = False, backend: str | None = None,
                   tier: str | None = None, check: bool | None = None) -> Decorator: ...


def value_and_grad(fun: Callable[..., Any] | None = None, *, argnums: ArgNums = 0, has_aux: bool = False,
                   backend: str | None = None, tier: str | None = None,
         check: bool | None = None) -> CompiledFunction | Decorator:
    """Like :func:`grad`, returning ``(value, gradient)``.

    >>> import tracegrad as tg, numpy as np
    >>> tg.value_and_grad(lambda x: (x * x).sum())(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    return _decorator("value_and_grad")(fun, argnums=argnums, has_aux=has_aux, backend=backend, tier=tier, check=check)


@overload
def jit(fun: Callable[..., Any], *, backend: str | None = None, tier: str | None = None,
         check: bool | None = None) -> CompiledFunction: ...
@overload
def jit(fun: None = None, *, backend: str | None = None, tier: str | None = None,
         check: bool | None = None) -> Decorator: ...


def jit(fun: Callable[..., Any] | None = None, *, backend: str | None = None, tier: str | None = None,
        check: bool | None = None) -> CompiledFunction | Decorator:
    """Compile `fun`: traced once per argument shapes, re-traced when a guard fails.

    Called on Tensors that require grad (or closing over some), it returns
    Tensors whose grad_fn runs the compiled adjoint, so ``loss = step(w);
    loss.backward()`` fills ``w.grad``.  `check=True` compares each new
    trace's outputs with running `fun` eagerly.

    >>> import tracegrad as tg, numpy as np
    >>> tg.jit(lambda x: x * 2.0 + 1.0)(np.array([1.0, 2.0]))
    array([3., 5.])
    """
    return _decorator("jit")(fun, backend=backend, tier=tier, check=check)


def _cached_transform(fun, mode: str, argnums, has_aux: bool = False) -> CompiledFunction:
    """The CompiledFunction of `fun` for this mode, made once per function (so its traces are kept).

    The transforms live on the function itself: a table keyed by the function would keep it alive
    through the transform's reference to it.  fun -> transform -> fun is a cycle the collector frees
    once the caller drops the function.
    """
    per_fun = getattr(fun, "_tracegrad_transforms", None)
    if per_fun is None:
        per_fun = {}
        try:
            fun._tracegrad_transforms = per_fun
        except (AttributeError, TypeError):  # builtins, bound methods: no cache
            pass
    argnums = argnums if isinstance(argnums, int) else tuple(argnums)
    key = (mode, argnums, has_aux)
    t = per_fun.get(key)
    if t is None:
        t = per_fun[key] = CompiledFunction(fun, mode, argnums=argnums, has_aux=has_aux)
    return t


def vjp(fun: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(out, vjp_fn)``: `out` is ``fun(*primals)``; ``vjp_fn(cotangent)`` gives one gradient per primal.

    Inside another transform both halves are traced into the enclosing graph; on tensors that
    require grad, `out` and the gradients stay on the eager tape.

    >>> import tracegrad as tg, numpy as np
    >>> out, f_vjp = tg.vjp(lambda x: x * 2.0, np.array([1.0, 2.0]))
    >>> f_vjp(np.array([1.0, 10.0]))
    (array([ 2., 20.]),)
    """
    return _vjp(fun, primals, tuple(range(len(primals))), has_aux)


def _vjp(fun, primals: tuple, argnums: tuple, has_aux: bool):
    t = _cached_transform(fun, "vjp", argnums, has_aux)
    leaves_all, _ = tree_flatten(primals)
    if not TRACE.builders and STATE.enabled and any(isinstance(x, Tensor) and x.requires_grad for x in leaves_all):
        return _eager_vjp(t, primals, has_aux)
    try:
        leaves, dyn, diff_leaves, compiled, values, arrays = t._get(primals, {})
    except _RunEagerly as why:
        compile_log.info("vjp of %s runs eagerly: %s", getattr(fun, "__name__", "function"), why)
        return _eager_vjp(t, primals, has_aux)
    nested = bool(TRACE.builders)
    as_tensor = nested or any(isinstance(leaf, Tensor) for leaf in leaves)
    if nested:
        values = t._inline(compiled, leaves, dyn, values)
    n_out = len(compiled.trace.graph.outputs)
    outs, residuals = values[:n_out], values[n_out:]
    main, aux = t._outputs(compiled.trace, outs, as_tensor, split_aux=True)
    out_types = [compiled.trace.graph.outputs[k].type for k in range(compiled.trace.n_main)]

    def vjp_fn(cotangent: Any) -> Any:
        cts = _cotangents(cotangent, out_types)
        if TRACE.builders:
            # Called while tracing: the adjoint half becomes part of the enclosing graph.
            concrete = [c._data if isinstance(c, Tensor) else c for c in residuals + cts]
            grads = _inline_graph(compiled.adjoint, residuals + cts, compiled.run_adjoint(concrete))
            return t._grad_structure(primals, leaves, diff_leaves, grads, True)
        arrays = [c._data if isinstance(c, Tensor) else c for c in residuals + cts]
        grads = compiled.run_adjoint(arrays)
        return t._grad_structure(primals, leaves, diff_leaves, grads, as_tensor)
    if has_aux:
        return main, vjp_fn, aux
    return main, vjp_fn


def _cotangents(cotangent, out_types: list) -> list:
    """The float cotangent leaves as arrays (or traced Tensors), checked against the outputs' types."""
    ct_leaves, _ = tree_flatten(cotangent)
    if len(ct_leaves) != len(out_types):
        raise ValueError(f"vjp: expected {len(out_types)} cotangent(s), got {len(ct_leaves)}")
    cts = []
    for c, typ in zip(ct_leaves, out_types):
        if not is_float(typ.dtype):
            continue
        if isinstance(c, Tensor):  # kept: a traced or taped cotangent is differentiated through
            arr = c._data
            if arr.dtype != typ.dtype:
                c = c.to(typ.dtype)
        else:
            arr = c = np.asarray(_leaf_array(c) if _is_dynamic(c) else c, dtype=typ.dtype)
        if arr.shape != typ.shape:
            raise ValueError(f"vjp: cotangent has shape {list(arr.shape)}, the output has shape "
                             f"{list(typ.shape)}")
        cts.append(c)
    return cts


def _eager_vjp(t: CompiledFunction, primals: tuple, has_aux: bool):
    """vjp on the eager tape: `out` keeps its history and ``vjp_fn`` differentiates it (create_graph)."""
    diff_leaves = t._prepare(primals, {}, "vjp")[2]
    leaves, targs, _, diff_tensors = t._eager_inputs(primals, {}, diff_leaves)
    with enable_grad():
        main, aux = _split_aux(t.fun(*targs), has_aux)
    out_leaves = [leaf for leaf in tree_flatten(main)[0] if isinstance(leaf, Tensor)]
    out_types = [TensorType(o._data.dtype, o._data.shape) for o in out_leaves]
    as_tensor = bool(TRACE.builders) or any(isinstance(leaf, Tensor) for leaf in leaves)

    def vjp_fn(cotangent: Any) -> Any:
        cts = _cotangents(cotangent, out_types)
        pairs = [(o, c if isinstance(c, Tensor) else wrap(np.asarray(c)))
                 for o, c in zip([o for o in out_leaves if is_float(o._data.dtype)], cts) if o.requires_grad]
        found = [None] * len(diff_tensors)
        if pairs:
            with enable_grad():
                found = tape_grad([o for o, _ in pairs], diff_tensors, grad_outputs=[c for _, c in pairs],
                                  retain_graph=True, create_graph=True, allow_unused=True)
        grads = [_zeros_like_tensor(d) if g is None else g for d, g in zip(diff_tensors, found)]
        if not as_tensor:
            grads = [g._data for g in grads]
        return t._grad_structure(primals, leaves, diff_leaves, grads, as_tensor)
    if not as_tensor:
        main, aux = _to_arrays(main), _to_arrays(aux)
    if has_aux:
        return main, vjp_fn, aux
    return main, vjp_fn


def jacobian(fun: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The Jacobian of `fun` with respect to argument(s) `argnums`, by reverse mode, compiled into one call.

    Like JAX's ``jacrev``: the result has the structure of the output, each output leaf replaced by
    the structure of the differentiated argument(s) (a tuple of them for a tuple `argnums`), whose
    leaves have shape ``out_leaf.shape + in_leaf.shape``.  The vjp's adjoint graph is batched over
    every one-hot cotangent at once (see :mod:`compiler.jacobian`), so one compiled call returns
    the whole Jacobian.  Inside another transform it is traced; on tensors that require grad it
    stays on the eager tape (one vjp per output element there).

    >>> import tracegrad as tg, numpy as np
    >>> tg.jacobian(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    _check_argnums(argnums, "tg.jacobian")
    return _cached_transform(fun, "jacobian", argnums)


def _jacobian_by_rows(out, f_vjp, args, positions: tuple, argnums):
    """The Jacobian from a vjp function, one call per output element (the eager tape's way)."""
    out_leaves, out_tree = tree_flatten(out)
    out_arrays = [np.asarray(_leaf_array(o) if _is_dynamic(o) else o) for o in out_leaves]
    in_trees = [tree_flatten(args[p]) for p in positions]
    # rows[o][a][i]: the vjps of output leaf o's elements, for leaf i of differentiated argument a
    rows = [[[[] for _ in leaves] for leaves, _ in in_trees] for _ in out_leaves]
    for o, arr in enumerate(out_arrays):
        for k in range(arr.size):
            cts = [np.zeros(a.shape, a.dtype if is_float(a.dtype) else np.float64) for a in out_arrays]
            cts[o].reshape(-1)[k] = 1.0
            grads = f_vjp(tree_unflatten(out_tree, cts))
            for a, g in enumerate(grads):
                for i, leaf in enumerate(tree_flatten(g)[0]):
                    rows[o][a][i].append(leaf)
    result_leaves = []
    for o, arr in enumerate(out_arrays):
        per_arg = []
        for a, (in_leaves, in_tree) in enumerate(in_trees):
            blocks = []
            for i, leaf in enumerate(in_leaves):
                in_shape = np.shape(_leaf_array(leaf) if _is_dynamic(leaf) else leaf)
                blocks.append(_stack_rows(rows[o][a][i], arr.shape + in_shape, arr.dtype,
                                          isinstance(leaf, Tensor) or isinstance(out_leaves[o], Tensor)))
            per_arg.append(tree_unflatten(in_tree, blocks))
        result_leaves.append(per_arg[0] if isinstance(argnums, int) else tuple(per_arg))
    return tree_unflatten(out_tree, result_leaves)


def _stack_rows(rows: list, shape: tuple, dtype, as_tensor: bool):
    """One Jacobian block from its rows: traced (or taped) Tensors stay Tensors, arrays stay arrays."""
    if any(isinstance(r, Tensor) for r in rows):
        rows = [r if isinstance(r, Tensor) else wrap(np.asarray(r)) for r in rows]
        return stack(rows).reshape(shape)
    block = (np.stack([np.asarray(r) for r in rows]).reshape(shape) if rows
             else np.zeros(shape, dtype if is_float(np.dtype(dtype)) else np.float64))
    return wrap(block) if as_tensor else block


def hessian(fun: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The Hessian of a scalar function: the Jacobian of its gradient, compiled into one call.

    The gradient's graph is traced into the Jacobian's, whose vjp is batched over every one-hot
    cotangent (see :func:`jacobian`).

    >>> import tracegrad as tg, numpy as np
    >>> tg.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(_cached_transform(fun, "grad", argnums), argnums=argnums)


def dump_ir(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The IR text (forward and derived graphs) of a transformed function for these arguments."""
    if not isinstance(fun, CompiledFunction):
        fun = CompiledFunction(fun, "grad")
    return fun.ir(*args, **kwargs)
