"""The executor (tier 0) against the reference interpreter on layouts the op samples do not reach.

The generic op tests (test_backends.py) run every op of the table on the
executor; these add what its program builder does on its own: views through
strides (transposes, reversed slices, broadcasts), reductions over inner
axes, products with broadcast batches and transposed operands, integer
wrap-around and float32 rounding, index tables and host steps, and the
bounds check every program passes before it runs.
"""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.compiler import executor
from tracegrad.compiler.backend import compile_graph
from tracegrad.compiler.fusion import prepare

RNG = np.random.default_rng(11)


def _both(f, *args, grad=False):
    """f on the executor and on the interpreter (the executor must not hand the graph on)."""
    make = (lambda b: tg.grad(f, argnums=tuple(range(len(args))), backend=b)) if grad else \
        (lambda b: tg.jit(f, backend=b))
    on_executor, reference = make("executor"), make("interpreter")
    got, want = on_executor(*args), reference(*args)
    runners = [c._runners["graph"] for paths in on_executor._cache.values() for c in paths]
    assert runners and all(isinstance(r, executor.ExecutorRunner) for r in runners), runners
    return got, want


def _close(got, want, rtol=1e-13, atol=1e-14):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_machine_module_matches_the_op_table():
    assert executor.machine_is_current(), "run `python -m tracegrad.compiler.executor` after changing the op table"


LAYOUTS = {
    "transpose-add": (lambda x: (x.T * 2.0 + x.T.exp()), [(3, 4)]),
    "reversed-slice": (lambda x: x[::-1, 1::2] * x[::-1, :2], [(5, 4)]),
    "row-col-broadcast": (lambda a, b: a * b + a, [(3, 1), (1, 4)]),
    "middle-axis-sum": (lambda x: x.sum(1) + x.sum((0, 2)).sum(), [(2, 3, 4)]),
    "keepdims-max": (lambda x: x - x.max(-1, keepdim=True).values, [(3, 5)]),
    "transposed-reduction": (lambda x: x.transpose(0, 2).sum(0), [(2, 3, 4)]),
    "batched-broadcast-matmul": (lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
    "vector-matrix": (lambda v, m: (v @ m) * (m @ m.T @ v[:3]).sum(), [(3,), (3, 3)]),
    "transposed-operands": (lambda a, b: a.T @ b.T, [(4, 3), (2, 4)]),
    "concat-axes": (lambda a, b: tg.cat([a, b.T], 1) * 1.5, [(3, 2), (4, 3)]),
    "stack-and-softmax": (lambda a, b: tg.softmax(tg.stack([a, b, a * b]), 0), [(4,), (4,)]),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layouts_match_the_interpreter(name):
    f, shapes = LAYOUTS[name]
    args = [RNG.normal(size=s) for s in shapes]
    _close(*_both(f, *args))
    _close(*_both(lambda *xs: f(*xs).sum(), *args, grad=True))


def test_float32_arithmetic_is_float32s_own():
    a = RNG.normal(size=64).astype(np.float32)
    b = RNG.normal(size=64).astype(np.float32) + 3.0
    got, want = _both(lambda x, y: ((x + y) * y - x) / y, a, b)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # + - * / round exactly as numpy's float32


def test_integers_wrap_and_booleans_stay_booleans():
    x = np.array([2**31 - 2, 7, -9, 0], dtype=np.int32)
    got, want = _both(lambda v: v + 5, x)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32
    m = np.array([True, False, True, False])
    got, want = _both(lambda p, v: (p & (v > 0)) | ~p, m, x)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, want)
    got, want = _both(lambda v: (v // 4, v % 4, (v * 3).sum(), v.max()), np.array([9, -7, 12, 5]))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_constant_and_run_time_indices():
    x = RNG.normal(size=(5, 3))
    picked = np.array([4, 0, 4, 2])
    _close(*_both(lambda v: v[picked] * 2.0, x))                      # a gather table
    _close(*_both(lambda v: (v[picked, 1:] ** 2).sum(), x, grad=True))  # gather and scatter-add tables
    idx = np.array([3, 3, 1])
    _close(*_both(lambda v, i: (v[i] * v[i]).sum(), x, idx, grad=False))  # index arrays known at run time
    f = tg.grad(lambda v, i: (v[i] * v[i]).sum(), backend="executor")
    want = np.zeros_like(x)
    np.add.at(want, idx, 2 * x[idx])
    np.testing.assert_allclose(f(x, idx), want, rtol=1e-14)


def test_an_index_out_of_range_raises_eager_modes_error():
    f = tg.jit(lambda v, i: v[i] * 2.0, backend="executor")
    f(np.ones(4), np.array([1, 2]))
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.ones(4), np.array([1, 9]))


def test_every_program_is_bounds_checked():
    f = tg.jit(lambda x: tg.exp(x) * 2.0)
    f(np.ones(6))
    graph = prepare(next(iter(f._cache.values()))[0].graph, clean_up=False)
    program = executor.build_program(graph)
    executor.check_program(program)
    program.code[0, 2] = len(program.f_template)  # the output slot of the first row, past the arena's end
    with pytest.raises(executor.Unsupported, match="outside its arena"):
        executor.check_program(program)


def test_program_text_names_its_instructions():
    f = tg.grad(lambda x: (tg.tanh(x) * x).sum(), backend="executor")
    f(np.ones(3))
    text = next(iter(f._cache.values()))[0].executor_programs()["graph"]
    assert text.startswith("# executor program for")
    assert "tanh_f" in text and "sum_f" in text


def test_graphs_the_executor_cannot_run_fall_back_to_the_interpreter():
    graph_f16 = tg.jit(lambda x: x * 2.0, backend="interpreter")
    graph_f16(np.ones(3, np.float16))
    graph = next(iter(graph_f16._cache.values()))[0].graph
    runner = compile_graph(graph, "executor")
    assert not isinstance(runner, executor.ExecutorRunner)
    assert "float16" in runner.reason
