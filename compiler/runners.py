"""What a compiled graph runs on: the reference interpreter, or a numba kernel with its arguments bound.

Each runner is a callable ``run(arrays) -> list of arrays`` raising
:class:`~tracegrad.ir.interpret.GuardFailure` when a guard does not hold.
This module does not import numba (``import tracegrad`` stays free of it);
the executor's runner lives with the executor.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from tracegrad.ir.graph import Graph
from tracegrad.ir.interpret import GuardFailure, interpret
from tracegrad.ir.ops import IndexingError

if TYPE_CHECKING:  # codegen imports numba, which this module leaves to the kernels' own modules
    from tracegrad.compiler.codegen import KernelSource

__all__ = ["Interpreted", "NumbaKernel", "argument_specs", "sample_arguments"]


class Interpreted:
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
        from numba import typeof  # numba is loaded by the kernel's module already; not by importing this one
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
        try:
            interpret(graph, arrays)
        except IndexingError:
            raise
        except Exception:  # any other failure: report what the kernel knows
            pass
    node = ks.index_nodes[-code - 1]
    where = f" at {node.loc[0]}:{node.loc[1]}" if node.loc else ""
    raise IndexError(f"index out of bounds in op '{node.op}'{where}")
