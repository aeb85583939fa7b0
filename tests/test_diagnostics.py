"""Diagnostics of compiled functions: the self-check, anomaly mode, NaN-safe ``where``, the trace cache bound.

The self-check is exercised by injecting faults where each kind of bug
would sit: a wrong kernel template (the kernel disagrees with the
interpreter), a broken optimisation pass (the graph disagrees with eager
after optimising), and state the trace cannot see (random numbers).
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracegrad as tg
from tracegrad._check import SelfCheckError
from tracegrad.compiler import pipeline
from tracegrad.ir.graph import Node
from tracegrad.ir.ops import TABLE

BACKENDS = ["numba", "interpreter"]


def _line_of(fun, text: str) -> int:
    """The line number of the first line of `fun`'s source containing `text`."""
    lines, start = inspect.getsourcelines(fun)
    return start + next(i for i, line in enumerate(lines) if text in line)


# --------------------------------------------------------------------------
# Self-check (check=True / TRACEGRAD_CHECK=1)
# --------------------------------------------------------------------------

def model(w, x):
    h = tg.sin(x * w)
    return (h * h).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_check_passes_on_correct_functions(backend):
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(13, 17)), rng.normal(size=(13, 17))
    for mode in (tg.grad, tg.value_and_grad):
        f = mode(model, argnums=(0, 1), check=True, backend=backend)
        f(w, x)
        f(w.astype(np.float32), x.astype(np.float32))
    tg.jit(model, check=True, backend=backend)(w, x)


def test_check_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CHECK", "1")
    assert tg.grad(model).check is True
    monkeypatch.setenv("TRACEGRAD_CHECK", "0")
    assert tg.grad(model).check is False
    assert tg.grad(model, check=True).check is True


def test_self_check_names_the_ir_value_a_wrong_kernel_computes(monkeypatch, tmp_path):
    # A kernel template computing cos for sin: the kernel parts from the interpreter at the sin node.
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(TABLE, "sin", dataclasses.replace(TABLE["sin"], kernel="cos({0})"))
    tg.clear_cache()
    try:
        rng = np.random.default_rng(1)
        w, x = rng.normal(size=(13, 17)), rng.normal(size=(13, 17))
        with pytest.raises(SelfCheckError) as info:
            tg.grad(model, check=True, backend="numba")(w, x)
    finally:
        tg.clear_cache()  # the faulty kernel must not outlive the test
    message = str(info.value)
    line = _line_of(model, "tg.sin")
    assert message.startswith("grad of 'model': the compiled result differs from the eager tape (check=True)")
    assert "gradient of argument 'w': at index [" in message
    assert "the compiled kernel differs from the reference interpreter at\n" in message
    assert "= sin " in message and f"(test_diagnostics.py:{line}):" in message
    # The unchecked function runs the faulty kernel without complaint: the check is what caught it.


def test_self_check_blames_an_optimisation_pass(monkeypatch):
    real = pipeline.optimize

    def broken(graph, verify=None):
        graph = real(graph, verify)
        for k, node in enumerate(graph.nodes):
            if node.op == "mul" and node.grad_of is not None:  # the first adjoint multiply becomes an add
                graph.nodes[k] = Node("add", node.inputs, node.attrs, node.outputs, node.loc, node.grad_of)
                for v in node.outputs:
                    v.node = graph.nodes[k]
                break
        return graph
    monkeypatch.setattr(pipeline, "optimize", broken)  # the optimiser the derive stage runs
    x = np.linspace(0.1, 1.0, 6)
    with pytest.raises(SelfCheckError, match="an optimisation pass changed it"):
        tg.grad(lambda x: (tg.exp(x) * tg.sin(x)).sum(), check=True, backend="interpreter")(x)


@pytest.mark.filterwarnings("ignore:tracegrad. tg.rand.. at")
def test_self_check_reports_state_the_trace_cannot_see():
    calls = [0]

    def counting(x):
        calls[0] += 1  # Python state: a constant of the trace, another number in the eager run
        return (x * float(calls[0])).sum()
    with pytest.raises(SelfCheckError, match="the traced graph differs from running the function eagerly"):
        tg.value_and_grad(counting, check=True, backend="interpreter")(np.ones(4))


def test_self_check_leaves_no_gradients_on_closed_over_parameters():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    g = tg.grad(lambda x: (x * w).sum(), check=True, backend="interpreter")(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(g, [1.0, 2.0])
    assert w.grad is None


# --------------------------------------------------------------------------
# Anomaly mode for compiled functions
# --------------------------------------------------------------------------

def root_loss(x, y):
    r = tg.sqrt(x)
    return (r * y).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_anomaly_names_the_forward_op_producing_nan(backend):
    f = tg.grad(root_loss, backend=backend)
    x, y = np.array([4.0, -1.0, 9.0]), np.ones(3)
    np.testing.assert_array_equal(np.isnan(f(x, y)), [False, True, False])  # outside anomaly mode: NaN
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        f(x, y)
    line = _line_of(root_loss, "tg.sqrt")
    message = str(info.value)
    assert message.startswith("Function 'sqrt' returned nan values in its output (its grad_fn would be "
                              f"SqrtBackward0) at test_diagnostics.py:{line}: r = tg.sqrt(x)")
    assert "[compiled: %" in message and "= sqrt %x" in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_anomaly_names_the_backward_function_producing_nan(backend):
    # sqrt(0) = 0 is fine forward; its gradient times a zero weight is 0 * inf = NaN.
    f = tg.grad(root_loss, backend=backend)
    x, y = np.array([4.0, 0.0]), np.array([1.0, 0.0])
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        f(x, y)
    line = _line_of(root_loss, "tg.sqrt")
    message = str(info.value)
    assert message.startswith(f"Function 'SqrtBackward0' returned nan values.\nThe forward call was at "
                              f"test_diagnostics.py:{line}: r = tg.sqrt(x)\n[compiled: %")


@pytest.mark.parametrize("backend", BACKENDS)
def test_anomaly_mode_gives_the_same_results_when_nothing_is_nan(backend):
    f = tg.value_and_grad(root_loss, argnums=(0, 1), backend=backend)
    x, y = np.array([4.0, 1.0]), np.array([1.0, 3.0])
    expected = f(x, y)
    with tg.autograd.detect_anomaly():
        got = f(x, y)
        got_again = f(x, y)
    for value in (got, got_again):
        np.testing.assert_allclose(value[0], expected[0])
        for a, b in zip(value[1], expected[1]):
            np.testing.assert_allclose(a, b)
    assert not tg.autograd.is_anomaly_enabled()


def test_anomaly_checks_the_adjoint_of_jit_on_the_tape():
    step = tg.jit(root_loss, backend="interpreter")
    x = tg.tensor([4.0, 0.0], requires_grad=True)
    loss = step(x, tg.tensor([1.0, 0.0]))
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan"):
        loss.backward()


def test_set_detect_anomaly_and_check_nan_false():
    f = tg.grad(root_loss, backend="interpreter")
    with tg.autograd.set_detect_anomaly(True, check_nan=False):
        assert tg.autograd.is_anomaly_enabled()
        assert np.isnan(f(np.array([-1.0]), np.ones(1))).all()
    assert not tg.autograd.is_anomaly_enabled()


# --------------------------------------------------------------------------
# where: zero cotangents stay zero
# --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_of_where_is_zero_in_the_branch_not_taken(backend):
    x = np.array([-2.0, -0.5, 0.0, 0.25, 4.0])
    f = tg.grad(lambda x: tg.where(x > 0, tg.sqrt(x), 0.0).sum(), backend=backend)
    np.testing.assert_array_equal(f(x), [0.0, 0.0, 0.0, 1.0, 0.25])
    # Through a chain of elementwise ops, in the other branch, and with a broadcast condition.
    g = tg.grad(lambda x: tg.where(x <= 0, 1.0, tg.log(tg.sqrt(x)) * 3.0).sum(), backend=backend)
    np.testing.assert_allclose(g(x), [0.0, 0.0, 0.0, 6.0, 0.375])
    m = np.array([[True], [False]])
    h = tg.grad(lambda x: tg.where(tg.tensor(m), tg.log(x), 0.0).sum(), backend=backend)
    np.testing.assert_array_equal(h(np.array([[-1.0, 2.0], [0.0, 2.0]])), [[-1.0, 0.5], [0.0, 0.0]])


def test_where_masking_does_not_hide_nans_of_the_taken_branch():
    f = tg.grad(lambda x: tg.where(x > -5, tg.sqrt(x), 0.0).sum(), backend="interpreter")
    assert np.isnan(f(np.array([-1.0]))).all()


# --------------------------------------------------------------------------
# The per-function trace cache is bounded
# --------------------------------------------------------------------------

def test_trace_cache_keeps_at_most_max_keys_signatures(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_TRACE_CACHE_SIZE", "3")
    f = tg.grad(lambda x: (x * x).sum(), backend="interpreter")
    assert f.max_keys == 3
    for n in range(1, 8):
        np.testing.assert_array_equal(f(np.ones(n)), 2 * np.ones(n))
    assert len(f._cache) == 3 and f.cache_info().traces == 3
    # The most recently used survive; an evicted signature is traced again and still right.
    f(np.ones(5))
    misses = f.cache_info().misses
    f(np.ones(1))
    assert f.cache_info().misses == misses + 1
    np.testing.assert_array_equal(f(np.ones(1)), [2.0])
    assert len(f._cache) == 3


def test_trace_cache_size_must_be_an_integer(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_TRACE_CACHE_SIZE", "lots")
    with pytest.raises(ValueError, match="TRACEGRAD_TRACE_CACHE_SIZE must be an integer, got 'lots'"):
        tg.grad(lambda x: x.sum())


# --------------------------------------------------------------------------
# Anomaly mode in eager mode
# --------------------------------------------------------------------------

def eager_model(x, y):
    r = x.sqrt()
    return (r * y).sum()


def test_eager_anomaly_names_the_forward_op_and_line():
    x = tg.tensor([4.0, -1.0], requires_grad=True)
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError) as info:
        eager_model(x, tg.ones(2))
    line = _line_of(eager_model, "x.sqrt()")
    assert str(info.value) == ("Function 'sqrt' returned nan values in its output (its grad_fn would be "
                               f"SqrtBackward0) at test_diagnostics.py:{line}: r = x.sqrt()")


def test_eager_anomaly_names_the_backward_function_and_its_forward_line():
    x = tg.tensor([4.0, 0.0], requires_grad=True)
    with tg.autograd.detect_anomaly():
        loss = eager_model(x, tg.tensor([1.0, 0.0]))
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    line = _line_of(eager_model, "x.sqrt()")
    assert str(info.value) == ("Function 'SqrtBackward0' returned nan values in its 0th output.\n"
                               f"The forward call was at test_diagnostics.py:{line}: r = x.sqrt()")


def test_eager_anomaly_is_off_by_default_and_nan_flows():
    x = tg.tensor([-1.0], requires_grad=True)
    y = x.sqrt()
    y.sum().backward()
    assert np.isnan(y.item()) and np.isnan(x.grad.item())


def test_self_check_accepts_the_masked_where_gradient():
    f = tg.grad(lambda x: tg.where(x > 0, tg.sqrt(x), 0.0).sum(), check=True, backend="interpreter")
    np.testing.assert_array_equal(f(np.array([-1.0, 4.0])), [0.0, 0.25])
    x = tg.tensor([-1.0, 4.0], requires_grad=True)
    tg.where(x > 0, x.sqrt(), 0.0).sum().backward()
    assert np.isnan(x.grad[0].item())  # eager follows PyTorch


def test_eager_nan_and_inf_are_silent_like_pytorch():
    # In a fresh interpreter: pytest discards warning filters installed while it imports modules.
    program = textwrap.dedent("""
        import numpy as np, tracegrad as tg
        x = tg.tensor([np.inf, 1.0, 0.0], requires_grad=True)
        y = (x * 0.0 + x.log() + tg.tensor([1e308, 1.0, 1.0], dtype=tg.float64) * 10.0).sum()
        y.backward()
        print(y.item(), x.grad.tolist())
        np.array([np.inf]) * 0.0      # the user's own numpy still warns
    """)
    run = subprocess.run([sys.executable, "-W", "default", "-c", program], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "nan [0.0, 1.0, inf]"
    warned = [line for line in run.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 1 and warned[0].startswith("<string>:7: RuntimeWarning: invalid value"), run.stderr
