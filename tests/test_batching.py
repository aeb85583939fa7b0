"""Batching rules (the op table's ``Op.batch``) and the batched Jacobians and Hessians built on them.

The generic tests read the op table: every primitive and composite, every
sample, every way of choosing which inputs carry the batch axis, checked
against applying the op to each batch row with its numpy implementation --
on numpy arrays through the rule directly, and as IR through
:func:`~tracegrad.ir.batching.vmap_graph` and the reference interpreter.  An
op without a rule fails here; so does one that falls back to per-row
application without being listed in PER_ROW.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from tracegrad.ir.batching import Batched, BatchEmitter, vmap_graph
from tracegrad.ir.graph import Graph, GraphBuilder, const_value
from tracegrad.ir.interpret import interpret
from tracegrad.ir.ops import NUMPY, OPS, TABLE, Composite, batch_per_row
from tracegrad.ir.types import TensorType
from tracegrad.ir.verify import verify

ROWS = 3
#: ops whose rule applies them row by row (exact, one node per row): custom_vjp's sub-graphs are
#: opaque to a rule, and a cotangent never reaches its inputs (its vjp replays the backward graph)
PER_ROW = {"custom_vjp"}


def _samples(name, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{name} {np.dtype(dtype).name}".encode()))
    return TABLE[name].samples(rng, np.dtype(dtype))


def _row(arg, i):
    """Row `i` of a batch made from a sample argument: different values, same shape, dtype and validity."""
    if arg.dtype.kind == "f":
        return (arg * (1.0 + 0.25 * i) + 0.125 * i).astype(arg.dtype)
    if arg.dtype == np.bool_:
        return np.logical_xor(arg, i % 2 == 1)
    return np.roll(arg, i)  # index arrays and targets: the same entries, so still in range


def _patterns(args):
    """Which inputs carry the batch axis: each array input alone, and every array input."""
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    patterns = [(i,) for i in arrays]
    if len(arrays) > 1:
        patterns.append(tuple(arrays))
    return patterns


def _reference(entry, args, attrs):
    if isinstance(entry, Composite):
        return np.asarray(entry.decompose(NUMPY, *args, **attrs))
    return np.asarray(entry.impl(*args, **attrs))


def _cases():
    for name in sorted(TABLE):
        for dtype in (np.float32, np.float64):
            for k, sample in enumerate(_samples(name, dtype)):
                for pattern in _patterns(sample.args):
                    yield pytest.param(name, np.dtype(dtype), k, pattern,
                                       id=f"{name}-{np.dtype(dtype).name}-{k}-{'+'.join(map(str, pattern))}")


def _batch_inputs(args, pattern):
    rows = [[_row(a, i) if j in pattern else a for j, a in enumerate(args)] for i in range(ROWS)]
    stacked = [np.stack([r[j] for r in rows]) if j in pattern else a for j, a in enumerate(args)]
    return rows, stacked


def _close(got, want, dtype):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def test_every_op_has_a_batching_rule():
    missing = [name for name, op in OPS.items() if op.batch is None]
    assert not missing, f"ops without a batching rule (Op.batch): {missing}"
    assert {name for name, op in OPS.items() if op.batch is batch_per_row} == PER_ROW


@pytest.mark.parametrize("name,dtype,k,pattern", list(_cases()))
def test_batching_rule_matches_rows(name, dtype, k, pattern):
    entry = TABLE[name]
    sample = _samples(name, dtype)[k]
    rows, stacked = _batch_inputs(sample.args, pattern)
    with np.errstate(all="ignore"):
        want = np.stack([_reference(entry, r, sample.attrs) for r in rows])
    # On numpy arrays, through the rule itself (or the decomposition, for composites).
    E = BatchEmitter(NUMPY)
    with np.errstate(all="ignore"):  # rows outside an op's domain give NaN, as they do row by row
        got = E.apply(name, *[Batched(a) if j in pattern else a for j, a in enumerate(stacked)], **sample.attrs)
    _close(np.asarray(got.value), want, dtype)
    # As IR: a one-op graph of single rows, batched by vmap_graph, run by the reference interpreter.
    b = GraphBuilder(Graph(name=name))
    row_inputs = [b.input(TensorType(a.dtype, a.shape)) if isinstance(a, np.ndarray) else a for a in sample.args]
    b.graph.outputs = [b.apply(name, *row_inputs, **sample.attrs)]
    single = b.graph
    outer = GraphBuilder(Graph(name=f"{name}_batched"))
    ins = []
    for j, a in enumerate(stacked):
        if not isinstance(a, np.ndarray):
            continue
        v = outer.input(TensorType(a.dtype, a.shape))
        ins.append(Batched(v) if j in pattern else v)
    outer.graph.outputs = vmap_graph(single, outer, ins, ROWS)
    verify(outer.graph)
    got = interpret(outer.graph, [a for a in stacked if isinstance(a, np.ndarray)])[0]
    _close(np.asarray(got), want, dtype)


def test_per_row_fallback_unrolls_one_op_per_row():
    """Index arrays that differ per row have no single numpy index: the rule emits one index per row."""
    x = np.arange(12.0).reshape(3, 4)
    idx = np.array([[0, 2], [1, 1], [3, 0]])
    b = GraphBuilder(Graph())
    xv, iv = b.input(TensorType(x.dtype, (4,))), b.input(TensorType(idx.dtype, (2,)))
    b.graph.outputs = [b.index(xv, iv, spec=(("array",),))]
    outer = GraphBuilder(Graph())
    ins = [Batched(outer.input(TensorType(x.dtype, x.shape))), Batched(outer.input(TensorType(idx.dtype, idx.shape)))]
    outer.graph.outputs = vmap_graph(b.graph, outer, ins, 3)
    assert [n.op for n in outer.graph.nodes].count("index") == 3 * 3  # per row: a row of x, of idx, the gather
    assert any(n.op == "concat" for n in outer.graph.nodes)
    np.testing.assert_array_equal(interpret(outer.graph, [x, idx])[0], np.take_along_axis(x, idx, axis=1))


def test_custom_vjp_is_batched_per_row():
    sample = _samples("custom_vjp", np.float64)[0]
    b = GraphBuilder(Graph())
    xv = b.input(TensorType(np.dtype(np.float64), (3,)))
    b.graph.outputs = [b.custom_vjp(xv, **sample.attrs)]
    outer = GraphBuilder(Graph())
    stacked = np.stack([sample.args[0] * (i + 1) for i in range(4)])
    xs = Batched(outer.input(TensorType(stacked.dtype, stacked.shape)))
    outer.graph.outputs = vmap_graph(b.graph, outer, [xs], 4)
    assert [n.op for n in outer.graph.nodes].count("custom_vjp") == 4
    np.testing.assert_allclose(interpret(outer.graph, [stacked])[0], stacked * stacked)


def test_shared_outputs_are_repeated_per_row():
    b = GraphBuilder(Graph())
    xv, yv = b.input(TensorType(np.dtype(np.float64), (2,))), b.input(TensorType(np.dtype(np.float64), (2,)))
    b.graph.outputs = [b.mul(xv, 2.0), b.sin(yv), const_value(np.array(1.5))]
    outer = GraphBuilder(Graph())
    x, y = np.array([1.0, 2.0]), np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    ins = [outer.input(TensorType(x.dtype, x.shape)), Batched(outer.input(TensorType(y.dtype, y.shape)))]
    outer.graph.outputs = vmap_graph(b.graph, outer, ins, 3)
    got = interpret(outer.graph, [x, y])
    np.testing.assert_allclose(got[0], np.tile(x * 2, (3, 1)))
    np.testing.assert_allclose(got[1], np.sin(y))
    np.testing.assert_allclose(got[2], np.full(3, 1.5))


def test_patterns_cover_every_input_of_every_sample():
    """Every array input of every sample is batched by some case (the generic test's own coverage)."""
    for name in TABLE:
        for sample in _samples(name, np.float64):
            covered = set(itertools.chain.from_iterable(_patterns(sample.args)))
            assert covered == {i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)}
