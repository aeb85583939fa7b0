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

import hashlib
import logging
import time

import numpy as np

from tracegrad.compiler import BACKENDS, cache, executor, pipeline, tiers
from tracegrad.compiler.codegen import Unsupported
from tracegrad.compiler.runners import Interpreted, NumbaKernel
from tracegrad.ir.graph import SMALL_CONST, Graph

__all__ = ["compile_graph", "NumbaKernel", "BACKENDS"]

log = logging.getLogger("tracegrad.compile")  # shared with tracegrad._log



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
        return Interpreted(graph)
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
            tiers.mark_on_disk(key)  # a tiered function of a later process takes this kernel at once
        return kernel
    log.info("graph %s runs on the interpreter: %s", graph.name, reason)
    return Interpreted(graph, reason)


def _build_tiered(graph: Graph):
    """`graph` on the executor, moving to its kernel when hot; the kernel at once when it is cached."""
    key = _memory_key(graph)
    kernel = cache.default_cache.get(key)
    if kernel is None and tiers.kernel_on_disk(key):
        kernel = cache.default_cache.get_or_create(key, lambda: _build_numba(graph, key))
    if kernel is not None and not isinstance(kernel, Interpreted):  # a failed lowering: the executor may run it
        return kernel
    first = _build_executor(graph)
    if isinstance(first, Interpreted):
        # The executor cannot run it: compile the kernel now, as the numba backend does.
        return cache.default_cache.get_or_create(key, lambda: _build_numba(graph, key))
    return tiers.TieredRunner(graph, key, first, len(first.graph.nodes))


def _build_executor(graph: Graph):
    """`graph` as an executor program (no compilation), or the interpreter when the executor cannot run it."""
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
    return Interpreted(graph, reason)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "no message"


def _lower_and_compile(graph: Graph, start: float):
    lowering = pipeline.lower(graph, "kernel")
    kernel = pipeline.load(lowering, pipeline.compile_notice(lowering))
    log.info("compiled %s in %.1f ms (%d nodes, %d lines)", graph.name, (time.perf_counter() - start) * 1e3,
             len(lowering.lowered.nodes), len(lowering.kernel.source.splitlines()))
    return kernel
