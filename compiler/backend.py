"""Backends that run a graph: the reference interpreter, the executor, and numba kernels.

``compile_graph(graph, backend)`` returns a callable ``run(arrays) ->
list[np.ndarray]`` raising :class:`~tracegrad.ir.interpret.GuardFailure`
when a guard does not hold.  The stages are :mod:`compiler.pipeline`'s
(``lower`` to an executor program or a kernel's source, ``load``); this module
decides which to run for a backend, keeps kernels in the kernel cache
(:mod:`compiler.cache`: in memory and on disk), and falls back to the
interpreter, with a logged reason, for graphs a stage cannot handle.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time

import numpy as np

from tracegrad.compiler import BACKENDS, cache, pipeline
from tracegrad.compiler.codegen import KernelSource, Unsupported
from tracegrad.ir.graph import SMALL_CONST, Graph
from tracegrad.ir.interpret import GuardFailure, interpret

__all__ = ["compile_graph", "NumbaKernel", "BACKENDS"]

log = logging.getLogger("tracegrad.compile")  # shared with tracegrad._log



class _Interpreted:
    """The reference interpreter behind the backend interface."""

    __slots__ = ("graph", "reason")

    def __init__(self, graph: Graph, reason: str = ""):
        self.graph = graph
        self.reason = reason

    def __call__(self, arrays):
        return interpret(self.graph, arrays)

    source = None


_INT64 = np.dtype(np.int64)


def _flat(a):
    """A C-contiguous flat view of `a` (a copy only when `a` is not contiguous)."""
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


class NumbaKernel:
    """A graph compiled to one numba entry function, with its extents and constants bound.

    Calling it runs a small Python wrapper written for this kernel (no loops
    over arguments): flatten the inputs, allocate the outputs and the status
    word, call the entry function, reshape the outputs.
    """

    __slots__ = ("graph", "kernel", "fn", "extents", "consts", "out_types", "source", "_call", "__weakref__")

    def __init__(self, graph: Graph, ks: KernelSource, fn):
        self.graph = graph
        self.kernel = ks
        self.fn = fn
        self.extents = ks.extents()
        self.consts = ks.consts
        self.out_types = [(v.shape, v.dtype) for v in graph.outputs]
        self.source = ks.source
        self._call = self._wrapper()

    def _wrapper(self):
        ins = [f"a{i}" for i in range(len(self.graph.inputs))]
        # 1-D arguments pass as they are unless strided (a[::2]): the kernel reshapes its views.
        flat = [f"_flat({a})" if len(v.shape) != 1 else f"({a} if {a}.flags.c_contiguous else _contig({a}))"
                for a, v in zip(ins, self.graph.inputs)]
        # _fail must not be a bound method: the wrapper is stored on self, so
        # it would make a reference cycle, and an evicted kernel (with its
        # graph and constants) would wait for the cyclic collector.  Nothing
        # in env may refer back to the wrapper (see the return).
        env = {"_fn": self.fn, "_empty": np.empty, "_flat": _flat, "_contig": np.ascontiguousarray, "_D": self.extents,
               "_fail": functools.partial(_raise_failure, self.kernel, self.graph), "_INT64": _INT64}
        lines = ["def run(arrays):"]
        if ins:
            lines.append(f"    {', '.join(ins)}{',' if len(ins) == 1 else ''} = arrays")
        outs = []
        for k, (shape, dtype) in enumerate(self.out_types):
            env[f"_t{k}"] = dtype
            lines.append(f"    o{k} = _empty({int(np.prod(shape))}, _t{k})")
            outs.append(f"o{k}" if len(shape) == 1 else f"o{k}.reshape({shape!r})")
        for i, c in enumerate(self.consts):
            env[f"_c{i}"] = c
        args = flat + [f"_c{i}" for i in range(len(self.consts))] + [f"o{k}" for k in range(len(outs))]
        lines.append("    st = _empty(1, _INT64)")
        lines.append(f"    _fn({', '.join(args + ['_D', 'st'])})")
        lines.append("    if st[0]:")
        lines.append("        _fail(int(st[0]), arrays)")
        lines.append(f"    return [{', '.join(outs)}]")
        exec(compile("\n".join(lines), f"<tracegrad wrapper {self.kernel.entry}>", "exec"), env)
        # Popped: run's globals are env, so env["run"] would be a reference
        # cycle keeping the graph and constants bound above alive.
        return env.pop("run")

    def __call__(self, arrays):
        return self._call(arrays)

    def warm_up(self) -> None:
        """Have numba compile (or load from its disk cache) the entry for these argument types now."""
        from numba import typeof
        self.fn.compile(tuple(typeof(a) for a in sample_arguments(argument_specs(self.graph, self.kernel))))


def argument_specs(lowered: Graph, ks: KernelSource) -> list[tuple[str, bool]]:
    """(dtype, writeable) of the kernel's flat array arguments before ``D`` and the status word.

    Inputs, constants (read-only), outputs: what a call passes.  A compile worker compiles for
    exactly these types, so the process that asked loads the result instead of compiling again.
    """
    return [(v.dtype.str, True) for v in lowered.inputs] + \
        [(c.dtype.str, bool(c.flags.writeable)) for c in ks.consts] + \
        [(v.dtype.str, True) for v in lowered.outputs]


def sample_arguments(specs) -> list[np.ndarray]:
    """One-element arrays of the argument types `specs` describes, then ``D`` and the status word."""
    samples = []
    for dtype, writeable in specs:
        a = np.zeros(1, np.dtype(dtype))
        a.setflags(write=writeable)
        samples.append(a)
    return samples + [np.zeros(1, _INT64), np.zeros(1, _INT64)]


def _raise_failure(ks: KernelSource, graph: Graph, code: int, arrays=None):
    """Raise what a nonzero status word from the kernel of `ks` reports: a failed guard or a bad index.

    For a bad index the reference interpreter runs the graph on the same
    arrays, so the error is the one eager mode gives (PyTorch's text, the op,
    the shapes and the user's line); the kernel only knows which node failed.
    """
    if code > 0:
        # Guards are lowered in graph order, so the status word's guard number is its ordinal.
        raise GuardFailure(ks.guards[code - 1], None, code - 1)
    if arrays is not None:
        from tracegrad.ir.interpret import interpret
        from tracegrad.ir.ops import IndexingError
        try:
            interpret(graph, arrays)
        except IndexingError:
            raise
        except Exception:  # any other failure: report what the kernel knows
            pass
    node = ks.index_nodes[-code - 1]
    where = f" at {node.loc[0]}:{node.loc[1]}" if node.loc else ""
    raise IndexError(f"index out of bounds in op '{node.op}'{where}")


def _large_constants(graph: Graph):
    """Every constant of `graph` the fingerprint sees by type only, in a fixed walk order.

    Node inputs, the graph's own outputs (a closed-over array returned as it
    is, or as aux) and the graphs nested in attributes: any of them can reach
    an output, so none may be left out of a cache key.
    """
    for node in graph.nodes:
        for v in node.inputs:
            if v.const is not None and v.const.size > SMALL_CONST:
                yield v.const
        for attr in node.attrs.values():
            if isinstance(attr, Graph):
                yield from _large_constants(attr)
    for v in graph.outputs:
        if v.const is not None and v.const.size > SMALL_CONST:
            yield v.const


def _memory_key(graph: Graph) -> tuple:
    """What makes two graphs run the same kernel: structure, input types and every constant's data.

    The fingerprint sees small constants; larger ones are hashed here, since a
    kernel carries its large constants as bound arguments.
    """
    large = tuple(hashlib.sha1(np.ascontiguousarray(c).tobytes()).hexdigest() for c in _large_constants(graph))
    return (graph.fingerprint(), tuple(v.type for v in graph.inputs), large)


def compile_graph(graph: Graph, backend: str = "numba"):
    """A runner for `graph` on `backend` (``"numba"`` or ``"interpreter"``).

    Numba runners are kept in the in-memory kernel cache (``tg.cache_info()``),
    so an identical graph traced again, by another function or after
    ``clear_cache`` of a transform, reuses its kernel.
    """
    if backend == "interpreter":
        return _Interpreted(graph)
    if backend == "executor":
        return _build_executor(graph)
    if backend == "auto":
        return _build_tiered(graph)
    if backend != "numba":
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    key = _memory_key(graph)
    return cache.default_cache.get_or_create(key, lambda: _build_numba(graph, key))


def _build_numba(graph: Graph, key=None):
    """A numba kernel for `graph`, or the interpreter when any step of lowering fails.

    Whatever goes wrong between the graph and a warmed-up kernel (an op
    without a lowering, generated source Python or numba rejects, a numba
    typing error) costs speed, not an answer: the graph runs on the reference
    interpreter and the ``tracegrad.compile`` logger says why, once per graph.
    """
    start = time.perf_counter()
    try:
        kernel = _lower_and_compile(graph, start)
    except Unsupported as e:
        reason = str(e)
    except Exception as e:  # any lowering failure falls back, with its reason logged
        reason = f"code generation failed ({type(e).__name__}: {_first_line(e)})"
    else:
        if key is not None:
            from tracegrad.compiler.tiers import mark_on_disk
            mark_on_disk(key)  # a tiered function of a later process takes this kernel at once
        return kernel
    log.info("graph %s runs on the interpreter: %s", graph.name, reason)
    return _Interpreted(graph, reason)


def _build_tiered(graph: Graph):
    """`graph` on the executor, moving to its kernel when hot; the kernel at once when it is cached."""
    from tracegrad.compiler import tiers
    key = _memory_key(graph)
    kernel = cache.default_cache.get(key)
    if kernel is None and tiers.kernel_on_disk(key):
        kernel = cache.default_cache.get_or_create(key, lambda: _build_numba(graph, key))
    if kernel is not None and not isinstance(kernel, _Interpreted):  # a failed lowering: the executor may run it
        return kernel
    first = _build_executor(graph)
    if isinstance(first, _Interpreted):
        # The executor cannot run it: compile the kernel now, as the numba backend does.
        return cache.default_cache.get_or_create(key, lambda: _build_numba(graph, key))
    return tiers.TieredRunner(graph, key, first, len(first.graph.nodes))


def _build_executor(graph: Graph):
    """`graph` as an executor program (no compilation), or the interpreter when the executor cannot run it."""
    from tracegrad.compiler import executor
    start = time.perf_counter()
    try:
        runner = pipeline.load(pipeline.lower(graph, "executor"))
    except executor.Unsupported as e:
        reason = str(e)
    except Exception as e:  # any build failure falls back, with its reason logged
        reason = f"executor program failed ({type(e).__name__}: {_first_line(e)})"
    else:
        log.info("built executor program for %s in %.1f ms (%d nodes, %d instructions)", graph.name,
                 (time.perf_counter() - start) * 1e3, len(runner.graph.nodes), len(runner.program.code))
        return runner
    log.info("graph %s runs on the interpreter: %s", graph.name, reason)
    return _Interpreted(graph, reason)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "no message"


def _lower_and_compile(graph: Graph, start: float):
    lowering = pipeline.lower(graph, "kernel")
    kernel = pipeline.load(lowering, pipeline.compile_notice(lowering))
    log.info("compiled %s in %.1f ms (%d nodes, %d lines)", graph.name, (time.perf_counter() - start) * 1e3,
             len(lowering.lowered.nodes), len(lowering.kernel.source.splitlines()))
    return kernel
