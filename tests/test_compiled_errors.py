"""Bad input to compiled functions: each case checks the exact message, or that a guard makes it right.

Errors raised while tracing carry PyTorch's text plus the line eager mode
adds (op, input shapes, the user's ``file.py:LINE``); errors only the
compiled code can see (an index out of bounds on a later call) read the
same.  Python reads of traced values -- as a list index, a shape, a loop
count -- are guarded, so other values re-trace and give the right answer.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ir.ops import IndexingError, ShapeError

BACKENDS = ["numba", "interpreter"]


def _line(fun, text: str) -> str:
    lines, start = inspect.getsourcelines(fun)
    return f"test_compiled_errors.py:{start + next(i for i, s in enumerate(lines) if text in s)}"


def add_loss(x, y):
    z = x + y
    return z.sum()


def matmul_loss(x, w):
    return (x @ w).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_elementwise_shape_mismatch_names_op_shapes_and_line(backend):
    with pytest.raises(ShapeError) as info:
        tg.grad(add_loss, backend=backend)(np.ones(3), np.ones(4))
    assert str(info.value) == ("The size of tensor a (3) must match the size of tensor b (4) at non-singleton "
                               f"dimension 0\n  in op 'add' with input shapes [3], [4] at {_line(add_loss, 'x + y')}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_matmul_shape_mismatch_names_op_shapes_and_line(backend):
    with pytest.raises(ShapeError) as info:
        tg.jit(matmul_loss, backend=backend)(np.ones((2, 3)), np.ones((4, 5)))
    assert str(info.value) == ("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)\n  in op 'matmul' with "
                               f"input shapes [2, 3], [4, 5] at {_line(matmul_loss, 'x @ w')}")


def test_shape_mismatch_on_a_later_call_is_caught_too():
    f = tg.grad(add_loss, argnums=(0, 1))
    f(np.ones(3), np.ones(3))
    with pytest.raises(ShapeError, match=r"in op 'add' with input shapes \[3\], \[2\] at "):
        f(np.ones(3), np.ones(2))


def test_gradient_with_respect_to_an_integer_argument():
    with pytest.raises(TypeError) as info:
        tg.grad(lambda x: (x * 2.0).sum())(np.arange(3))
    assert str(info.value) == ("grad requires floating-point inputs to differentiate; argument 'x' has dtype "
                               "int64. Pass floats, or leave the argument out of argnums.")
    with pytest.raises(TypeError, match=r"argument 'p'\['n'\] has dtype int64"):
        tg.grad(lambda p: (p["w"] * p["n"]).sum())({"w": np.ones(2), "n": np.arange(2)})


def test_non_scalar_output_to_grad():
    with pytest.raises(TypeError) as info:
        tg.grad(lambda x: x * 2.0)(np.ones(3))
    assert str(info.value) == ("grad requires a scalar floating-point output; the function returned a tensor of "
                               "shape [3] and dtype float64. Use tg.vjp or tg.jacobian for non-scalar outputs.")


def test_argnums_out_of_range():
    with pytest.raises(ValueError) as info:
        tg.grad(lambda x, y: (x * y).sum(), argnums=2)(np.ones(2), np.ones(2))
    assert str(info.value) == "argnums 2 out of range for a function called with 2 positional arguments"


def test_changed_argument_structure_re_traces(caplog):
    f = tg.grad(lambda p: (p["w"] * p["x"]).sum() + sum(p.get("extra", [])))
    w, x = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_array_equal(f({"w": w, "x": x})["w"], x)
    with caplog.at_level(logging.INFO, logger="tracegrad.cache"):
        grads = f({"w": w, "x": x, "extra": [1.0, 2.0]})
    np.testing.assert_array_equal(grads["w"], x)
    assert grads["extra"] == [1.0, 1.0]
    assert f.cache_info().misses == 2
    assert any("new argument structure" in r.getMessage() for r in caplog.records)
    # A tuple where a dict was: the function's own error, from its own line.
    with pytest.raises(TypeError, match="tuple indices must be integers or slices, not str"):
        f((w, x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_traced_values_used_by_python_are_guarded(backend):
    def pick(x, i):
        return [x, x * 2.0, x * 3.0][int(i)].sum()    # a list index

    def sized(x, n):
        return (tg.ones(int(n.sum()), dtype=tg.float64) * x.sum()).sum()   # a shape

    def repeat(x, n):
        s = x.sum()
        for _ in range(n.item()):                        # a loop count
            s = s * 2.0
        return s
    x = np.ones(2)
    f = tg.grad(pick, backend=backend)
    assert [f(x, np.array(k))[0] for k in (1, 2, 1, 0)] == [2.0, 3.0, 2.0, 1.0]
    assert f.cache_info().traces == 3
    g = tg.grad(sized, backend=backend)
    assert [g(x, np.array([a, b]))[0] for a, b in ((2, 1), (2, 2), (0, 1))] == [3.0, 4.0, 1.0]
    h = tg.grad(repeat, backend=backend)
    assert [h(x, np.array(k))[0] for k in (3, 0, 5)] == [8.0, 1.0, 32.0]


def gather_loss(x, i):
    return x[i].sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_out_of_bounds_on_a_later_call(backend):
    f = tg.grad(gather_loss, backend=backend)
    np.testing.assert_array_equal(f(np.ones(5), np.array([0, 3])), [1, 0, 0, 1, 0])
    for bad, text in ((7, "index 7 is out of bounds for dimension 0 with size 5"),
                      (-9, "index -9 is out of bounds for dimension 0 with size 5")):
        with pytest.raises(IndexingError) as info:
            f(np.ones(5), np.array([0, bad]))
        assert str(info.value) == f"{text}\n  in op 'index' with input shapes [5], [2] at {_line(gather_loss, 'x[i]')}"
    np.testing.assert_array_equal(f(np.ones(5), np.array([0, -2])), [1, 0, 0, 1, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_and_inf_inputs_propagate_as_in_numpy(backend):
    f = tg.value_and_grad(lambda x: (tg.exp(x) * x).sum(), backend=backend)
    x = np.array([np.nan, np.inf, -np.inf, 0.0])
    value, grad = f(x)
    assert np.isnan(value)
    with np.errstate(all="ignore"):
        expected = np.exp(x) * (1 + x)
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(tg.jit(lambda x: tg.exp(x) * x, backend=backend)(x), np.exp(x) * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_size_zero_arguments(backend):
    f = tg.value_and_grad(lambda x, w: (tg.tanh(x @ w) + 1.0).sum(), argnums=(0, 1), backend=backend)
    value, (gx, gw) = f(np.ones((0, 3)), np.ones((3, 2)))
    assert value == 0.0 and gx.shape == (0, 3) and np.array_equal(gw, np.zeros((3, 2)))
    g = tg.grad(lambda x: x.mean(), backend=backend)(np.ones((2, 0)))
    assert g.shape == (2, 0)
