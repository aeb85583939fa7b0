"""Rolled loops: repeated pieces of a graph run as a loop, with the numbers of the unrolled kernel."""

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import bench
from tracegrad.compiler import cache
from tracegrad.compiler.backend import NumbaKernel
from tracegrad.compiler.codegen import counted_attr, generate
from tracegrad.compiler.fusion import prepare
from tracegrad.compiler.loops import LOOP, roll_loops
from tracegrad.ir.interpret import interpret


def joint_graph(f, params):
    """The primitive-only joint graph (value and gradient) of ``tg.grad(f)`` for these arguments."""
    g = tg.grad(f, argnums=tuple(range(len(params))), backend="interpreter")
    return prepare(g.graphs(*params)["compiled"])


def run_kernel(lowered, arrays, roll):
    ks = generate(lowered, roll=roll)
    kernel = NumbaKernel(lowered, ks, cache.load_kernel(ks.source, ks.entry))
    return ks, kernel(arrays)


def check(f, params, rtol, expect_loop=True, against_unlooped=False):
    """Looped kernel == interpreter (and == unlooped kernel when asked: compiling the unlooped
    kernel is what a test of it costs); the looped source (for further checks)."""
    lowered = joint_graph(f, params)
    looped_ks, looped = run_kernel(lowered, params, roll=True)
    assert ("for it in range(" in looped_ks.source) == expect_loop, looped_ks.source
    reference = interpret(lowered, params)
    for a, c in zip(looped, reference):
        np.testing.assert_allclose(a, c, rtol=50 * rtol, atol=50 * rtol)
    if against_unlooped:
        _, unlooped = run_kernel(lowered, params, roll=False)
        for a, b in zip(looped, unlooped):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    return looped_ks


DTYPES = [(np.float32, 1e-5), (np.float64, 1e-12)]


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_ode_integrator_rolls_forward_and_adjoint(dtype, rtol):
    d = bench.make_data("ode")
    params = [d["u0"].astype(dtype), d["p"].astype(dtype)]
    ks = check(bench.lorenz_function(8, 0.01), params, rtol, against_unlooped=dtype == np.float64)
    assert ks.source.count("for it in range(") == 2  # the steps, and their adjoint
    # The kernel's size depends on the pieces, not on the steps.
    lowered = joint_graph(bench.lorenz_function(40, 0.01), params)
    assert len(generate(lowered).source.splitlines()) == len(ks.source.splitlines())


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_rnn_rolls_with_a_stacked_input_per_step(dtype, rtol):
    rng = np.random.default_rng(1)
    xs = tg.from_numpy(rng.normal(size=(12, 2, 3)).astype(dtype))

    def loss(wx, wh, b):
        h = tg.zeros(2, 4, dtype=xs.dtype)
        for t in range(12):
            h = tg.tanh(tg.matmul(xs[t], wx) + tg.matmul(h, wh) + b)
        return (h * h).sum()
    params = [rng.normal(size=s).astype(dtype) * 0.5 for s in ((3, 4), (4, 4), (4,))]
    check(loss, params, rtol, against_unlooped=dtype == np.float32)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_loop_invariant_vector_input(dtype, rtol):
    def loss(v, w, u):
        for _ in range(12):
            v = tg.tanh(v * w) + u
        return (v * v).sum()
    rng = np.random.default_rng(2)
    check(loss, [rng.normal(size=5).astype(dtype) for _ in range(3)], rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_per_step_indexed_argument(dtype, rtol):
    """``xs[t]`` of a differentiated argument: the index advances with the loop, in the adjoint too."""
    def loss(xs, w):
        h = xs[0] * 0.0
        for t in range(12):
            h = tg.sin(h * w) + xs[t]
        return (h * h).sum()
    rng = np.random.default_rng(3)
    ks = check(loss, [rng.normal(size=(12, 3)).astype(dtype), rng.normal(size=3).astype(dtype)], rtol)
    assert "(1 + 1 * it)" in ks.source or "(0 + 1 * it)" in ks.source


@pytest.mark.parametrize("dtype,rtol", DTYPES)
def test_two_steps_back_rolls_two_steps_a_piece(dtype, rtol):
    def loss(a, b, w):
        for _ in range(16):
            a, b = b, a * 0.5 + b * w
        return b * b
    check(loss, [np.array(0.3, dtype), np.array(0.7, dtype), np.array(0.9, dtype)], rtol)


def test_scalars_computed_before_the_loop_are_read_per_step():
    def loss(x, w):
        ys = [tg.sin(x[i]) * w for i in range(12)]
        h = x[0]
        for y in ys:
            h = h * 0.9 + tg.exp(-y * h)
        return h
    rng = np.random.default_rng(4)
    check(loss, [rng.normal(size=12), np.array(0.8)], 1e-12)


def test_pieces_that_differ_are_not_rolled():
    ops = [tg.sin, tg.cos, tg.tanh, tg.exp, tg.sigmoid, tg.abs, tg.neg, tg.sqrt, tg.log1p, tg.expm1]

    def loss(x):
        for f in ops:
            x = f(x) * 0.5 + 0.1
        return x.sum()
    check(loss, [np.linspace(0.1, 0.9, 4)], 1e-12, expect_loop=False)


def test_rolled_graph_keeps_the_original():
    d = bench.make_data("ode")
    lowered = joint_graph(bench.lorenz_function(8, 0.01), [d["u0"], d["p"]])
    before = [(n.op, [v.id for v in n.inputs]) for n in lowered.nodes]
    rolled = roll_loops(lowered, counted_attr)
    assert [n.op for n in rolled.nodes].count(LOOP) == 2
    assert len(rolled.nodes) < len(lowered.nodes) // 2
    assert [(n.op, [v.id for v in n.inputs]) for n in lowered.nodes] == before


def test_kernel_tier_runs_the_loop():
    d = bench.make_data("ode")
    f = bench.lorenz_function(40, 0.01)
    fast = tg.grad(f, argnums=(0, 1), tier="kernel")
    slow = tg.grad(f, argnums=(0, 1), backend="interpreter")
    for a, b in zip(fast(d["u0"], d["p"]), slow(d["u0"], d["p"])):
        np.testing.assert_allclose(a, b, rtol=1e-4)
    assert fast.cache_info().tiers == ("kernel",)


def test_unrolled_kernels_grow_linearly_with_a_recurrence():
    # A value read more than once is computed once: before, fusion copied it into every reader and
    # the kernel of an Euler step differentiated through 4 steps had lines of 15,000 characters.
    def euler(steps):
        def f(x):
            a, b = x[0], x[1]
            for _ in range(steps):
                a, b = a + 0.1 * (b - a * a), b + 0.1 * (tg.sin(a) * b - b)
            return a * a + b * b
        return f
    x = np.array([0.3, 0.7])
    sizes = {}
    for steps in (4, 8, 16):
        source = generate(joint_graph(euler(steps), [x]), roll=False).source
        sizes[steps] = len(source.splitlines())
        assert max(len(line) for line in source.splitlines()) < 1000
    assert sizes[16] - sizes[8] <= 2.2 * (sizes[8] - sizes[4]), sizes
