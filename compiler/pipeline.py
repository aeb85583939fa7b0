"""The compiler's stages, one function each: from a traced graph to something that runs it.

::

    trace ──> derive ──> lower ──> load
    forward   joint,      executor    executor runner,
    graph     halves,     program,    warmed-up kernel
              Jacobian    kernel
                          source

1. **trace** (the front end, :func:`tracegrad._transforms.trace_function`): one run of
   the Python function records the forward graph, with a guard for every value Python read.
2. :func:`derive`: the graphs a transform runs, from the forward graph: the adjoint
   (:mod:`compiler.adjoint`), the optimiser (:mod:`compiler.passes`), the split of a joint
   graph into forward and adjoint halves (:mod:`compiler.partition`), the batched Jacobian
   (:mod:`compiler.jacobian`).
3. :func:`lower`: one graph to its primitive-only form (:func:`compiler.fusion.prepare`) and
   from there to an executor program (:mod:`compiler.executor`, tier 0) or a kernel's source
   (:mod:`compiler.codegen`, tier 1).
4. :func:`load`: a lowering to a callable ``run(arrays) -> list of arrays``: the executor
   program bound to the executor's machine, or the kernel compiled by numba and warmed up.

:func:`compiler.backend.compile_graph` is what transforms call per graph: it picks the stages
for a backend, keeps kernels in the kernel cache, moves hot graphs from the executor to their
kernels (:mod:`compiler.tiers`) and falls back to the reference interpreter when a stage fails.
Users see the same stages through a transform's ``trace``, ``lower`` and ``compile``
(:mod:`tracegrad.stages`).

Importing this module does not import numba: lowering and loading import it when first used.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tracegrad.compiler import cache
from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.fusion import prepare
from tracegrad.compiler.jacobian import jacobian_graph
from tracegrad.compiler.partition import partition
from tracegrad.compiler.passes import cse, optimize, without_value_guards
from tracegrad.compiler.runners import Interpreted, NumbaKernel
from tracegrad.ir.graph import Graph

__all__ = ["MODES", "TIERS", "Derived", "derive", "runnable", "Lowering", "lower", "load"]

#: What a transform derives from its trace: ``grad`` and ``value_and_grad`` one joint graph,
#: ``vjp`` and ``tape`` (``jit`` on tensors that require grad) a forward and an adjoint half,
#: ``jacobian`` one batched graph, ``jit`` the forward graph itself.
MODES = ("grad", "value_and_grad", "vjp", "tape", "jacobian", "jit")

#: What a graph can be lowered to: an executor program (tier 0), a numba kernel (tier 1), or
#: nothing (the reference interpreter runs the graph itself).
TIERS = ("executor", "kernel", "interpreter")


@contextlib.contextmanager
def collector_paused():
    """Run the block with Python's cyclic garbage collector off (as it was again afterwards).

    The stages allocate tens of thousands of long-lived objects (nodes, values, instruction
    rows) and make no reference cycles (values hold their nodes weakly), so each full
    collection those allocations trigger walks the whole heap (numba's objects too) and frees
    nothing: one took a tenth of a 3,400-op trace's first call.  Cycles the traced function
    itself made are collected as usual once the block has ended.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --------------------------------------------------------------------------
# derive
# --------------------------------------------------------------------------

@dataclass
class Derived:
    """The graphs one transform mode runs, derived from one trace.

    `graph` is what runs on a call: the joint forward + adjoint graph (``grad``), the
    forward half (``vjp``, ``tape``), the Jacobian graph or the optimised forward graph.
    For the two halves, `adjoint` maps ``residuals + cotangents`` to gradients, `joint`
    is the graph they were split from and `cts` its cotangent inputs.
    """

    graph: Graph
    adjoint: Graph | None = None
    n_residuals: int = 0
    joint: Graph | None = None
    cts: list[int] = field(default_factory=list)


def derive(traced: Graph, mode: str, wrt: list[int], n_main: int, verify=None) -> Derived:
    """The graphs transform `mode` runs, from the forward graph `traced`.

    `wrt` lists the inputs to differentiate, `n_main` the outputs that are the function's
    result (the rest are aux).  `verify` (:func:`tracegrad.ir.verify` or None) checks each
    optimised graph.

    >>> import numpy as np
    >>> from tracegrad.ir.graph import Graph, GraphBuilder
    >>> from tracegrad.ir.types import TensorType
    >>> g = Graph(name="f")
    >>> b = GraphBuilder(g)
    >>> x = b.input(TensorType(np.dtype("float64"), (3,)))
    >>> g.outputs = [b.sum(b.mul(x, x), axes=None, keepdims=False)]
    >>> derived = derive(g, "grad", wrt=[0], n_main=1)
    >>> derived.graph.name, len(derived.graph.outputs)
    ('f_joint', 2)
    """
    # The trace reuses no value: a loop that reads p[0] every step traces one index per step,
    # and the adjoint would scatter each one's cotangent into a zero array of p's shape.  Reusing
    # equal nodes first sums those cotangents as scalars and scatters once (on a 200-step ODE,
    # 600 array nodes fewer, and a fifth off its first call).
    if mode in ("grad", "value_and_grad"):
        joint, _ = adjoint(cse(traced), wrt, seed="ones", seed_outputs=[0])
        return Derived(optimize(joint, verify))
    if mode in ("vjp", "tape"):
        joint, cts = adjoint(cse(traced), wrt, seed="inputs", seed_outputs=list(range(n_main)))
        joint = optimize(joint, verify)
        part = partition(joint, len(traced.outputs), cts)
        return Derived(optimize(part.forward, verify), optimize(part.adjoint, verify), part.n_residuals, joint, cts)
    if mode == "jacobian":
        return Derived(jacobian_graph(traced, wrt, list(range(n_main)), verify))
    if mode == "jit":
        return Derived(optimize(traced, verify))
    raise ValueError(f"unknown mode {mode!r}; available: {', '.join(map(repr, MODES))}")


def runnable(graph: Graph) -> Graph:
    """The part of a derived graph that runners execute: all of it but the guards on numbers Python read.

    Those guards hold only for the exact bits eager mode computed, so the caller checks them
    on numpy first (:func:`compiler.passes.guard_cone`); guards on truth values and integers
    stay in the runner, which reports them as :class:`~tracegrad.ir.interpret.GuardFailure`.
    """
    return without_value_guards(graph)


# --------------------------------------------------------------------------
# lower
# --------------------------------------------------------------------------

@dataclass
class Lowering:
    """One graph lowered for one tier: what :func:`load` turns into a runner.

    `graph` is the graph that was lowered, `lowered` its primitive-only form (composites
    decomposed, custom-vjp regions inlined; the graph itself for the interpreter).  Exactly
    one of `program` (executor) and `kernel` (:class:`~tracegrad.compiler.codegen.KernelSource`)
    is set for those tiers.  `seconds` is the time lowering took.
    """

    tier: str
    graph: Graph
    lowered: Graph
    program: Any = None
    kernel: Any = None
    seconds: float = 0.0

    def as_text(self) -> str:
        """The executor program (one instruction per line), the kernel's source, or the graph's IR."""
        if self.program is not None:
            return self.program.as_text()
        if self.kernel is not None:
            return self.kernel.source
        return str(self.lowered)

    @property
    def size(self) -> dict[str, int]:
        """How big the lowering is: lowered nodes, and executor instructions or kernel source lines."""
        facts = {"nodes": len(self.lowered.nodes)}
        if self.program is not None:
            facts["instructions"] = len(self.program.code)
        if self.kernel is not None:
            facts["kernel_lines"] = len(self.kernel.source.splitlines())
        return facts


def lower(graph: Graph, tier: str) -> Lowering:
    """`graph` lowered for `tier` (``"executor"``, ``"kernel"`` or ``"interpreter"``).

    Raises :class:`compiler.executor.Unsupported` or :class:`compiler.codegen.Unsupported`
    for a graph the tier cannot run, or whatever code generation raised; runners fall back
    to the interpreter then (:func:`compiler.backend.compile_graph`).  The executor's form skips
    the optimiser's clean-up of the decomposed graph, which costs more than it saves there; a
    kernel's is cleaned up.

    >>> import numpy as np
    >>> from tracegrad.ir.graph import Graph, GraphBuilder
    >>> from tracegrad.ir.types import TensorType
    >>> g = Graph(name="double")
    >>> b = GraphBuilder(g)
    >>> g.outputs = [b.mul(b.input(TensorType(np.dtype("float64"), (3,))), 2.0)]
    >>> lower(g, "executor").as_text().splitlines()[0]
    '# executor program for double: 1 instructions, arenas f64[7] i64[1] f32[1]'
    >>> "def kernel_" in lower(g, "kernel").as_text()
    True
    """
    start = time.perf_counter()
    if tier == "executor":
        from tracegrad.compiler import executor  # numba: loaded with the first lowering, not on import
        with collector_paused():
            lowered = prepare(graph, clean_up=False)
            program = executor.build_program(lowered)
        return Lowering(tier, graph, lowered, program=program, seconds=time.perf_counter() - start)
    if tier == "kernel":
        from tracegrad.compiler import codegen  # numba: loaded with the first lowering, not on import
        lowered = prepare(graph)
        kernel = codegen.generate(lowered)
        return Lowering(tier, graph, lowered, kernel=kernel, seconds=time.perf_counter() - start)
    if tier == "interpreter":
        return Lowering(tier, graph, graph)
    raise ValueError(f"unknown tier {tier!r}; available: {', '.join(map(repr, TIERS))}")


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------

def load(lowering: Lowering, notice: str | None = None):
    """A runner for `lowering`: ``run(arrays) -> list of arrays``, raising GuardFailure when a guard fails.

    An executor program is bound to the executor's machine (nothing compiled); a kernel is
    loaded through the kernel cache's modules and warmed up, from numba's disk cache when a
    worker or an earlier process compiled it.  `notice` is written to stderr when the warm-up
    (a numba compile) takes over a second.

    >>> import numpy as np
    >>> from tracegrad.ir.graph import Graph, GraphBuilder
    >>> from tracegrad.ir.types import TensorType
    >>> g = Graph(name="double")
    >>> b = GraphBuilder(g)
    >>> g.outputs = [b.mul(b.input(TensorType(np.dtype("float64"), (3,))), 2.0)]
    >>> run = load(lower(g, "executor"))
    >>> run([np.array([1.0, 2.0, 3.0])])
    [array([2., 4., 6.])]
    """
    if lowering.program is not None:
        from tracegrad.compiler import executor  # numba: loaded with the first lowering, not on import
        return executor.ExecutorRunner(lowering.lowered, lowering.program)
    if lowering.kernel is not None:
        return _load_kernel(lowering.lowered, lowering.kernel, notice)
    return Interpreted(lowering.graph)


def _load_kernel(lowered: Graph, ks, notice: str | None):
    fn = cache.load_kernel(ks.canonical, ks.entry)
    # The module compiled is the text without comments; tracebacks show this trace's text,
    # which has the same lines plus the comments naming the user's lines.
    cache.register_lines(fn.py_func.__code__.co_filename, ks.source)
    timer = None
    if notice is not None:
        timer = threading.Timer(1.0, lambda: sys.stderr.write(notice))
        timer.daemon = True
        timer.start()
    try:
        kernel = NumbaKernel(lowered, ks, fn)
        kernel.warm_up()
    finally:
        if timer is not None:
            timer.cancel()
    # When the last kernel using this module is dropped (by the in-memory cache
    # and the traces of every function), the module's compiled code is released.
    cache.bind_module_lifetime(kernel, fn)
    return kernel


def compile_notice(lowering: Lowering) -> str:
    """What a slow kernel compile says on stderr, so that a long first call is not a mystery.

    Made before the compile starts: a closure over the graphs would keep them alive until
    the notice's timer thread has woken up and exited.
    """
    return (f"tracegrad: compiling {lowering.graph.name} ({len(lowering.lowered.nodes)} nodes, "
            f"{len(lowering.kernel.source.splitlines())} lines of kernel)...\n")
