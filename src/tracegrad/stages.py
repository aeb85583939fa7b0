"""The stages of compiling a transformed function, ahead of time: trace, lower, compile.

Every transform returned by :func:`tracegrad.grad`, :func:`~tracegrad.value_and_grad`,
:func:`~tracegrad.jit`, :func:`~tracegrad.jacobian` and :func:`~tracegrad.hessian` compiles just
in time: its first call for a kind of arguments traces, derives and lowers.  The same stages
can be run one at a time (as with JAX's ``jax.jit(f).trace(x).lower().compile()``), each with
its text::

    >>> import numpy as np, tracegrad as tg
    >>> g = tg.grad(lambda x: (tg.tanh(x) * x).sum())
    >>> traced = g.trace(np.ones(3))        # run once with traced tensors; derive the adjoint
    >>> print(traced.as_text())             # doctest: +SKIP
    >>> lowered = traced.lower(tier="executor")   # or tier="kernel": the numba kernel's source
    >>> print(lowered.as_text())            # doctest: +SKIP
    >>> compiled = lowered.compile()        # the executor program loaded, or the kernel compiled
    >>> compiled(np.ones(3))
    array([1.1815685, 1.1815685, 1.1815685])

:class:`Traced` holds the graphs (``.graphs``), :class:`Lowered` the lowering of the graph the
transform runs, :class:`Compiled` a callable that takes the same arguments as the transform,
for arguments of the traced types only.  Stages are not cached and do not touch the
transform's own cache of traces.
"""

from __future__ import annotations

import dataclasses
import linecache
import os
import time
from typing import Any

import numpy as np

from tracegrad._anomaly_mode import ANOMALY
from tracegrad._pytree import _is_dynamic, _key_repr, _leaf_array, _static_key, in_tree_of, tree_flatten
from tracegrad._tensor import Tensor
from tracegrad._trace import TRACE
from tracegrad.compiler import pipeline
from tracegrad.ir.interpret import GuardFailure
from tracegrad.ir.types import DTYPE_TO_SHORT

__all__ = ["Traced", "Lowered", "Compiled", "GuardError"]

#: The backend the per-trace runner machinery uses for each tier (``tier=`` of the transforms).
_BACKEND_OF_TIER = {"executor": "executor", "kernel": "numba", "interpreter": "interpreter"}
#: The tier a transform's backend runs first: ``"auto"`` starts on the executor.
_FIRST_TIER = {"auto": "executor", "executor": "executor", "numba": "kernel", "interpreter": "interpreter"}

_GRAPH_TITLES = {
    "forward": "forward: the traced run of {name}, a guard for each value Python read",
    "grad": "compiled: forward + adjoint, what grad runs (the value, then the gradients), optimised",
    "value_and_grad": "compiled: forward + adjoint, what value_and_grad runs (the value, then the gradients), "
                      "optimised",
    "jit": "compiled: the forward graph jit runs, optimised",
    "jacobian": "compiled: the Jacobian graph: the vjp's adjoint half batched over every one-hot cotangent",
    "vjp": "compiled: the forward half (outputs, then the residuals the adjoint half reads)",
    "tape": "compiled: the forward half (outputs, then the residuals the adjoint half reads)",
    "adjoint": "adjoint: the adjoint half (residuals and cotangents to gradients)",
}


class GuardError(RuntimeError):
    """A call of a :class:`Compiled` function that the traced path does not cover.

    Python read a value while tracing (a branch on ``x.sum() > 0``, a ``float(t)``), and this
    call's arguments give another value there; or a value the trace captured (a global, a
    closed-over constant) changed since.  The transform itself traces such a call anew.
    """


def _type_text(part) -> str:
    """One argument leaf's cache-key entry as the user reads it: ``f64[3]``, ``float``, a constant."""
    if part == ("f",):
        return "float (traced as an input)"
    if isinstance(part, tuple) and len(part) == 2 and isinstance(part[1], np.dtype):
        shape, dtype = part
        return f"{DTYPE_TO_SHORT.get(dtype, str(dtype))}[{','.join(map(str, shape))}]"
    return f"the constant {_key_repr(part)}"


def _signature_text(paths: list[str], key: tuple) -> str:
    return ", ".join(f"{p}: {_type_text(part)}" for p, part in zip(paths, key[3:]))


def _source_line(loc) -> str:
    """``model.py:12 (`if y.sum() > 0:`)``: where a node came from, with the user's line when it can be read."""
    if not loc:
        return "an unknown line"
    text = linecache.getline(loc[0], loc[1]).strip()
    where = f"{os.path.basename(loc[0])}:{loc[1]}"
    return f"{where} (`{text}`)" if text else where


class Traced:
    """A transform traced for one kind of arguments: the forward graph and the graphs derived from it.

    Made by ``f.trace(*args, **kwargs)`` on a transform ``f``.  :meth:`as_text` prints the
    graphs with headers; :attr:`graphs` holds them (``"forward"``, ``"compiled"`` and, for a
    vjp, ``"adjoint"``); :meth:`lower` takes the next stage.

    >>> import numpy as np, tracegrad as tg
    >>> traced = tg.jit(lambda x: x * 2.0).trace(np.ones(3))
    >>> sorted(traced.graphs)
    ['compiled', 'forward']
    """

    def __init__(self, owner, compiled, key: tuple, float_scalars: set[int], paths: list[str]):
        self._owner = owner
        self._compiled = compiled
        self._key = key
        self._float_scalars = frozenset(float_scalars)
        self._paths = paths

    @property
    def name(self) -> str:
        """``"grad of 'loss'"``: the transform and the function's name."""
        return f"{self._owner.mode} of {getattr(self._owner.fun, '__qualname__', 'function')!r}"

    @property
    def in_types(self) -> list[tuple[str, str]]:
        """``(argument, type)`` per argument leaf, as traced: ``("argument 'x'", "f64[3]")``."""
        return [(p, _type_text(part)) for p, part in zip(self._paths, self._key[3:])]

    @property
    def graphs(self) -> dict[str, Any]:
        """The :class:`~tracegrad.ir.graph.Graph` objects: ``"forward"``, ``"compiled"``, maybe ``"adjoint"``."""
        c = self._compiled
        out = {"forward": c.trace.graph, "compiled": c.graph}
        if c.adjoint is not None:
            out["adjoint"] = c.adjoint
        return out

    def as_text(self) -> str:
        """The traced forward graph and the graphs the transform runs, each under a header.

        Every node ends with the line of the user's function that produced it (for adjoint
        nodes, the forward line they differentiate).
        """
        seconds = self._compiled.extra.get("seconds", {})
        lines = [f"# {self.name} for ({_signature_text(self._paths, self._key)})"]
        if seconds:
            lines.append(f"# traced in {seconds['trace'] * 1e3:.1f} ms, graphs derived and optimised in "
                         f"{seconds['derive'] * 1e3:.1f} ms")
        name = self._compiled.trace.graph.name
        for kind, graph in self.graphs.items():
            title = _GRAPH_TITLES["forward" if kind == "forward" else "adjoint" if kind == "adjoint"
                                  else self._owner.mode if self._owner.mode in _GRAPH_TITLES else "jit"]
            lines += ["", f"# {title.format(name=name)}", str(graph)]
        return "\n".join(lines)

    def lower(self, tier: str | None = None) -> Lowered:
        """Lower the graph the transform runs for `tier`: ``"executor"``, ``"kernel"`` or ``"interpreter"``.

        The default is the tier the transform's own setting runs first (the executor for
        ``tier="auto"``).  Raises what the tier's lowering raises for a graph it cannot run
        (``Unsupported``, with the reason).

        >>> import numpy as np, tracegrad as tg
        >>> lowered = tg.jit(lambda x: x * 2.0).trace(np.ones(3)).lower(tier="kernel")
        >>> "def kernel_" in lowered.as_text()
        True
        """
        tier = tier or _FIRST_TIER.get(self._owner.backend, "executor")
        if tier not in pipeline.TIERS:
            raise ValueError(f"unknown tier {tier!r}; available: {', '.join(map(repr, pipeline.TIERS))}")
        return Lowered(self, pipeline.lower(pipeline.runnable(self._compiled.graph), tier))

    def __repr__(self) -> str:
        return f"<Traced {self.name} for ({_signature_text(self._paths, self._key)})>"


class Lowered:
    """The graph a transform runs, lowered for one tier: an executor program or a kernel's source.

    Made by :meth:`Traced.lower`.  :meth:`as_text` is the program (one instruction per line)
    or the kernel's Python source (each statement ends with the user's line);
    ``as_text("ir")`` is the primitive-only graph it was lowered from (:attr:`graph`).

    >>> import numpy as np, tracegrad as tg
    >>> lowered = tg.jit(lambda x: x * 2.0).trace(np.ones(3)).lower(tier="executor")
    >>> lowered.as_text().splitlines()[0]
    '# executor program for lambda: 1 instructions, arenas f64[9] i64[1] f32[1]'
    """

    def __init__(self, traced: Traced, lowering: pipeline.Lowering):
        self.traced = traced
        self.lowering = lowering

    @property
    def tier(self) -> str:
        """``"executor"``, ``"kernel"`` or ``"interpreter"``."""
        return self.lowering.tier

    @property
    def graph(self):
        """The primitive-only graph that was lowered (composites decomposed, custom-vjp regions inlined)."""
        return self.lowering.lowered

    def as_text(self, dialect: str | None = None) -> str:
        """The tier's text (executor program, kernel source, or for the interpreter the graph), or
        with ``dialect="ir"`` the primitive-only graph it was lowered from."""
        if dialect == "ir":
            return str(self.lowering.lowered)
        if dialect is not None:
            raise ValueError(f"unknown dialect {dialect!r}: None (the {self.tier}'s text) or 'ir'")
        return self.lowering.as_text()

    def compile(self) -> Compiled:
        """Load the lowering: bind the executor program, or have numba compile the kernel (seconds).

        >>> import numpy as np, tracegrad as tg
        >>> double = tg.jit(lambda x: x * 2.0).trace(np.ones(3)).lower(tier="executor").compile()
        >>> double(np.array([1.0, 2.0, 3.0]))
        array([2., 4., 6.])
        """
        start = time.perf_counter()
        notice = pipeline.compile_notice(self.lowering) if self.lowering.kernel is not None else None
        runner = pipeline.load(self.lowering, notice)
        return Compiled(self, runner, time.perf_counter() - start)

    def __repr__(self) -> str:
        return f"<Lowered {self.traced.name} for the {self.tier}>"


class Compiled:
    """A transform compiled ahead of time for one kind of arguments; call it as the transform.

    Made by :meth:`Lowered.compile`.  ``compiled(*args, **kwargs)`` returns what the transform
    returns for arguments of the traced types (each array's shape and dtype, each non-array
    argument's value); other types raise :class:`TypeError` naming the expected and the given
    ones, and a call that takes another path than the traced one (a branch on a value)
    raises :class:`GuardError`.  Results are arrays, or Tensors for Tensor arguments, not
    connected to the eager tape.

    >>> import numpy as np, tracegrad as tg
    >>> f = tg.value_and_grad(lambda x: (x * x).sum()).trace(np.ones(2)).lower().compile()
    >>> f(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """

    def __init__(self, lowered: Lowered, runner, seconds: float):
        self.lowered = lowered
        self._seconds = seconds
        traced = lowered.traced
        # A runner of its own, seeded where the trace's runners are kept: guards on numbers
        # Python read, the checked variant for anomaly mode and the result structure are the
        # transform's own code paths.
        self._compiled = dataclasses.replace(traced._compiled, backend=_BACKEND_OF_TIER[lowered.tier],
                                             extra=dict(traced._compiled.extra), _runners={"graph": runner})

    @property
    def tier(self) -> str:
        """``"executor"``, ``"kernel"`` or ``"interpreter"``: what runs the calls."""
        return self.lowered.tier

    @property
    def cost(self) -> dict[str, float | int]:
        """Time each stage took (milliseconds) and the size of what runs.

        Keys: ``trace_ms``, ``derive_ms``, ``lower_ms``, ``compile_ms``, ``nodes`` (of the
        primitive-only graph), and ``instructions`` (executor) or ``kernel_lines`` (kernel).
        """
        seconds = self._compiled.extra.get("seconds", {})
        facts: dict[str, float | int] = {"trace_ms": seconds.get("trace", 0.0) * 1e3,
                                         "derive_ms": seconds.get("derive", 0.0) * 1e3,
                                         "lower_ms": self.lowered.lowering.seconds * 1e3,
                                         "compile_ms": self._seconds * 1e3}
        facts.update(self.lowered.lowering.size)
        return facts

    def as_text(self) -> str:
        """What runs: the executor program, the compiled kernel's source, or the interpreted graph."""
        return self.lowered.as_text()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        traced = self.lowered.traced
        owner, key = traced._owner, traced._key
        if TRACE.builders:
            raise TypeError(f"a compiled {traced.name} cannot be called while another transform traces; "
                            f"call the transform itself there")
        if in_tree_of(args, kwargs) != key[1]:
            raise TypeError(f"{traced.name} was compiled for arguments ({_signature_text(traced._paths, key)}); "
                            f"it was called with another structure of arguments "
                            f"({_signature_text(owner._leaf_paths(args, kwargs), _loose_key(args, kwargs))})")
        leaves, _, diff_leaves, _, call_key, arrays = owner._prepare(args, kwargs, key[0],
                                                                     varying_floats=traced._float_scalars)
        if call_key != key:
            raise TypeError(self._mismatch(owner._leaf_paths(args, kwargs), call_key))
        c = self._compiled
        changed = c.trace.captures.changed() if c.trace.captures is not None else None
        if changed is not None:
            raise GuardError(f"{traced.name} was compiled for a trace that no longer applies: {changed}. "
                             f"Trace it again, or call the transform itself (it traces anew).")
        full = c.arrays(arrays) if c.trace.implicit else arrays
        if full is None:
            raise TypeError(f"{traced.name} was compiled for closed-over tensors of other shapes or dtypes: "
                            f"{', '.join(repr(v.type) for v in c.trace.graph.inputs[c.trace.n_explicit:])} "
                            f"when traced")
        try:
            values = c.run(full)
        except GuardFailure as failure:
            raise GuardError(self._guard_message(failure)) from None
        if ANOMALY.enabled and ANOMALY.check_nan:
            values = c.run_checked(full)
        as_tensor = any(isinstance(leaf, Tensor) for leaf in leaves)
        return owner._result(args, leaves, diff_leaves, c, values, as_tensor)

    def _mismatch(self, paths: list[str], call_key: tuple) -> str:
        traced = self.lowered.traced
        key = traced._key
        lines = [f"{traced.name} was compiled for other argument types than this call's:"]
        for path, want, got in zip(paths, key[3:], call_key[3:]):
            if want != got:
                lines.append(f"  {path}: compiled for {_type_text(want)}, called with {_type_text(got)}")
        if len(lines) == 1:
            lines.append(f"  compiled for ({_signature_text(traced._paths, key)}), called with "
                         f"({_signature_text(paths, call_key)})")
        lines.append("Trace and compile it for these arguments, or call the transform itself (it traces for "
                     "each new kind of arguments). Non-array arguments are constants of a trace.")
        return "\n".join(lines)

    def _guard_message(self, failure) -> str:
        node = failure.node
        expected = node.attrs.get("expected")
        got = failure.actual
        if got is None and isinstance(expected, bool):
            got = not expected
        seen = f", this call gives {got!r}" if got is not None else ", this call does not"
        return (f"{self.lowered.traced.name}: this call takes another path than the traced one. Python read a "
                f"value at {_source_line(node.loc)} and the trace took {expected!r} there{seen}.\n"
                f"A compiled stage runs only the traced path: call the transform itself (it traces each new "
                f"path), or trace with arguments that take this one.")

    def __repr__(self) -> str:
        return f"<Compiled {self.lowered.traced.name} on the {self.tier}>"


def _loose_key(args, kwargs) -> tuple:
    """A key-like tuple describing arguments whose structure differs from the traced one (for messages)."""
    leaves, _ = tree_flatten((tuple(args), dict(kwargs)))
    parts = []
    for leaf in leaves:
        if _is_dynamic(leaf):
            arr = _leaf_array(leaf)
            parts.append((arr.shape, arr.dtype))
        else:
            parts.append(_static_key(leaf))
    return (None, None, None, *parts)
