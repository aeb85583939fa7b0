"""The numba backend against the reference interpreter, on every op of the table.

One compiled function per (op, dtype) sums a random projection of every
sample's output, so each entry costs one kernel compile; float64 results
must agree with the interpreter to 1e-10, float32 within the vector math's
error bound.  Also: generated kernels are readable and registered with
linecache, threads share one compile per key, and guards still re-trace.
"""

from __future__ import annotations

import linecache
import threading

import numpy as np
import pytest

import tracegrad as tg
from tracegrad._dispatch import apply_op
from tracegrad.ir.ops import TABLE, Composite

ENTRIES = sorted(TABLE)


def _program(name, dtype):
    """f(*float args) = sum over samples of <op(sample), r>, with non-float args fixed.

    Ops that take no float argument at all (logical ones) get their array arguments as inputs instead.
    """
    entry = TABLE[name]
    rng = np.random.default_rng(7)
    samples = entry.samples(rng, np.dtype(dtype))
    any_float = any(isinstance(a, np.ndarray) and a.dtype.kind == "f" for s in samples for a in s.args)
    floats, plan = [], []
    for s in samples:
        pos = [i for i, a in enumerate(s.args) if isinstance(a, np.ndarray) and (a.dtype.kind == "f" or not any_float)]
        plan.append((s, pos, list(range(len(floats), len(floats) + len(pos)))))
        floats.extend(s.args[i] for i in pos)
    outs = [np.asarray(entry.impl(*s.args, **s.attrs)) if not isinstance(entry, Composite)
            else np.asarray(entry.impl(*s.args, **s.attrs)) for s in samples]
    projections = [rng.normal(size=o.shape).astype(dtype) for o in outs]

    def f(*xs):
        total = None
        for (s, pos, slots), r in zip(plan, projections):
            args = list(s.args)
            for p, k in zip(pos, slots):
                args[p] = xs[k]
            out = apply_op(entry, tuple(args), s.attrs)
            if out._data.dtype.kind != "f":
                out = out.to(tg.float64 if dtype == np.float64 else tg.float32)
            term = (out * tg.tensor(r)).sum()
            total = term if total is None else total + term
        return total
    return f, floats


def _differentiable(name):
    entry = TABLE[name]
    return isinstance(entry, Composite) or entry.vjp is not None


def _check(names, dtype, backend):
    """The entries `names`, summed into one program per kind, on `backend` against the interpreter."""
    programs = [_program(name, dtype) for name in names]
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 1e-5)
    for differentiable in (True, False):
        chosen = [(f, xs) for name, (f, xs) in zip(names, programs) if _differentiable(name) == differentiable]
        if not chosen:
            continue
        xs = [x for _, group in chosen for x in group]
        splits = np.cumsum([0] + [len(group) for _, group in chosen])

        def f(*args, chosen=chosen, splits=splits):
            return sum(g(*args[a:b]) for (g, _), a, b in zip(chosen, splits[:-1], splits[1:]))
        if differentiable:
            argnums = tuple(range(len(xs)))
            v_n, g_n = tg.value_and_grad(f, argnums=argnums, backend=backend)(*xs)
            v_i, g_i = tg.value_and_grad(f, argnums=argnums, backend="interpreter")(*xs)
            np.testing.assert_allclose(v_n, v_i, rtol=rtol, atol=atol, err_msg=str(names))
            for a, b in zip(g_n, g_i):
                assert a.dtype == b.dtype
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=str(names))
        else:
            np.testing.assert_allclose(tg.jit(f, backend=backend)(*xs), tg.jit(f, backend="interpreter")(*xs),
                                       rtol=rtol, atol=atol, err_msg=str(names))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", ENTRIES)
def test_executor_agrees_with_interpreter(name, dtype, monkeypatch):
    _no_fallback(monkeypatch)
    _check([name], dtype, "executor")


#: float32 kernels differ from float64 ones in the runtime functions of elementwise ops (vector math
#: per dtype); reductions, products and views are written the same for both, so float32 kernels of
#: those are left to the executor and interpreter tests (a numba compile costs seconds each).
#: Run in reverse order: test_edge_values compiles the same programs from the first entry on, and
#: the two modules run in different workers, so each kernel is compiled once and loaded from the disk
#: cache by the other worker (they meet in the middle).
KERNEL_CASES = ([(name, np.float64) for name in ENTRIES] +
                [(name, np.float32) for name in ENTRIES if getattr(TABLE[name], "kind", "") == "elementwise"])[::-1]


@pytest.mark.parametrize("name,dtype", KERNEL_CASES,
                         ids=[f"{n}-{'f64' if d == np.float64 else 'f32'}" for n, d in KERNEL_CASES])
def test_numba_agrees_with_interpreter(name, dtype):
    """Every sample's output and gradients from the kernel against the interpreter.

    The kernel is test_edge_values' program of the entry (its samples, their outputs beside a
    loss): one numba compile serves both modules (seconds each; about 200 entries).
    """
    from test_edge_values import program

    from tracegrad.compiler import backend as backend_module
    prog = program(name, "f64" if dtype == np.float64 else "f32")
    data = prog.data(0)
    outs, grads = prog.run_compiled("numba", 0, data)
    runners = [c._runners["graph"] for paths in prog.compiled("numba")._cache.values() for c in paths]
    assert runners and not any(isinstance(r, backend_module.Interpreted) for r in runners), \
        f"{name} fell back to the interpreter"
    want_outs, want_grads = prog.run_compiled("interpreter", 0, data)
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 1e-5)
    for (_, s), got, want in zip(prog.variants[0], outs, want_outs):
        assert got.dtype == want.dtype, (name, s.note)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name}: {s.note} {s.attrs}")
    for got, want in zip(grads or (), want_grads or ()):
        assert got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name}: gradient")


def _no_fallback(monkeypatch):
    """Make a backend that would hand a graph to the interpreter fail the test instead."""
    from tracegrad.compiler import backend as backend_module

    class Refused(backend_module.Interpreted):
        def __init__(self, graph, reason=""):
            if reason:
                raise AssertionError(f"{graph.name} fell back to the interpreter: {reason}")
            super().__init__(graph, reason)
    monkeypatch.setattr(backend_module, "Interpreted", Refused)


def test_kernel_source_is_readable_and_in_linecache():
    f = tg.grad(lambda x: (tg.tanh(x) * x).sum(), backend="numba")
    x = np.linspace(-1, 1, 7)
    f(x)
    compiled = f._cache[next(iter(f._cache))][0]
    source = compiled.kernel_source()["graph"]
    assert "@njit(cache=True" in source and "def kernel_" in source
    assert "test_backends.py:" in source          # each statement names the user's line
    assert "tanh_f64" in source
    runner = compiled._runners["graph"]
    filename = runner.fn.py_func.__code__.co_filename
    assert "".join(linecache.getlines(filename)) == source


def test_kernel_comments_name_values_as_the_printed_primitive_ir_does():
    """Each kernel statement's ``%N = op`` comment is line ``%N: ... = op`` of the IR it was written from."""
    import re

    import tracegrad.nn.functional as F
    y = tg.zeros(3)
    f = tg.grad(lambda w, b: F.binary_cross_entropy_with_logits(tg.matmul(tg.ones(5), w) + b, y), argnums=(0, 1))
    lowered = f.trace(np.ones((5, 3), np.float32), np.ones(3, np.float32)).lower(tier="kernel")
    ir, source = lowered.as_text("ir"), lowered.as_text()
    cited = re.findall(r"# (%\d+) = (\w+)", source)
    assert len(cited) >= 4
    for name, op in cited:
        assert re.search(rf"^  {name}: \S+ = {op}\b", ir, re.M), (name, op)


def test_a_value_read_several_times_in_one_expression_is_computed_once():
    """``z = a + b`` read by abs, neg and add in one fused loop is one local, not three copies of its text."""
    def h(a, b):
        return ((a + b) + tg.relu(-(a + b)) + tg.abs(a + b)).sum()
    f = tg.jit(h, backend="numba")
    source = f.trace(np.ones(4), np.ones(4)).lower(tier="kernel").as_text()
    assert source.count("in0[i] + in1[i]") == 1
    a, b = np.array([1.0, -2.0, 3.0, -4.0]), np.array([0.5, 0.5, -5.0, 1.0])
    z = a + b
    np.testing.assert_allclose(f(a, b), (z + np.maximum(-z, 0) + np.abs(z)).sum(), rtol=1e-15)


def test_threads_share_one_compile_per_key():
    f = tg.grad(lambda x: (tg.sin(x) * x).sum(), backend="numba")
    shapes = [(3,), (4,), (3,), (5,), (4,), (3,), (5,), (4,)]
    results, errors = [None] * 8, []

    def work(k):
        try:
            x = np.linspace(0.1, 1.0, int(np.prod(shapes[k])))
            for _ in range(5):
                results[k] = (x, f(x))
        except Exception as e:  # surfaced below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for x, g in results:
        np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-12)
    assert f.cache_info().traces == 3  # one per shape


def test_guard_failure_in_a_kernel_retraces():
    def f(x):
        y = x * 2
        while y.data.norm() < 100:
            y = y * 2
        return y.sum()
    def expected(v):
        scale = 2.0
        while np.linalg.norm(np.full(3, v * scale)) < 100:
            scale *= 2
        return np.full(3, scale)
    g = tg.grad(f, backend="numba")
    for v in (1.0, 30.0, 1.0, 10.0):
        np.testing.assert_array_equal(g(np.full(3, v)), expected(v))
    assert g.cache_info().traces == 3


@pytest.mark.parametrize("chunk_lines", [1, 40])
def test_long_kernels_split_into_shared_functions(monkeypatch, chunk_lines):
    """Unrolled loops become many small numba functions, identical steps sharing one; same values."""
    import tracegrad.compiler.codegen as codegen
    monkeypatch.setattr(codegen, "CHUNK_LINES", chunk_lines)
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(6, 4, 3))
    wx, wh, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 5)) * 0.3, rng.normal(size=5)

    def loss(wx, wh, b):
        h = tg.zeros(4, 5, dtype=tg.float64)
        for t in range(6):
            h = tg.tanh(tg.matmul(tg.tensor(xs[t]), wx) + tg.matmul(h, wh) + b)
        return (h * h).sum()
    f = tg.value_and_grad(loss, argnums=(0, 1, 2), backend="numba")
    v_n, g_n = f(wx, wh, b)
    v_i, g_i = tg.value_and_grad(loss, argnums=(0, 1, 2), backend="interpreter")(wx, wh, b)
    np.testing.assert_allclose(v_n, v_i, rtol=1e-12)
    for a, c in zip(g_n, g_i):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    source = f._cache[next(iter(f._cache))][0].kernel_source()["graph"]
    defined = source.count("\ndef kernel_")
    assert defined > 2                              # split into parts
    assert source.count("_f0(") > 2                 # a part reused by several steps


def _five_paths(x):
    m = x.mean()
    y = tg.sin(x) * x
    if m > 3.5:
        return (y * 3).sum()
    if m > 2.5:
        return (tg.cos(x) * y).sum()
    if m > 1.5:
        return (tg.exp(-x * x) * y).sum()
    if m > 0.5:
        return (y * y).sum()
    return (tg.tanh(x) * y).sum()


def _path_inputs(chunk_lines):
    # A length of its own per kernel layout: the in-memory kernel cache does not key on CHUNK_LINES.
    n = 40 if chunk_lines is None else 41
    rng = np.random.default_rng(8)
    return [rng.uniform(-0.4, 0.4, n) + (4 - k) for k in range(5)]  # input k takes path k


def _set_chunk_lines(monkeypatch, chunk_lines):
    if chunk_lines is not None:
        import tracegrad.compiler.codegen as codegen
        monkeypatch.setattr(codegen, "CHUNK_LINES", chunk_lines)


def _eager_grad(f, x):
    t = tg.tensor(x, requires_grad=True)
    f(t).backward()
    return t.grad.numpy()


@pytest.mark.parametrize("chunk_lines", [None, 1])
def test_paths_called_round_robin_match_eager_and_the_interpreter(monkeypatch, chunk_lines):
    """Every call runs the path eager mode takes, whichever paths its kernels rejected before."""
    _set_chunk_lines(monkeypatch, chunk_lines)
    compiled = tg.value_and_grad(_five_paths, backend="numba")
    interpreted = tg.value_and_grad(_five_paths, backend="interpreter")
    xs = _path_inputs(chunk_lines)
    for order in (range(5), reversed(range(5)), [2, 0, 4, 4, 1, 3, 0]):
        for k in order:
            value, grad = compiled(xs[k])
            value_i, grad_i = interpreted(xs[k])
            np.testing.assert_allclose(value, value_i, rtol=1e-13)
            np.testing.assert_allclose(grad, grad_i, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(grad, _eager_grad(_five_paths, xs[k]), rtol=1e-12, atol=1e-13)
    assert compiled.cache_info().traces == 5


@pytest.mark.parametrize("chunk_lines", [None, 1])
def test_a_failed_guard_ends_the_kernel_before_the_work_it_does_not_need(monkeypatch, chunk_lines):
    """The kernel of one path, called on another path's input, reports its guard and writes no output."""
    _set_chunk_lines(monkeypatch, chunk_lines)
    g = tg.grad(_five_paths, backend="numba")
    xs = _path_inputs(chunk_lines)
    g(xs[3])                                  # traces path 3: guards m > 3.5 .. m > 0.5 hold as False, True
    compiled = next(iter(g._cache.values()))[0]
    kernel = compiled._runners["graph"]
    assert (kernel.kernel.source.count("\ndef kernel_") > 1) == (chunk_lines is not None)

    def run(x):
        outs = [np.full(int(np.prod(shape)), np.nan, dtype) for shape, dtype in kernel.out_types]
        status = np.zeros(1, np.int64)
        kernel.fn(x, *kernel.consts, *outs, kernel.extents, status)
        return outs, int(status[0])
    for k, guard in ((0, 1), (1, 2), (2, 3), (4, 4)):
        outs, status = run(xs[k])
        assert status == guard, (k, status)
        assert all(np.isnan(o).all() for o in outs), k
    outs, status = run(xs[3])
    assert status == 0
    np.testing.assert_allclose(outs[-1], _eager_grad(_five_paths, xs[3]), rtol=1e-12, atol=1e-13)


def test_a_bad_index_before_a_branch_raises_as_in_eager_mode():
    """A guard is checked after the indexing that precedes it, so its error is the one reported."""
    def f(x, idx):
        y = x[idx]
        if x.sum() > 0:
            return (y * y).sum()
        return tg.sin(y).sum()
    g = tg.grad(f, backend="numba")
    x, good, bad = np.array([1.0, 2.0, 3.0]), np.array([0, 2]), np.array([0, 5])
    np.testing.assert_allclose(g(x, good), [2.0, 0.0, 6.0])
    np.testing.assert_allclose(g(-x, good), [np.cos(-1.0), 0.0, np.cos(-3.0)])
    for sign in (1.0, -1.0):
        with pytest.raises(IndexError, match="out of bounds") as info:
            g(sign * x, bad)
        with pytest.raises(IndexError) as eager:
            f(tg.tensor(sign * x, requires_grad=True), bad)
        assert str(info.value) == str(eager.value)
    assert g.cache_info().traces == 2
