"""Code generation and numerics of compiled mode: deep graphs, accumulation, IEEE results, edge values.

Each test compares compiled functions with eager mode, numpy or a closed form.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.compiler import backend, codegen


def _eager_value_and_grad(f, x):
    xt = tg.tensor(x, requires_grad=True)
    y = f(xt)
    y.backward()
    return y.item(), xt.grad.numpy()


# ------------------------------------------------------------------ deep graphs

def _sine_chain(x):
    for _ in range(100):
        x = tg.sin(x) * 1.0001 + 0.001
    return x.sum()


def _horner_degree_100(x):
    y = x * 0.0 + 1.0
    for k in range(100):
        y = y * x + ((k % 7) * 0.1 - 0.3)
    return y.sum()


def test_hundred_step_elementwise_chain_compiles_and_matches_eager():
    # About 500 single-use nodes: one fused expression once nested beyond Python's parser limit.
    x = np.linspace(0.1, 1.0, 5)
    value, grad = tg.value_and_grad(_sine_chain)(x)
    expected_value, expected_grad = _eager_value_and_grad(_sine_chain, x)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10)


def test_degree_100_horner_compiles_and_matches_eager():
    x = np.linspace(-1.0, 1.0, 7)
    expected_value, expected_grad = _eager_value_and_grad(_horner_degree_100, x)
    np.testing.assert_allclose(tg.jit(_horner_degree_100)(x), expected_value, rtol=1e-12)
    np.testing.assert_allclose(tg.grad(_horner_degree_100)(x), expected_grad, rtol=1e-10, atol=1e-12)


def test_deep_expression_is_cut_into_locals():
    from tracegrad.compiler.codegen import MAX_EXPR_DEPTH, generate
    from tracegrad.compiler.fusion import prepare
    from tracegrad.ir.graph import Graph, GraphBuilder
    from tracegrad.ir.types import TensorType

    graph = Graph(name="deep")
    b = GraphBuilder(graph)
    x = b.input(TensorType(np.dtype(np.float64), (4,)))
    y = x
    for _ in range(1500):  # deeper than Python's recursion limit
        y = b.add(b.mul(y, 0.5), 0.25)
    graph.outputs = [y]
    source = generate(prepare(graph)).source
    compile(source, "<deep kernel>", "exec")  # no SyntaxError: too many nested parentheses
    deepest = max(line.count("(") for line in source.splitlines())
    assert deepest <= 3 * MAX_EXPR_DEPTH + 10


def test_lowering_failure_falls_back_to_the_interpreter_with_a_logged_reason(monkeypatch, caplog):
    def broken_generate(graph):
        raise SyntaxError("too many nested parentheses")
    monkeypatch.setattr(codegen, "generate", broken_generate)

    def f(x):
        # A constant no other test uses: a kernel cached in memory for the same graph would be reused.
        return (tg.tanh(x) * x * 1.4142135).sum()
    x = np.array([0.5, -1.5, 2.0, 0.25, 3.0, -0.75, 1.25])
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        value, grad = tg.value_and_grad(f, tier="kernel")(x)
    expected_value, expected_grad = _eager_value_and_grad(f, x)
    np.testing.assert_allclose(value, expected_value, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14)
    reasons = [r.getMessage() for r in caplog.records if "runs on the interpreter" in r.getMessage()]
    assert len(reasons) == 1
    assert "SyntaxError: too many nested parentheses" in reasons[0]


def test_numba_failure_falls_back_to_the_interpreter(monkeypatch, caplog):
    def broken_load(source, entry, **kwargs):
        raise RuntimeError("numba rejected the kernel\nsecond line")
    monkeypatch.setattr(backend.cache, "load_kernel", broken_load)
    f = tg.jit(lambda x: tg.exp(x).sum() * 3.1622776, tier="kernel")  # a graph no other test compiles
    x = np.array([0.5, -1.5, 2.0, 0.25, 3.0, -0.75, 1.25, 9.0, 0.125])
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        np.testing.assert_allclose(f(x), np.exp(x).sum() * 3.1622776, rtol=1e-14)
    reasons = [r.getMessage() for r in caplog.records if "runs on the interpreter" in r.getMessage()]
    assert len(reasons) == 1 and "RuntimeError: numba rejected the kernel" in reasons[0]
    assert "second line" not in reasons[0]


# ------------------------------------------------------------ accumulation

def _sum_of_copies(n, dtype):
    return np.full(n, 0.1, dtype=dtype)


def _relative_error(value, exact):
    return abs(float(value) - exact) / abs(exact)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_sums_are_as_accurate_as_numpy(dtype):
    # One running float32 accumulator gave 998501.4 for 1e7 copies of 0.1 (relative error 1.5e-3).
    x = _sum_of_copies(10**6, dtype)
    element = float(dtype(0.1))
    exact_sum = element * x.size
    bound = 8 * max(_relative_error(x.sum(), exact_sum), np.finfo(dtype).eps)
    assert _relative_error(tg.jit(lambda x: x.sum())(x), exact_sum) <= bound
    assert _relative_error(tg.jit(lambda x: x.mean())(x), element) <= bound
    # A reduction fused with elementwise work, and one per row (a suffix of the axes).
    fused = tg.jit(lambda x: (x * 2.0 + 1.0).sum())(x)
    assert _relative_error(fused, float(dtype(2.0) * dtype(0.1) + dtype(1.0)) * x.size) <= bound
    rows = tg.jit(lambda x: x.sum(dim=1))(x.reshape(4, -1))
    for row in rows:
        assert _relative_error(row, exact_sum / 4) <= bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_and_grad_of_a_long_mean_is_accurate(dtype):
    x = _sum_of_copies(10**6, dtype)
    value, grad = tg.value_and_grad(lambda x: (x * x).mean())(x)
    element = float(dtype(0.1) * dtype(0.1))
    assert _relative_error(value, element) <= 8 * max(_relative_error((x * x).mean(), element), np.finfo(dtype).eps)
    np.testing.assert_allclose(grad, 2 * x / x.size, rtol=4 * np.finfo(dtype).eps)


def test_blocked_sums_keep_nan_inf_and_empty():
    f = tg.jit(lambda x: x.sum())
    assert f(np.array([1.0, np.inf, 2.0])) == np.inf
    assert np.isnan(f(np.array([1.0, np.nan])))
    assert np.isnan(f(np.array([np.inf, -np.inf])))
    assert f(np.zeros(0)) == 0.0
    # Lengths around the block size, with values that do not cancel; rows short and long.
    rows = tg.jit(lambda x: x.sum(dim=-1))
    for n in (511, 512, 513, 1537):
        x = np.arange(n, dtype=np.float64) % 7 - 2.5
        assert f(x) == pytest.approx(np.sum(x), rel=1e-15, abs=1e-12)
        x3 = np.stack([x, 2 * x, -x]).reshape(3, 1, n)
        np.testing.assert_allclose(rows(x3), x3.sum(-1), rtol=1e-15, atol=1e-12)
    short = np.random.default_rng(5).standard_normal((50, 8))
    np.testing.assert_allclose(rows(short), short.sum(-1), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_of_every_length_match_the_interpreter_and_numpy(dtype):
    # Rows shorter than SHORT_RUN add in order, rows up to a block go through one block, longer
    # rows through compensated blocks; a fused expression and its gradient take the same paths.
    from tracegrad.compiler.codegen import SHORT_RUN
    from tracegrad.compiler.runtime import SUM_BLOCK

    def f(x):
        return (x * x + 1.0).sum(dim=-1)
    compiled, interpreted = tg.jit(f, backend="numba"), tg.jit(f, backend="interpreter")
    grad = tg.grad(lambda x: (tg.sin(x).sum(dim=-1) ** 2).sum(), backend="numba")
    rng = np.random.default_rng(12)
    eps = np.finfo(dtype).eps
    for n in (1, SHORT_RUN - 1, SHORT_RUN, SHORT_RUN + 1, 100, SUM_BLOCK, SUM_BLOCK + 1):
        x = rng.standard_normal((3, 2, n)).astype(dtype)
        exact = (x.astype(np.float64) ** 2 + 1.0).sum(-1)
        got = compiled(x)
        assert got.dtype == dtype and got.shape == (3, 2)
        np.testing.assert_allclose(got, interpreted(x), rtol=8 * eps * np.sqrt(n))
        np.testing.assert_allclose(got, exact, rtol=8 * eps * np.sqrt(n))
        xd = x.astype(np.float64)
        want = 2 * np.sin(xd).sum(-1, keepdims=True) * np.cos(xd)
        np.testing.assert_allclose(grad(x), want, rtol=16 * eps * np.sqrt(n), atol=16 * eps * np.sqrt(n))
    # Rows of 500 float32 that nearly cancel: a running float32 sum erred 5x as much as numpy's.
    x = rng.standard_normal((64, 500)).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    exact = x.astype(np.float64).sum(1)
    scale = np.abs(x.astype(np.float64)).sum(1)

    def error(rows):
        return np.max(np.abs(rows - exact) / scale)
    assert error(tg.jit(lambda x: x.sum(dim=1))(x)) <= max(2 * error(x.sum(1)), 0.2 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sum_and_gradient_loop_matches_eager_and_the_interpreter(dtype):
    # The joint kernel of this gradient fills the sum's block and stores the gradient in one loop
    # with sin and cos of the same element; its stores come after the loop body's loads.
    def f(x):
        return (tg.sin(x) * x).sum()
    compiled = tg.value_and_grad(f, backend="numba")
    interpreted = tg.value_and_grad(f, backend="interpreter")
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    rng = np.random.default_rng(11)
    for n in (1, 7, 511, 512, 513, 1537):
        x = rng.uniform(-4.0, 4.0, n).astype(dtype)
        value, grad = compiled(x)
        value_i, grad_i = interpreted(x)
        value_e, grad_e = _eager_value_and_grad(f, x)
        exact = np.sin(x.astype(np.float64)) * x
        assert value == pytest.approx(np.sum(exact), rel=rtol, abs=rtol * np.sum(np.abs(exact)))
        assert value == pytest.approx(value_i, rel=rtol, abs=rtol * np.sum(np.abs(exact)))
        assert value == pytest.approx(value_e, rel=rtol, abs=rtol * np.sum(np.abs(exact)))
        np.testing.assert_allclose(grad, grad_i, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad, grad_e, rtol=rtol, atol=rtol)
    source = compiled._cache[next(iter(compiled._cache))][0].kernel_source()["graph"]
    body = source[source.index("for i in range(ib, ie):"):].splitlines()[1:]
    body = body[:next(k for k, line in enumerate(body) if "add_compensated" in line)]
    stores = [k for k, line in enumerate(body) if re.match(r"\s*\w+\[[^\]]*\] = ", line)]
    assert len(stores) == 2 and stores == list(range(len(body) - 2, len(body))), body


# -------------------------------------------------------- IEEE arithmetic

_C = 1.5 * 2.0**52


def _two_sum_error(a, b):
    s = a + b
    b_virtual = s - a
    return (a - (s - b_virtual)) + (b - b_virtual)


@pytest.mark.parametrize("case", ["add_sub_constant", "two_sum", "three_tenths", "signed_zero"])
def test_kernels_keep_ieee_results(case):
    if case == "add_sub_constant":
        f, args = (lambda x: x + _C - _C), (np.array([0.7, 1.3, -2.4, 0.5]),)
    elif case == "two_sum":
        f, args = _two_sum_error, (np.array([1.0, 1e16, 0.1]), np.array([1e-17, 1.0, 0.2]))
    elif case == "three_tenths":
        f, args = (lambda a, b: a / b + a / 10.0), (np.array([3.0]), np.array([10.0]))
    else:
        f, args = (lambda x, y: (x + y, x + 0.0, 0.0 + x)), (np.array([-0.0, 0.0]), np.array([0.0, -0.0]))
    expected = f(*args)
    got = tg.jit(f)(*args)
    if not isinstance(got, tuple):
        got, expected = (got,), (expected,)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(e))


def test_fast_math_is_opt_in_and_part_of_the_kernel_source():
    from tracegrad.compiler import runtime
    from tracegrad.compiler.codegen import generate
    from tracegrad.compiler.fusion import prepare
    from tracegrad.ir.graph import Graph, GraphBuilder
    from tracegrad.ir.types import TensorType

    assert runtime.FASTMATH == frozenset()  # the suite runs without TRACEGRAD_FASTMATH
    graph = Graph(name="flags")
    b = GraphBuilder(graph)
    x = b.input(TensorType(np.dtype(np.float64), (3,)))
    graph.outputs = [b.add(x, 1.0)]
    assert "fastmath=False" in generate(prepare(graph)).source  # so the kernel cache key sees the flags


# ------------------------------------------------- where's NaN-safe gradient

def _weights():
    return tg.tensor(np.array([[1.0, 2.0]]))


#: where(x > 0, sqrt(x) passed through one non-elementwise op, 0).sum(), and how many times each
#: sqrt(x) entry reaches the sum (the gradient at x > 0 is that many times sqrt's).
_WHERE_AFTER = {
    "slice": (lambda x: tg.where(x > 0, tg.sqrt(x)[:], 0.0).sum(), 1.0),
    "reshape": (lambda x: tg.where((x > 0).reshape(3, 1), tg.sqrt(x).reshape(3, 1), 0.0).sum(), 1.0),
    "expand": (lambda x: tg.where(x > 0, tg.sqrt(x).expand(2, 3), 0.0).sum(), 2.0),
    "matmul": (lambda x: tg.where((x > 0).reshape(3, 1), tg.sqrt(x).reshape(3, 1) @ _weights(), 0.0).sum(), 3.0),
    "cat": (lambda x: tg.where(tg.cat([x > 0, x > 0]), tg.cat([tg.sqrt(x), tg.sqrt(x)]), 0.0).sum(), 2.0),
    "stack": (lambda x: tg.where(x > 0, tg.stack([tg.sqrt(x), tg.sqrt(x)]), 0.0).sum(), 2.0),
    "clamp": (lambda x: tg.where(x > 0, tg.sqrt(x).clamp(0.0, 10.0), 0.0).sum(), 1.0),
}


@pytest.mark.parametrize("op", sorted(_WHERE_AFTER))
def test_where_gradient_stays_zero_through_non_elementwise_ops(op):
    f, reach = _WHERE_AFTER[op]
    x = np.array([-1.0, 0.0, 4.0])
    first = tg.grad(f, backend="interpreter")(x)
    np.testing.assert_array_equal(first, [0.0, 0.0, reach * 0.5 / np.sqrt(4.0)])
    second = tg.grad(lambda x: tg.grad(f, backend="interpreter")(x).sum(), backend="interpreter")(x)
    np.testing.assert_array_equal(second, [0.0, 0.0, reach * -0.25 * 4.0**-1.5])


@pytest.mark.parametrize("op", ["slice", "matmul"])
def test_where_gradient_through_non_elementwise_ops_in_kernels(op):
    f, reach = _WHERE_AFTER[op]
    x = np.array([-1.0, 0.0, 4.0])
    np.testing.assert_array_equal(tg.grad(f)(x), [0.0, 0.0, reach * 0.25])


def test_where_mask_through_matmul_keeps_entries_whose_weights_cancel():
    # sqrt(x0) reaches both taken outputs with weights 1 and -1: carrying the 0/1 mask with signed
    # weights would give it 0 reach and zero its true gradient (1 - 3) * 0.25.
    w = tg.tensor(np.array([[1.0, -1.0]]))
    scale = tg.tensor(np.array([[1.0, 3.0]]))

    def f(x):
        y = tg.sqrt(x).reshape(2, 1) @ w
        return (tg.where(tg.tensor(np.array([[True, True], [False, False]])), y, 0.0) * scale).sum()
    x = np.array([4.0, 9.0])
    np.testing.assert_allclose(tg.grad(f, backend="interpreter")(x), _eager_grad(f, x), rtol=1e-14)
    np.testing.assert_allclose(tg.grad(f, backend="interpreter")(x), [-0.5, 0.0], rtol=1e-14)


def _eager_grad(f, x):
    return _eager_value_and_grad(f, x)[1]


# ------------------------------------------------------------- edge values

_EDGES = np.array([-np.inf, -1.0, -0.0, 0.0, 4.0, np.inf])


def _all_modes(f, x):
    """(name, value, gradient of value.sum()) in eager mode, on the interpreter and in kernels."""
    xt = tg.tensor(x, requires_grad=True)
    y = f(xt)
    y.sum().backward()
    yield "eager", y.detach().numpy(), xt.grad.numpy()
    for backend_name in ("interpreter", "numba"):
        yield (backend_name, tg.jit(f, backend=backend_name)(x),
               tg.grad(lambda x: f(x).sum(), backend=backend_name)(x))


def test_rsqrt_edge_values_agree_in_every_mode():
    # PyTorch's rsqrt is NaN below 0, -inf included (x ** -0.5 is 0 there); its derivative -x**-1.5 / 2.
    with np.errstate(all="ignore"):
        expected = 1.0 / np.sqrt(_EDGES)
        expected_grad = -0.5 * expected**3
    for mode, value, grad in _all_modes(tg.rsqrt, _EDGES):
        np.testing.assert_array_equal(value, expected, err_msg=mode)
        np.testing.assert_array_equal(grad, expected_grad, err_msg=mode)


def test_power_edge_values_agree_in_every_mode():
    # x ** 0.5 is sqrt(x) (numpy with a scalar exponent, PyTorch): NaN at -inf, as in 1.5 * x ** 0.5.
    with np.errstate(all="ignore"):
        expected = np.power(_EDGES, 1.5)
        expected_grad = 1.5 * np.sqrt(_EDGES)
    for mode, value, grad in _all_modes(lambda x: x**1.5, _EDGES):
        np.testing.assert_array_equal(value, expected, err_msg=mode)
        np.testing.assert_array_equal(grad, expected_grad, err_msg=mode)
    with np.errstate(all="ignore"):
        roots = np.sqrt(_EDGES)
    for mode, value, _ in _all_modes(lambda x: x**0.5, _EDGES):
        np.testing.assert_array_equal(value, roots, err_msg=mode)
        np.testing.assert_array_equal(np.signbit(value), np.signbit(roots), err_msg=mode)


# ------------------------------------------------------------ input dtypes

def _tanh_times_x(x):
    return (tg.tanh(x) * x).sum()


def test_float16_arguments_run_like_eager_mode(caplog):
    x = np.array([0.5, -1.0, 2.0, 0.125, -3.0], dtype=np.float16)
    expected_value, expected_grad = _eager_value_and_grad(_tanh_times_x, x)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        value = tg.jit(_tanh_times_x)(x)
        grad = tg.grad(_tanh_times_x)(x)
    assert value.dtype == np.float16 and grad.dtype == np.float16
    np.testing.assert_array_equal(value, expected_value)
    np.testing.assert_array_equal(grad, expected_grad)
    reasons = [r.getMessage() for r in caplog.records if "runs on the interpreter" in r.getMessage()]
    assert reasons and all("dtype float16" in r and "shape [5]" in r for r in reasons)


@pytest.mark.parametrize("dtype", [">f8", ">f4"])
def test_big_endian_arguments_are_read_in_native_order(dtype):
    native = np.array([0.5, -1.0, 2.0, 0.125, -3.0, 1.5], dtype=np.dtype(dtype).newbyteorder("="))
    x = native.astype(dtype)
    expected_value, expected_grad = _eager_value_and_grad(_tanh_times_x, native)
    value, grad = tg.jit(_tanh_times_x)(x), tg.grad(_tanh_times_x)(x)
    assert grad.dtype == native.dtype
    np.testing.assert_allclose(value, expected_value, rtol=4 * np.finfo(native.dtype).eps)
    np.testing.assert_allclose(grad, expected_grad, rtol=4 * np.finfo(native.dtype).eps)


@pytest.mark.parametrize("shapes", [((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3, 4)), ((3,), (3,))])
def test_where_mask_through_matmul_shapes_keeps_reached_gradients(shapes):
    rng = np.random.default_rng(3)
    a0, b0 = rng.uniform(0.5, 2.0, shapes[0]), rng.uniform(-1.0, 1.0, shapes[1])
    out_shape = np.matmul(a0, b0).shape
    keep = rng.uniform(size=out_shape) < 0.6

    def f(a, b):
        return (tg.where(tg.tensor(keep), tg.sqrt(a) @ tg.tanh(b), 0.0) * 1.5).sum()
    at, bt = tg.tensor(a0, requires_grad=True), tg.tensor(b0, requires_grad=True)
    f(at, bt).backward()
    ga, gb = tg.grad(f, argnums=(0, 1), backend="interpreter")(a0, b0)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-13, atol=1e-15)
