"""Compiled functions return what eager mode returns, or raise naming the user's line.

Guards on values Python reads (branches on near ties, floats read into Python arithmetic),
numpy and math functions on traced values, bounded re-tracing with an eager fallback, random
numbers inside traces, and the types of gradients.  Every compiled function is called on
several inputs, each compared with eager mode.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ir.interpret import GuardFailure


def eager_grad(f, x, **kwargs):
    t = tg.tensor(x, requires_grad=True)
    (g,) = tg.autograd.grad(f(t, **kwargs), t, allow_unused=True)
    return np.zeros_like(x) if g is None else g.numpy()


# ------------------------------------------------------------------ guards on near ties
def branchy(x):
    if x.sum() > 0:
        return (x * x).sum()
    return tg.sin(x).sum()


def test_branch_near_a_tie_is_deterministic_and_one_of_the_branches():
    """Sums within rounding of 0: compiled code decides the branch with its own arithmetic, always the same way.

    Each result is eager mode's gradient of one of the two branches; calling again on the same
    input, after other inputs traced other paths, gives the same numbers; no GuardFailure.
    """
    rng = np.random.default_rng(1)
    g = tg.grad(branchy)
    inputs = []
    for _ in range(60):
        x = rng.standard_normal(1000).astype(np.float32)
        inputs.append(x - x.mean())
    first = [g(x) for x in inputs]
    for x, got in zip(inputs, first):
        positive = eager_grad(lambda t: (t * t).sum(), x)
        negative = eager_grad(lambda t: tg.sin(t).sum(), x)
        assert np.allclose(got, positive, rtol=1e-5, atol=1e-6) or np.allclose(got, negative, rtol=1e-5, atol=1e-6)
    for x, got in zip(inputs, first):
        np.testing.assert_array_equal(g(x), got)
    assert g.cache_info().traces >= 2
    far = np.linspace(-1, 1, 1000).astype(np.float32) + 0.01  # far from a tie: eager's branch
    np.testing.assert_allclose(g(far), eager_grad(branchy, far), rtol=1e-6)
    np.testing.assert_allclose(g(-far), eager_grad(branchy, -far), rtol=1e-6)


def test_first_call_on_a_near_tie_follows_the_kernel():
    """A fresh function whose first input is a near tie: the path traced is the one its kernel accepts."""
    rng = np.random.default_rng(4)
    for _ in range(25):
        x = rng.standard_normal(1000).astype(np.float32)
        x -= x.mean()
        g = tg.grad(branchy)
        got = g(x)
        branches = [eager_grad(lambda t: (t * t).sum(), x), eager_grad(lambda t: tg.sin(t).sum(), x)]
        assert any(np.allclose(got, b, rtol=1e-5, atol=1e-6) for b in branches)
        np.testing.assert_array_equal(g(x), got)
        assert g.cache_info().traces <= 2


def test_kernel_that_rounds_a_compared_value_differently_gets_its_own_path():
    """An exact comparison with eager mode's float32 sum of exp: kernels round it differently.

    The eager run takes the 'equal' branch; a kernel whose sum differs rejects that path, so the
    function is traced again following the kernel's comparison.  Either way the answer is one
    branch's, computed consistently, on every call.
    """
    rng = np.random.default_rng(5)
    x = rng.standard_normal(5000).astype(np.float32)
    total = float(tg.exp(tg.tensor(x)).sum())

    def f(x):
        y = tg.exp(x)
        if y.sum() == total:
            return y.sum()
        return 2 * y.sum()
    j = tg.jit(f)
    got = float(j(x))
    assert got == pytest.approx(total, rel=1e-5) or got == pytest.approx(2 * total, rel=1e-5)
    assert (got > 1.5 * total) == (j.cache_info().traces == 2)  # the other branch only by re-tracing
    for _ in range(3):
        assert float(j(x)) == got


def test_float_read_in_python_arithmetic_never_raises_guard_failure():
    rng = np.random.default_rng(2)
    f = tg.jit(lambda x: x * float(x.sum()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            x = rng.standard_normal(100).astype(np.float32)
            np.testing.assert_allclose(f(x), x * float(x.sum()), rtol=1e-6)
    fallbacks = [w for w in caught if "falls back to eager mode" in str(w.message)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    message = str(fallbacks[0].message)
    assert "test_compiled_semantics.py" in message and "path limit" in message
    assert fallbacks[0].filename == __file__  # the warning points at the user's call


def test_guard_failure_is_internal():
    f = tg.grad(lambda x: (x * x).sum() if float(x.detach().sum()) > 0.5 else x.sum())
    for x in (np.array([1.0, 0.2]), np.array([0.1, 0.2]), np.array([0.4, 0.1000001])):
        try:
            got = f(x)
        except GuardFailure as e:  # pragma: no cover - the failure mode this test exists for
            pytest.fail(f"a guard failure reached the user: {e}")
        np.testing.assert_allclose(got, eager_grad(lambda t: (t * t).sum() if float(t.detach().sum()) > 0.5
                                                   else t.sum(), x))


# ------------------------------------------------------------------ numpy and math on traced values
NUMPY_FUNCTIONS = [
    ("exp_times_x", lambda x: (np.exp(x) * x).sum(), lambda x: np.exp(x) * (1 + x)),
    ("sin", lambda x: np.sin(x).sum(), np.cos),
    ("sum_axis", lambda x: np.sum(x * x, axis=0), lambda x: 2 * x),
    ("mean_keepdims", lambda x: np.mean(np.tanh(x), axis=0, keepdims=True).sum(),
     lambda x: (1 - np.tanh(x) ** 2) / x.size),
    ("maximum", lambda x: np.maximum(x, 0.0).sum(), lambda x: (x > 0).astype(x.dtype)),
    ("ndarray_times_tensor", lambda x: (np.array([1.0, 2.0, 3.0]) * x).sum(), lambda x: np.array([1.0, 2.0, 3.0])),
    ("dot", lambda x: np.dot(x, x), lambda x: 2 * x),
    ("where_stack", lambda x: np.stack([np.where(x > 0, x, 0.0), x]).sum(), lambda x: (x > 0) + 1.0),
]


@pytest.mark.parametrize("name,f,closed_form", NUMPY_FUNCTIONS, ids=[n for n, _, _ in NUMPY_FUNCTIONS])
def test_numpy_functions_on_traced_values_are_traced(name, f, closed_form):
    g = tg.grad(f)
    for x in (np.array([0.5, -0.3, 1.2]), np.array([-1.1, 0.7, 0.2]), np.array([2.0, 0.1, -0.4])):
        np.testing.assert_allclose(g(x), closed_form(x), rtol=1e-12, atol=1e-12)
    assert g.cache_info().traces == 1  # traced once, not re-traced per value


def test_reductions_take_numpy_keyword_names():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.sum(axis=0).tolist() == [4.0, 6.0]
    assert t.mean(axis=1, keepdims=True).tolist() == [[1.5], [3.5]]
    assert t.amax(axis=1).tolist() == [2.0, 4.0]
    assert np.sum(t).item() == 10.0


@pytest.mark.parametrize("call,what", [
    (lambda a: math.exp(a) * a, "float() (or a math function)"),
    (lambda a: (np.linalg.norm(a) * a).sum(), "np.linalg.norm()"),
    (lambda a: (a * a.sum().item()).sum(), "item()"),
    (lambda a: (a * np.asarray(a.tolist())).sum(), "tolist()"),
])
def test_python_reads_of_differentiated_values_raise_naming_the_line(call, what):
    x = np.array([0.5, 1.5]) if "math" not in what else 0.5
    with pytest.raises(TypeError) as info:
        tg.grad(call)(x)
    message = str(info.value)
    assert message.startswith(what) and "test_compiled_semantics.py:" in message
    assert ".detach()" in message


def test_python_reads_of_detached_or_undifferentiated_values_work():
    def f(w, x):
        scale = float(x.sum())           # x is not differentiated
        return (w * w).sum() * scale + math.exp(float(w.detach().sum()))
    g = tg.grad(f)
    for w, x in ((np.array([1.0, 2.0]), np.array([0.5, 0.5])), (np.array([0.3, 0.1]), np.array([2.0, 1.0]))):
        np.testing.assert_allclose(g(w, x), 2 * w * x.sum())
    np.testing.assert_allclose(tg.jit(lambda a: np.linalg.norm(a) * a)(np.array([3.0, 4.0])), [15.0, 20.0])


def test_numpy_on_tensors_in_eager_mode_is_unchanged():
    t = tg.tensor([1.0, 2.0])
    assert isinstance(np.exp(t), tg.Tensor)
    np.testing.assert_allclose(np.exp(t).numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        np.exp(tg.tensor([1.0, 2.0], requires_grad=True))


# ------------------------------------------------------------------ bounded re-tracing
def _fallback_warnings(caught):
    return [str(w.message) for w in caught if "falls back to eager mode" in str(w.message)]


def test_mask_indexing_falls_back_to_eager_once_with_advice():
    rng = np.random.default_rng(3)

    def f(r):
        return (r[r.abs() < 1] ** 2).sum()
    g = tg.grad(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(15):
            x = rng.standard_normal(8)
            np.testing.assert_allclose(g(x), eager_grad(f, x))
    messages = _fallback_warnings(caught)
    assert len(messages) == 1 and "tg.where" in messages[0]
    assert g.cache_info().traces <= g.path_limit


def test_while_loop_paths_are_bounded():
    def f(y):
        while y.detach().norm() < 1000:
            y = y * 2
        return y.sum()
    g = tg.grad(f)
    g.path_limit = 3  # each path is a kernel unrolling its loop: keep the compiles few
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(7):
            x = np.full(3, 300.0 * 2.0 ** -k)  # 1 to 7 doublings: short loops compile fast
            np.testing.assert_allclose(g(x), eager_grad(f, x))
    assert len(_fallback_warnings(caught)) == 1
    assert g.cache_info().traces == g.path_limit


def test_changing_static_argument_falls_back_naming_it():
    f = tg.jit(lambda x, n: x * n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(12):
            np.testing.assert_allclose(f(np.ones(2), n), np.full(2, float(n)))
    messages = _fallback_warnings(caught)
    assert len(messages) == 1 and "argument 'n'" in messages[0] and "re-trace limit" in messages[0]


# ------------------------------------------------------------------ smaller
def test_gradient_of_a_numpy_scalar_has_its_type():
    got = tg.grad(lambda a: a * a)(np.float64(3.0))
    assert type(got) is np.float64 and got == 6.0
    assert type(tg.grad(lambda a: a * a)(3.0)) is float


def test_random_numbers_in_a_trace_are_drawn_anew_every_call():
    """A random factory inside a compiled function is an input drawn per call (it was a constant: every call
    reused the first trace's numbers), from the generator it names, with one trace; nested and inside
    gradients too.  Dropout masks differ per call as in eager mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = tg.jit(lambda x: x + tg.randn(3, dtype=tg.float64) + tg.rand(3, dtype=tg.float64))
        draws = [f(np.zeros(3)) for _ in range(4)]
    assert f.cache_info().traces == 1
    assert all(not np.array_equal(a, b) for a, b in zip(draws, draws[1:]))
    gen = tg.Generator().manual_seed(7)
    seeded = tg.jit(lambda x: x * tg.rand(5, dtype=tg.float64, generator=gen))
    first = [seeded(np.ones(5)) for _ in range(3)]
    gen.manual_seed(7)
    again = [seeded(np.ones(5)) for _ in range(3)]
    np.testing.assert_array_equal(np.array(first), np.array(again))  # the same stream, the same numbers
    gen.manual_seed(7)
    eager = [np.ones(5) * tg.rand(5, dtype=tg.float64, generator=gen).numpy() for _ in range(3)]
    np.testing.assert_array_equal(np.array(first), np.array(eager))  # one draw per call, as eager mode
    drop = tg.jit(lambda x: tg.nn.functional.dropout(x, 0.5))
    masks = {tuple(drop(np.ones(16)).tolist()) for _ in range(6)}
    assert len(masks) > 1 and all(set(m) <= {0.0, 2.0} for m in masks)
    gradient = tg.grad(lambda x: (tg.nn.functional.dropout(x, 0.5) * x).sum())
    for _ in range(3):  # d/dx of x * mask(x) / 0.5: 4 x where kept, 0 where dropped, a new mask each call
        g = gradient(np.full(16, 1.5))
        assert set(np.unique(g)) <= {0.0, 6.0}
    outer = tg.jit(lambda x: tg.jit(lambda y: y * tg.rand(4, dtype=tg.float64))(x) * 1.0)
    nested = [outer(np.ones(4)) for _ in range(3)]
    assert not np.array_equal(nested[0], nested[1]) and not np.array_equal(nested[1], nested[2])


def test_jacobian_and_hessian_of_pytrees():
    def f(p):
        return {"a": p["w"] * p["b"], "s": (p["w"] ** 2).sum()}
    p = {"w": np.array([1.0, 2.0, 3.0]), "b": np.array([0.5, -1.0, 2.0])}
    jac = tg.jacobian(f)(p)
    np.testing.assert_allclose(jac["a"]["w"], np.diag(p["b"]))
    np.testing.assert_allclose(jac["a"]["b"], np.diag(p["w"]))
    np.testing.assert_allclose(jac["s"]["w"], 2 * p["w"])
    np.testing.assert_allclose(jac["s"]["b"], np.zeros(3))
    two = tg.jacobian(lambda x, y: (x * y, x.sum()), argnums=(0, 1))(p["w"], p["b"])
    np.testing.assert_allclose(two[0][1], np.diag(p["w"]))
    np.testing.assert_allclose(two[1][0], np.ones(3))
    hess = tg.hessian(lambda x, y: (x * x * y).sum(), argnums=(0, 1))(p["w"], p["b"])
    np.testing.assert_allclose(hess[0][0], np.diag(2 * p["b"]))
    np.testing.assert_allclose(hess[0][1], np.diag(2 * p["w"]))
    np.testing.assert_allclose(hess[1][1], np.zeros((3, 3)))


def test_a_python_float_that_changes_is_traced_once():
    """A float argument whose value changes becomes a traced input: one more trace, not one per value."""
    f = tg.grad(lambda w, lr: (w * w).sum() * lr)
    j = tg.jit(lambda x, s: (x.sum() * s, x * s, s * 2.0 + 1.0))
    w = np.array([1.0, 2.0], np.float32)
    for lr in (0.1, 0.2, 0.3, 0.4, 0.5):
        g = f(w, lr)
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, 2 * w * np.float32(lr), rtol=1e-6)
        total, scaled, plain = j(w, lr)
        assert total.dtype == scaled.dtype == np.float32  # promotes like the Python float
        np.testing.assert_allclose(scaled, w * np.float32(lr), rtol=1e-6)
        assert type(plain) is float and plain == lr * 2.0 + 1.0
    assert f.cache_info().traces == 2 and j.cache_info().traces == 2


def test_a_traced_float_read_by_python_still_gives_eager_answers():
    k = tg.jit(lambda x, s: x * s if s > 2 else x - s)
    for s in (1.0, 3.0, 1.5, 2.5, 0.5, 4.0):
        np.testing.assert_allclose(k(np.ones(2), s), np.ones(2) * s if s > 2 else np.ones(2) - s)


FALLBACK_CASES = [
    ("grad", dict(), lambda p, x: (p["w"] * x).sum() ** 2),
    ("grad", dict(argnums=(0, 1)), lambda p, x: (p["w"] * x).sum() ** 2),
    ("value_and_grad", dict(has_aux=True), lambda p, x: ((p["w"] * x).sum() ** 2, {"n": x.sum()})),
    ("jit", dict(), lambda p, x: (p["w"] * x, [x.sum(), 3])),
]


@pytest.mark.filterwarnings("ignore:tracegrad. .* falls back to eager mode")
@pytest.mark.parametrize("mode,options,f", FALLBACK_CASES, ids=[f"{m}{o}" for m, o, _ in FALLBACK_CASES])
def test_eager_fallback_returns_what_compiled_returns(mode, options, f):
    compiled = getattr(tg, mode)(f, **options)
    eager = getattr(tg, mode)(f, **options)
    eager.path_limit = 0  # every call runs eagerly
    for k in range(3):
        p, x = {"w": np.arange(3.0) + k}, np.linspace(-1.0, 1.0, 3) * (k + 1)
        want, got = compiled(p, x), eager(p, x)
        want_leaves, want_tree = tg._pytree.tree_flatten(want)
        got_leaves, got_tree = tg._pytree.tree_flatten(got)
        assert want_tree == got_tree
        for a, b in zip(want_leaves, got_leaves):
            assert type(a) is type(b)
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    assert eager.cache_info().traces == 0


def test_vjp_eager_fallback_returns_arrays_like_the_compiled_vjp():
    def f(x):
        if x.sum() > 0:
            return x * x
        return x * 3.0
    for limit in (8, 0):
        t = tg._transforms._cached_transform(f, "vjp", (0,))
        t.path_limit = limit  # 0: every call runs eagerly
        for x in (np.array([1.0, 2.0]), np.array([-1.0, -2.0])):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, f_vjp = tg.vjp(f, x)
            (g,) = f_vjp(np.ones(2))
            assert type(out) is np.ndarray and type(g) is np.ndarray
            np.testing.assert_allclose(g, 2 * x if x.sum() > 0 else np.full(2, 3.0))
        t.clear_cache()


STEP = tg.tensor([1.0, 2.0], dtype=tg.float64)


def test_a_global_rebound_on_every_call_falls_back_to_eager_once():
    global STEP
    f = tg.jit(lambda x: x * STEP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(14):
            STEP = tg.tensor([1.0, float(k)], dtype=tg.float64)
            np.testing.assert_allclose(f(np.ones(2)), [1.0, float(k)])
    messages = _fallback_warnings(caught)
    assert len(messages) == 1 and "'STEP'" in messages[0] and "re-trace limit" in messages[0]
    assert f.cache_info().traces <= 1


def test_numpy_bridge_tables_name_real_functions():
    from tracegrad._numpy_bridge import FUNCTIONS, UFUNCS
    for ufunc_name, tg_name in UFUNCS.items():
        assert isinstance(getattr(np, ufunc_name, None), np.ufunc) or ufunc_name == "true_divide", ufunc_name
        assert callable(getattr(tg, tg_name)), tg_name
    for name in FUNCTIONS:
        assert callable(getattr(np, name)), name


def test_numpy_where_with_one_argument_keeps_numpy_meaning():
    t = tg.tensor([1.0, -2.0, 3.0])
    (indices,) = np.where(t > 0)
    assert indices.tolist() == [0, 2]
