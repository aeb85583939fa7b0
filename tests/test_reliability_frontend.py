"""Compiled mode never serves a stale trace, and bad input gets a clear answer.

Each test calls the compiled function several times with different values:
a value baked into the first trace would pass any single call.  Expected
results come from eager mode, numpy or closed forms.
"""

from __future__ import annotations

import collections
import logging
import math
import warnings

import numpy as np
import pytest

import tracegrad as tg

# --------------------------------------------------------------------------
# Static (non-array) arguments are keyed by value
# --------------------------------------------------------------------------


def test_unhashable_static_argument_is_keyed_by_value_not_id():
    scale = tg.jit(lambda x, s: x * len(s))
    # Each set dies before the next is made, so CPython hands out the same id again.
    got = [float(scale(np.array(1.0), set(range(k)))) for k in range(1, 6)]
    assert got == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_equal_sets_share_a_trace():
    total = tg.jit(lambda x, s: x * sum(s))
    for k in range(3):
        np.testing.assert_allclose(total(np.array([1.0, 2.0]) + k, {1, 2}), (np.array([1.0, 2.0]) + k) * 3)
    assert total.cache_info().traces == 1


def test_static_object_with_mutated_attribute_traces_again():
    class Config:
        def __init__(self, scale):
            self.scale = scale
            self.shifts = [1.0]

    cfg = Config(2.0)
    f = tg.grad(lambda x, c: (c.scale * x * x + c.shifts[0] * x).sum())
    x = np.array([1.0, 3.0])
    for scale, shift in [(2.0, 1.0), (5.0, 1.0), (5.0, -4.0), (0.5, 2.0)]:
        cfg.scale = scale
        cfg.shifts[0] = shift
        np.testing.assert_allclose(f(x, cfg), 2 * scale * x + shift)


def test_static_object_with_slots_is_keyed_by_its_slots():
    class Scale:
        __slots__ = "k"

        def __init__(self, k):
            self.k = k

    f = tg.jit(lambda x, s: x * s.k)
    scale = Scale(1.0)
    for k in [1.0, 2.0, 3.0, 2.0]:
        scale.k = k
        np.testing.assert_allclose(f(np.array([2.0]), scale), [2.0 * k])
    assert f.cache_info().traces == 3


def test_static_argument_without_value_key_runs_eagerly_with_one_warning():
    f = tg.jit(lambda x, table: x * len(table))
    table = set(range(20_000))  # too large to compare by value on every call
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = []
        for k in [1, 2, 3]:
            table.add(-k)
            results.append(float(f(np.array(2.0), table)))
    assert results == [2.0 * (20_000 + k) for k in [1, 2, 3]]
    messages = [str(w.message) for w in caught if "such calls run eagerly" in str(w.message)]
    assert len(messages) == 1 and "argument 'table'" in messages[0]
    assert f.cache_info().traces == 0


def test_static_float_keys_tell_negative_zero_from_zero():
    div = tg.jit(lambda x, c: x / c)
    x = np.array([1.0, -2.0])
    for c in [0.0, -0.0, 0.0, -0.0]:
        with np.errstate(divide="ignore"):
            np.testing.assert_array_equal(div(x, c), x / c)
    assert div.cache_info().traces == 2


def test_static_float_keys_inside_tuples_tell_negative_zero_from_zero():
    div = tg.jit(lambda x, cs: x / cs[1])
    x = np.array([3.0])
    with np.errstate(divide="ignore"):
        for c in [0.0, -0.0, 0.0]:
            np.testing.assert_array_equal(div(x, (1, c)), x / c)
            np.testing.assert_array_equal(div(x, {"c": (2.0, c)}["c"]), x / c)


def test_static_nan_is_traced_once():
    add = tg.jit(lambda x, c: x + (0.0 if math.isnan(c) else c))
    for k in range(4):
        np.testing.assert_array_equal(add(np.array([float(k)]), float("nan")), [float(k)])
    assert add.cache_info() == (1, 3, 1)


# --------------------------------------------------------------------------
# Copies of traced tensors stay traced
# --------------------------------------------------------------------------

COPY_WARNING = ("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).")


@pytest.mark.parametrize("copy", [
    lambda x: tg.tensor(x),
    lambda x: tg.tensor(x, dtype=tg.float64),
    lambda x: tg.as_tensor(x, dtype=tg.float32),
    lambda x: tg.Tensor(x),
    lambda x: tg.tensor([x[0], x[1] * 2.0, x[2]]) / tg.tensor([1.0, 2.0, 1.0]),
], ids=["tensor", "tensor-dtype", "as_tensor", "Tensor", "tensor-of-list"])
def test_copy_of_a_traced_tensor_follows_the_input(copy):
    f = tg.jit(lambda x: copy(x) * 2.0 + x, check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k in range(3):
            x = np.array([1.0, -2.0, 0.5], np.float32) * (k + 1)
            np.testing.assert_allclose(f(x), 3 * x, rtol=1e-6)


def test_copy_of_a_traced_tensor_is_detached():
    g = tg.grad(lambda x: (tg.tensor(x) * x).sum(), check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k in range(3):
            x = np.array([1.0, 2.0]) + k
            np.testing.assert_allclose(g(x), x)  # d/dx (c * x) with c a copy: c, not 2x


def test_copy_of_a_traced_tensor_warns_like_pytorch():
    f = tg.jit(lambda x: tg.tensor(x) + 1.0)
    with pytest.warns(UserWarning) as caught:  # the tracing run is Python; later calls run the kernel
        np.testing.assert_allclose(f(np.array([0.5])), [1.5])
    assert [str(w.message) for w in caught] == [COPY_WARNING]
    for k in range(3):
        np.testing.assert_allclose(f(np.array([float(k)])), [k + 1.0])


# --------------------------------------------------------------------------
# Eager mode: dtypes and integer division by zero as in PyTorch
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [tg.float64, tg.float16, tg.int32, tg.bool])
def test_tensor_of_a_tensor_keeps_its_dtype(dtype):
    with pytest.warns(UserWarning, match="To copy construct from a tensor"):
        copy = tg.tensor(tg.tensor([1, 0, 1], dtype=dtype))
    assert copy.dtype == dtype
    np.testing.assert_array_equal(copy.numpy(), np.array([1, 0, 1]).astype(copy.numpy().dtype))


@pytest.mark.parametrize("op", [lambda a, b: a // b, lambda a, b: a % b, lambda a, b: 7 // (b + a * 0),
                                lambda a, b: 7 % (b + a * 0)], ids=["//", "%", "reflected //", "reflected %"])
@pytest.mark.parametrize("divisor", [lambda: tg.tensor([2, 0]), lambda: 0, lambda: tg.tensor(0)],
                         ids=["tensor", "int", "0-d"])
def test_integer_division_by_zero_raises_like_pytorch(op, divisor):
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        op(tg.tensor([7, 5]), divisor())


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_compiled_integer_division_by_zero_raises_on_later_calls_too(backend):
    f = tg.jit(lambda a, b: a // b + a % b, backend=backend)
    a = np.array([7, -5, 9])
    for b in [np.array([2, 3, 4]), np.array([5, 1, -2])]:
        np.testing.assert_array_equal(f(a, b), a // b + a % b)
    for b in [np.array([2, 0, 4]), np.array([0, 0, 0])]:
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            f(a, b)
    np.testing.assert_array_equal(f(a, np.array([3, 3, 3])), a // 3 + a % 3)


def test_integer_division_by_nonzero_and_float_division_by_zero_still_compute():
    a = tg.tensor([7, -5])
    np.testing.assert_array_equal((a // tg.tensor([2, 3])).numpy(), [3, -2])
    np.testing.assert_array_equal((a % tg.tensor([2, 3])).numpy(), [1, 1])
    np.testing.assert_array_equal((a.double() // 0).numpy(), [np.inf, -np.inf])
    assert np.isnan((a.double() % 0).numpy()).all()


# --------------------------------------------------------------------------
# Closed-over tensors: in-place writes and rebinding make the trace stale
# --------------------------------------------------------------------------

W_GLOBAL = tg.tensor([1.0, 2.0], dtype=tg.float64)


def _scaled_by_global(x):
    return (x * W_GLOBAL).sum()


@pytest.mark.parametrize("write", [
    lambda w, k: w.add_(k),
    lambda w, k: w.mul_(k + 1.0),
    lambda w, k: w.copy_(tg.tensor([k, -k], dtype=tg.float64)),
    lambda w, k: w.__setitem__(0, 10.0 * k),
    lambda w, k: w.data.add_(k),
    lambda w, k: w.data.__setitem__(slice(None), tg.tensor([k, 2 * k], dtype=tg.float64)),
    lambda w, k: w.detach().sub_(k),
], ids=["add_", "mul_", "copy_", "setitem", "data.add_", "data[:]=", "detach().sub_"])
def test_in_place_write_to_a_closed_over_constant_is_seen(write):
    w = tg.tensor([1.0, 2.0], dtype=tg.float64)
    f = tg.jit(lambda x: x * w + 1.0)
    g = tg.grad(lambda x: (x * x * w).sum())
    x = np.array([3.0, -1.0])
    for k in [1.0, 2.0, 3.0]:
        np.testing.assert_allclose(f(x), x * w.numpy() + 1.0)
        np.testing.assert_allclose(g(x), 2 * x * w.numpy())
        write(w, k)
    np.testing.assert_allclose(f(x), x * w.numpy() + 1.0)
    assert f.cache_info().traces == 1  # stale traces are dropped, not kept forever


def test_unchanged_closed_over_constant_is_not_traced_again_after_unrelated_writes():
    w = tg.tensor([1.0, 2.0])
    other = tg.zeros(2)
    f = tg.jit(lambda x: x * w)
    for k in range(4):
        other.data.add_(1.0)  # a write elsewhere: w's contents are compared and found equal
        np.testing.assert_allclose(f(np.full(2, float(k), np.float32)), [k, 2.0 * k])
    assert f.cache_info() == (1, 3, 1)


def test_rebinding_a_global_tensor_is_seen():
    global W_GLOBAL
    saved = W_GLOBAL
    try:
        f = tg.value_and_grad(_scaled_by_global)
        x = np.array([1.0, 4.0])
        for k in range(3):
            W_GLOBAL = tg.tensor([1.0 + k, -2.0 * k], dtype=tg.float64)
            value, grad = f(x)
            np.testing.assert_allclose(value, x @ W_GLOBAL.numpy())
            np.testing.assert_allclose(grad, W_GLOBAL.numpy())
    finally:
        W_GLOBAL = saved


def test_rebinding_a_closure_variable_is_seen():
    w = tg.tensor([2.0])

    def f(x):
        return x * w

    jf = tg.jit(f)
    for k in range(3):
        w = tg.tensor([2.0 + k])  # f reads it through its closure cell
        np.testing.assert_allclose(jf(np.array([3.0], np.float32)), [3.0 * (2.0 + k)])


def test_rebinding_a_closed_over_parameter_sends_gradients_to_the_new_one():
    p = tg.tensor([1.0, 2.0], requires_grad=True)

    def loss(x):
        return (x * p).sum()

    step = tg.jit(loss)
    x = tg.tensor([3.0, 4.0])
    for k in range(3):
        p = tg.tensor([1.0 + k, 2.0], requires_grad=True)
        out = step(x)
        out.backward()
        np.testing.assert_allclose(out.item(), 3.0 * (1.0 + k) + 8.0)
        np.testing.assert_allclose(p.grad.numpy(), [3.0, 4.0])


def test_rebinding_a_global_float_is_seen():
    namespace = {"scale": 2.0}
    exec("def f(x):\n    return x * scale\n", namespace)
    f = tg.jit(namespace["f"])
    for scale in [2.0, 3.0, -1.0]:
        namespace["scale"] = scale
        np.testing.assert_allclose(f(np.array([1.5])), [1.5 * scale])


# --------------------------------------------------------------------------
# The self-check compares element by element
# --------------------------------------------------------------------------

def _fault_in_gradient_element(monkeypatch, factors):
    """Make every derived graph multiply its gradient output by `factors` (a wrong kernel, in effect)."""
    from tracegrad.compiler import pipeline
    from tracegrad.ir.graph import Node, Value, const_value
    real = pipeline.optimize

    def broken(graph, verify=None):
        graph = real(graph, verify)
        if len(graph.outputs) == 2 and graph.outputs[1].shape == (len(factors),):
            right = graph.outputs[1]
            wrong = Value(right.type)
            node = Node("mul", [right, const_value(np.asarray(factors, right.dtype))], {}, [wrong])
            wrong.node = node
            graph.nodes.append(node)
            graph.outputs[1] = wrong
        return graph
    monkeypatch.setattr(pipeline, "optimize", broken)  # the optimiser the derive stage runs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_self_check_catches_an_error_in_a_small_gradient_element(monkeypatch, dtype):
    _fault_in_gradient_element(monkeypatch, [1.0, 1.5])  # the small element is 50 % off
    for x0, x1 in [(1.0, 1e-3), (2.0, -3e-3), (0.5, 5e-4)]:
        # Gradient (1e8 * x0, 2 * x1): the large element dwarfs the faulty small one.
        f = tg.grad(lambda x: 5e7 * x[0] * x[0] + x[1] * x[1], check=True, backend="interpreter")
        with pytest.raises(tg.SelfCheckError, match="gradient of argument 'x'"):
            f(np.array([x0, x1], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_self_check_accepts_correct_gradients_of_mixed_magnitude(dtype):
    for x in [[1e3, 1e-3, -2.0], [-40.0, 3e-4, 1e-2], [7.0, -1e-5, 1e4]]:
        g = tg.value_and_grad(lambda x: (x * x * x).sum() + tg.sin(x).sum(), check=True)
        value, grad = g(np.array(x, dtype))
        np.testing.assert_allclose(grad, 3 * np.array(x) ** 2 + np.cos(x), rtol=1e-5 if dtype == np.float32 else 1e-12)


# --------------------------------------------------------------------------
# Bad input: namedtuples, argnums, None
# --------------------------------------------------------------------------

Params = collections.namedtuple("Params", ["w", "b"])


def _affine_loss(p, x):
    return ((x * p.w + p.b) ** 2).sum()


def _affine_grads(p, x):
    r = 2 * (x * p.w + p.b)
    return (r * x).sum(), r.sum()


def test_namedtuple_argument_gradient_is_the_same_namedtuple():
    g = tg.grad(_affine_loss)
    x = np.array([1.0, -2.0, 0.5])
    for w, b in [(1.0, 0.0), (-0.5, 2.0), (3.0, -1.0)]:
        grad = g(Params(np.array(w), np.array(b)), x)
        assert type(grad) is Params
        np.testing.assert_allclose(grad, _affine_grads(Params(w, b), x))


def test_namedtuple_of_floats_nested_in_a_dict():
    g = tg.value_and_grad(lambda d, x: _affine_loss(d["p"], x))
    x = np.array([2.0, 3.0])
    for w, b in [(1.0, 1.0), (2.0, -4.0)]:
        value, grad = g({"p": Params(w, b)}, x)
        np.testing.assert_allclose(value, _affine_loss(Params(w, b), x))
        assert type(grad["p"]) is Params and isinstance(grad["p"].w, float)
        np.testing.assert_allclose(grad["p"], _affine_grads(Params(w, b), x))


def test_namedtuple_results_keep_their_type():
    f = tg.jit(lambda x: tg.max(x, 0))
    for k in range(3):
        x = np.array([[1.0, 5.0], [3.0, 2.0]]) * (-1) ** k
        got = f(x)
        assert type(got) is type(tg.max(tg.tensor(x), 0))
        np.testing.assert_array_equal(got.values, x.max(0))
        np.testing.assert_array_equal(got.indices, x.argmax(0))


def test_list_results_stay_lists_on_the_fast_path():
    f = tg.jit(lambda x: [x * 2.0, x + 1.0])
    for k in range(3):
        x = np.array([1.0, 2.0]) + k
        got = f(x)
        assert type(got) is list
        np.testing.assert_allclose(got, [x * 2.0, x + 1.0])


def test_error_in_a_namedtuple_names_the_field():
    with pytest.raises(TypeError, match=r"argument 'p'\.b has dtype int64"):
        tg.grad(_affine_loss)(Params(np.array(1.0), np.array(2)), np.ones(2))


@pytest.mark.parametrize("argnums", [0.0, "0", None, (0, 1.0), [], True])
@pytest.mark.parametrize("transform", [tg.grad, tg.value_and_grad, tg.jacobian])
def test_bad_argnums_is_a_type_error_naming_argnums(transform, argnums):
    with pytest.raises(TypeError, match=r"argnums must be an int or a non-empty tuple of ints, got "):
        transform(lambda x: (x * x).sum(), argnums=argnums)


def test_none_leaf_of_a_differentiated_argument_is_an_empty_subtree():
    g = tg.grad(lambda p, x: (p["w"] * x).sum() + (0.0 if p["b"] is None else p["b"]))
    x = np.array([1.0, 2.0])
    for w in [1.0, -3.0]:
        grad = g({"w": np.array([w, w]), "b": None}, x)
        assert grad["b"] is None
        np.testing.assert_allclose(grad["w"], x)


def test_none_argument_is_static():
    g = tg.grad(lambda x, scale: ((x if scale is None else x * scale) ** 2).sum(), argnums=0)
    x = np.array([1.0, -2.0])
    for scale in [None, 3.0, None]:
        s = 1.0 if scale is None else scale
        np.testing.assert_allclose(g(x, scale), 2 * s * s * x)
    assert tg.grad(lambda x, n: (x * x).sum(), argnums=(0, 1))(x, None)[1] is None


def test_cache_log_says_which_capture_changed(caplog):
    caplog.set_level(logging.INFO, logger="tracegrad.cache")
    w = tg.tensor([1.0, 2.0])
    f = tg.jit(lambda x: x * w, backend="interpreter")
    x = np.array([1.0, 1.0], np.float32)
    for _ in range(2):
        np.testing.assert_allclose(f(x), w.numpy())
        w.add_(1.0)
    np.testing.assert_allclose(f(x), w.numpy())
    messages = [r.getMessage() for r in caplog.records if r.name == "tracegrad.cache"]
    assert sum("a closed-over tensor (float32[2]) was modified in place" in m for m in messages) == 2


def test_static_slices_and_complex_numbers_are_keyed_by_value():
    f = tg.jit(lambda x, s, c: x[s] * c.real)
    x = np.arange(6.0)
    for s, c in [(slice(0, 3), 1 + 0j), (slice(1, None, 2), 2 + 0j), (slice(0, 3), -1 + 5j), (slice(0, 3), 1 + 0j)]:
        np.testing.assert_allclose(f(x, s, c), x[s] * c.real)
    assert f.cache_info().traces == 3
