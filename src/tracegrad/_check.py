"""Diagnostics for compiled functions: every intermediate value, NaN scans, and the self-check.

Both tools rest on one *checked variant* of a graph: the same nodes with
every node's value appended to the outputs, compiled by the same backend.
Anomaly mode scans those values in program order for the first NaN; the
self-check (``tg.grad(f, check=True)`` or ``TRACEGRAD_CHECK=1``) compares
a new trace's results with the eager tape and, when they differ, walks the
values to the first one where the kernel and the reference interpreter
part ways.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tracegrad._anomaly_mode import backward_nan_error, forward_nan_error, has_nan
from tracegrad.ir.graph import GUARD, Graph, Node
from tracegrad.ir.interpret import ReferenceInterpreter
from tracegrad.ir.ops import TABLE
from tracegrad.ir.text import render

__all__ = ["SelfCheckError", "checked_graph", "interpret_all", "raise_first_nan", "tolerance", "close",
           "first_divergence", "describe_node"]


class SelfCheckError(RuntimeError):
    """A compiled function's result differs from the eager tape (``check=True``)."""


def checked_graph(graph: Graph) -> tuple[Graph, list[Node]]:
    """`graph` with each node's value appended to its outputs, and those nodes in order."""
    nodes = [n for n in graph.nodes if n.op != GUARD and n.outputs]
    checked = graph.header(f"{graph.name}_checked")
    checked.nodes, checked.outputs = list(graph.nodes), list(graph.outputs) + [n.outputs[0] for n in nodes]
    return checked, nodes


def interpret_all(graph: Graph, arrays: list) -> dict[int, np.ndarray]:
    """Every value of `graph` on `arrays` by the reference interpreter, keyed by ``Value.id``.

    Guards are evaluated but not enforced: the caller already ran the trace
    on these inputs.
    """
    walk = ReferenceInterpreter(graph, enforce_guards=False)
    walk.run([np.asarray(a) for a in arrays])
    return walk.env


def describe_node(graph: Graph, node: Node) -> str:
    """The node's line as the IR printer shows it (value names as in the dumped graph)."""
    r = render(graph)
    return r.lines[r.node_lines[graph.nodes.index(node)]].strip()


def raise_first_nan(graph: Graph, arrays: list, values: list) -> None:
    """Raise the anomaly error for the first node of `graph` whose value (in `values`, from the
    checked variant) holds NaN; return quietly when none does."""
    checked, nodes = checked_graph(graph)
    per_node = values[len(graph.outputs):]
    known = {v.id: a for v, a in zip(graph.inputs, arrays)}
    for node, value in zip(nodes, per_node):
        known[node.outputs[0].id] = value
        if not has_nan(value):
            continue
        inputs_nan = any(has_nan(v.const if v.const is not None else known.get(v.id, 0.0)) for v in node.inputs)
        ir = describe_node(checked, node)
        if node.grad_of is not None:
            raise backward_nan_error(node.grad_of, None, node.loc, ir=ir)
        entry = TABLE[node.op]
        name = entry.eager_name(tuple(v.shape for v in node.inputs), node.attrs) if entry.differentiable else None
        raise forward_nan_error(node.op, name, node.loc, inputs_nan, ir=ir)


def tolerance(dtype: Any) -> tuple[float, float]:
    """(rtol, atol) within which an element of a compiled result and of the eager one count as equal.

    Kernels reassociate sums and use vector math within a few ulp, so
    float32 gets a looser bound than float64; `atol` is a floor for
    elements near zero.
    """
    return (1e-7, 1e-9) if np.dtype(dtype) == np.float64 else (2e-4, 2e-5)


def close(a: Any, b: Any, nan_in_b_ok: bool = False) -> bool:
    """Whether two results agree (NaN where the other has NaN; shapes equal).

    With `nan_in_b_ok`, a NaN in `b` matches anything in `a` (the eager tape's NaN
    where a compiled ``where`` adjoint gives a masked zero).
    """
    a, b = np.asarray(a), np.asarray(b)
    if nan_in_b_ok and a.shape == b.shape and b.dtype.kind == "f":
        b = np.where(np.isnan(b), a, b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    rtol, atol = tolerance(a.dtype if a.dtype.itemsize <= b.dtype.itemsize else b.dtype)
    # Per element: a bound scaled by the largest element would let a small one be off by 50 %.
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def first_divergence(graph: Graph, arrays: list, kernel_values: list) -> tuple[Node, np.ndarray, np.ndarray] | None:
    """The first node whose compiled value (from the checked variant) differs from the interpreter's."""
    _, nodes = checked_graph(graph)
    reference = interpret_all(graph, arrays)
    for node, value in zip(nodes, kernel_values[len(graph.outputs):]):
        expected = reference[node.outputs[0].id]
        if not close(value, expected):
            return node, np.asarray(value), expected
    return None


def where(node: Node) -> str:
    """``file.py:LINE`` of a node, or a note that it has no source line."""
    return f"{os.path.basename(node.loc[0])}:{node.loc[1]}" if node.loc else "no source line"


def sample(a: np.ndarray, b: np.ndarray) -> str:
    """The first element where two arrays differ, for error messages."""
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    diff = ~np.isclose(a, b, equal_nan=True) if a.dtype.kind in "fc" else a != b
    idx = tuple(int(i) for i in np.argwhere(diff)[0]) if diff.any() else ()
    return f"at index {list(idx)}: {a[idx]!r} vs {b[idx]!r}"
