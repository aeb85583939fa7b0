"""The executor (tier 0) against the reference interpreter on layouts the op samples do not reach.

The generic op tests (test_backends.py) run every op of the table on the
executor; these add what its program builder does on its own: views through
strides (transposes, reversed slices, broadcasts), reductions over inner
axes, products with broadcast batches and transposed operands, integer
wrap-around, conversions between the float64, float32 and integer
arenas, index tables and host steps, and the
bounds check every program passes before it runs.
"""

from __future__ import annotations

import math

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


def test_machine_check_command_reports_without_writing(monkeypatch, tmp_path, capsys):
    assert executor._main(["--check"]) == 0
    stale = tmp_path / "_machine.py"
    stale.write_text("# an older machine\n")
    monkeypatch.setattr(executor, "MACHINE_PATH", str(stale))
    assert executor._main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert stale.read_text() == "# an older machine\n"  # --check never writes


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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layouts_match_the_interpreter(name, dtype):
    f, shapes = LAYOUTS[name]
    args = [RNG.normal(size=s).astype(dtype) for s in shapes]
    tol = {"rtol": 1e-13, "atol": 1e-14} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-6}
    _close(*_both(f, *args), **tol)
    _close(*_both(lambda *xs: f(*xs).sum(), *args, grad=True), **tol)


def test_conversions_between_every_pair_of_lanes():
    """float64, float32 and integer values live in different arenas: each conversion crosses them."""
    x64 = np.array([1.5, -2.25, 0.0, 3e9, np.nan, 1e-40])
    x32 = np.array([0.1, -7.5, 0.0, 2.5, 3e5, -1e-3], np.float32)
    n = np.array([3, -4, 0, 2**40 + 1, 7, -1])

    def mix(a, b, i):
        return (a.float() * b, b.double() + a, i.float() - b, i.double() * 0.5, b.long() + i,
                tg.where(a.abs() < 1e6, a, 0.0).int(),  # (NaN or beyond int32: platform-defined)
                b.bool(), a.bool() & b.bool(), (b > 0).float() * b, tg.cat([a, b.double()]), b.long().float())
    got, want = _both(mix, x64, x32, n)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_float32_reductions_products_gathers_and_guards():
    x = RNG.normal(size=(6, 5)).astype(np.float32)
    w = RNG.normal(size=(5, 3)).astype(np.float32)
    picked = np.array([5, 0, 5, 2])

    def f(a, b):
        y = (a[picked] @ b).T @ (a[:4] @ b)
        if float(y.sum()) > -1e9:  # a guard on a float32 value
            y = y * 2.0
        return y.sum(), a.max(1).values, a.min(0).values, a.argmax(1), tg.sum(a, 1, keepdim=True), y
    got, want = _both(f, x, w)
    for g, v in zip(got, want):
        assert g.dtype == v.dtype
        np.testing.assert_allclose(g, v, rtol=2e-6, atol=2e-5)
    got, want = _both(lambda a, b: (tg.tanh(a[picked] @ b) ** 2).sum(), x, w, grad=True)
    for g, v in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, v, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_sums_wider_than_a_chunk_are_compensated_like_row_sums(dtype):
    """A sum over the outer axis accumulates SUM_CHUNK outputs at a time in memory order: every
    output, in every chunk (the last one partial), gets the compensated sum a row sum gets."""
    width = 2 * executor.SUM_CHUNK + 37
    x = RNG.normal(size=(41, width))
    x[0] = 1e16  # cancels against the last row: lost without compensation
    x[-1] = -1e16
    x = x.astype(dtype)
    got, _ = _both(lambda a: a.sum(0), x)  # (the interpreter's numpy sum loses the cancellation)
    assert got.dtype == dtype
    exact = np.array([math.fsum(col) for col in x.astype(np.float64).T])
    np.testing.assert_allclose(got, exact.astype(dtype), rtol=1e-12 if dtype == np.float64 else 2e-6, atol=1e-9)
    np.testing.assert_array_equal(got, _both(lambda a: a.T.contiguous().sum(1), x)[0])


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
    # The output slot of the first row, past the arena's end:
    program.code[0, 2] = len(program.templates[executor.F_LANE])
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


def _program_of(f):
    return next(iter(f._cache.values()))[0]._runners["graph"].program


def test_long_elementwise_chains_run_block_by_block_with_the_same_numbers():
    n = executor.MIN_BLOCKED + 123  # a partial last block
    for dtype, rtol in ((np.float64, 1e-13), (np.float32, 2e-6)):
        x = RNG.normal(size=n).astype(dtype)
        y = RNG.normal(size=(1, n)).astype(dtype)

        def chain(a, b):
            # a scalar operand, a broadcast row, a value read again after others were computed
            s = tg.tanh(a) * tg.sin(a) + 0.5 * tg.exp(-a * a)
            return s * b + s.sum() + tg.cos(s) * a
        # Errors relative to the largest value: the sum is added to every element, and some cancel.
        got, want = _both(chain, x, y)
        _close(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
        got, want = _both(lambda a, b: chain(a, b).sum(), x, y, grad=True)
        for g, w in zip(got, want):
            _close(g, w, rtol=rtol * 10, atol=rtol * 10 * np.abs(w).max())
    f = tg.jit(lambda a: tg.tanh(a) * tg.sin(a) + 0.5 * tg.exp(-a * a), backend="executor")
    f(np.ones(n, np.float32))
    assert "block" in _program_of(f).as_text()


def _row(op, out, n, *operands):
    """An elementwise instruction row: `operands` are (offset, inner stride) pairs."""
    fields = [op, 0, out, n, 1, n]
    for offset, stride in operands:
        fields += [offset, 0, stride]
    return fields + [0] * (executor.WIDTH - len(fields))


def test_a_chain_stops_where_blocks_would_reorder_reads_and_writes():
    n = executor.MIN_BLOCKED
    add, neg = executor.OPCODE[("add", executor.F_LANE)], executor.OPCODE[("neg", executor.F_LANE)]
    independent = [_row(neg, 2 * n, n, (0, 1)), _row(add, 3 * n, n, (2 * n, 1), (n, 1))]
    rows, steps = executor.block_rows(independent, [(0, 2)])
    assert rows[0][0] == executor.OPCODE["block"] and rows[0][3] == 2 and steps == [(0, 3)]
    # The second row reads, as a scalar, an element the first row writes: blocks would read it too early.
    scalar = [_row(neg, 2 * n, n, (0, 1)), _row(add, 3 * n, n, (2 * n + 5, 0), (n, 1))]
    assert executor.block_rows(scalar, [(0, 2)])[0] == scalar
    # The second row reads the first row's output shifted by one element.
    shifted = [_row(neg, 2 * n, n, (0, 1)), _row(add, 3 * n, n, (2 * n + 1, 1), (n, 1))]
    assert executor.block_rows(shifted, [(0, 2)])[0] == shifted
    # The second row writes over the first row's operand one element further on.
    overwrite = [_row(neg, 2 * n, n, (0, 1)), _row(neg, 1, n, (n, 1))]
    assert executor.block_rows(overwrite, [(0, 2)])[0] == overwrite


def test_float32_vector_math_gives_the_kernels_numbers():
    # Contiguous float32 rows call the float32 vector math the kernels call (stated ulp bounds).
    x = np.linspace(-20, 20, 4001).astype(np.float32)
    for fn in (tg.exp, tg.sin, tg.cos, tg.tanh, tg.sigmoid, lambda v: tg.log(v.abs() + 1)):
        got, want = _both(lambda v: fn(v), x)  # noqa: B023
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=4e-7, atol=1e-37)


def test_the_parallel_first_build_covers_every_function_of_the_machine():
    """A first build compiles the handlers in shares across processes: a function left out would be
    compiled later by the loop's build alone (correct, but slower), so none may be left out."""
    from numba.core.registry import CPUDispatcher

    from tracegrad.compiler import _machine
    functions = {name for name, value in vars(_machine).items()
                 if isinstance(value, CPUDispatcher) and value.__module__ == _machine.__name__}
    assert set(executor._handler_names()) == functions - {"vm"}
    executor.compile_handlers(executor._handler_names()[:2])  # loads (or compiles) without running anything
