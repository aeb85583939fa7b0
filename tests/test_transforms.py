"""Compiled transforms: ``tg.grad``, ``value_and_grad``, ``vjp``, ``jit``, ``jacobian``, ``hessian``.

Every check compares against something computed independently of the
compiler: the eager tape (``backward()``), central finite differences in
float64 on the op table's numpy implementations, or closed forms.

The generic part reads the op table (``tracegrad.ir.ops.TABLE``), so a new
op is covered by adding its entry and samples.
"""

from __future__ import annotations

import math
import os
import zlib

import numpy as np
import pytest
from numeric import numeric_grad

import tracegrad as tg
from tracegrad._dispatch import apply_op
from tracegrad._tensor import Tensor
from tracegrad.ir.ops import NUMPY, TABLE, Composite

ENTRIES = sorted(TABLE)
FLOATS = [np.float32, np.float64]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _samples(name, dtype):
    return TABLE[name].samples(_rng(name, np.dtype(dtype).name), np.dtype(dtype))


def _is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _differentiable(entry) -> bool:
    return entry.vjp is not None or isinstance(entry, Composite)


def _reference(entry, args, attrs) -> np.ndarray:
    """The op on numpy arrays, without tracegrad's Tensor or compiler."""
    if isinstance(entry, Composite):
        return np.asarray(entry.decompose(NUMPY, *args, **attrs))
    return np.asarray(entry.impl(*args, **attrs))


def _float_positions(entry, sample) -> tuple[int, ...]:
    """Float array inputs that can carry a gradient."""
    allowed = entry.grad_args
    return tuple(i for i, a in enumerate(sample.args)
                 if _is_float_array(a) and (allowed is None or i in allowed))


def _with(sample_args, positions, values, const=lambda a: tg.tensor(a) if _is_float_array(a) else a):
    """The sample's arguments with `values` at `positions`; other arguments through `const`."""
    args = [const(a) for a in sample_args]
    for p, v in zip(positions, values):
        args[p] = v
    return tuple(args)


def _eager_loss_and_grads(entry, sample, positions, cot):
    leaves = [tg.tensor(sample.args[p], requires_grad=True) for p in positions]
    out = apply_op(entry, _with(sample.args, positions, leaves), dict(sample.attrs))
    loss = (out * tg.tensor(cot)).sum()
    loss.backward()
    return loss, out, [t.grad for t in leaves]


def _assert_close(actual, expected, rtol=1e-5, atol=1e-6, msg=""):
    actual = actual._data if isinstance(actual, Tensor) else np.asarray(actual)
    expected = expected._data if isinstance(expected, Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{msg}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=msg)


def _arr(x) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


# --------------------------------------------------------------------------
# 1. Every op in the table, generically
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ENTRIES)
def test_compiled_gradient_of_every_op(name):
    """tg.grad of <op(args), cotangent> equals eager backward() and central differences (float64)."""
    entry = TABLE[name]
    checked = 0
    for k, s in enumerate(_samples(name, np.float64)):
        positions = tuple(s.grad) if s.grad else _float_positions(entry, s)
        if not positions:
            continue
        out_ref = _reference(entry, s.args, s.attrs)
        cot = _rng(name, "cot", k).normal(size=out_ref.shape)
        cot_t = tg.tensor(cot)
        # Non-differentiable and non-perturbed inputs are closed over: constants of the trace.
        consts = {i: (tg.tensor(a) if _is_float_array(a) else a) for i, a in enumerate(s.args)}

        def f(*xs, s=s, positions=positions, consts=consts, cot_t=cot_t):
            args = [consts[i] for i in range(len(s.args))]
            for p, x in zip(positions, xs):
                args[p] = x
            return (apply_op(entry, tuple(args), dict(s.attrs)) * cot_t).sum()

        argnums = tuple(range(len(positions)))
        primals = [s.args[p].copy() for p in positions]
        compiled = tg.grad(f, argnums=argnums)(*primals)
        value, compiled2 = tg.value_and_grad(f, argnums=argnums)(*primals)
        assert isinstance(compiled, tuple) and len(compiled) == len(positions)
        expected_value = float(np.sum(out_ref * cot))
        _assert_close(value, expected_value, rtol=1e-6, atol=1e-9, msg=f"{name} {s.note} value")
        for g, g2, p in zip(compiled, compiled2, positions):
            assert isinstance(g, np.ndarray) and g.shape == s.args[p].shape and g.dtype == s.args[p].dtype, \
                f"{name} {s.note}: gradient {type(g)} {np.shape(g)} for input {p}"
            _assert_close(g2, g, rtol=0, atol=0, msg=f"{name} {s.note} value_and_grad vs grad")

        if not _differentiable(entry) or out_ref.dtype.kind != "f":
            # No gradient flows through comparisons, argmax, detach, integer casts...
            for g, p in zip(compiled, positions):
                _assert_close(g, np.zeros_like(s.args[p]), rtol=0, atol=0, msg=f"{name} {s.note} input {p}")
            checked += 1
            continue

        loss, out, eager = _eager_loss_and_grads(entry, s, positions, cot)
        _assert_close(value, loss, rtol=1e-12, atol=1e-12, msg=f"{name} {s.note}: value vs eager forward")
        for g, e, p in zip(compiled, eager, positions):
            _assert_close(g, e, rtol=1e-9, atol=1e-12, msg=f"{name} {s.note}: compiled vs eager, input {p}")
        if s.grad is not None and not s.grad:
            checked += 1
            continue  # the sample asks for no finite differences (ties, kinks)

        def fd_fn(a, s=s, cot=cot):
            return float(np.sum(_reference(entry, a, s.attrs) * cot))
        # A float32 output (a cast) rounds at 1e-7: wider steps and tolerances.
        eps, rtol, atol = (1e-6, 1e-5, 1e-6) if out_ref.dtype == np.float64 else (1e-3, 1e-3, 1e-4)
        for g, p in zip(compiled, positions):
            _assert_close(g, numeric_grad(fd_fn, list(s.args), p, eps), rtol=rtol, atol=atol,
                          msg=f"{name} {s.note}: compiled vs finite differences, input {p}")
        checked += 1
    if any(_float_positions(entry, s) for s in _samples(name, np.float64)):
        assert checked, f"{name}: no sample exercises the compiled gradient"


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ENTRIES)
def test_compiled_forward_of_every_op(name, dtype):
    """tg.jit with every array argument as a graph input equals the eager op (value, dtype, shape)."""
    entry = TABLE[name]
    for s in _samples(name, dtype):
        arrays = [i for i, a in enumerate(s.args) if isinstance(a, np.ndarray)]
        consts = [a for a in s.args]

        def f(*xs, s=s, arrays=arrays, consts=consts):
            args = list(consts)
            for p, x in zip(arrays, xs):
                args[p] = x
            return apply_op(entry, tuple(args), dict(s.attrs))

        eager = f(*[tg.tensor(s.args[i]) for i in arrays])
        jf = tg.jit(f)
        for _ in range(2):  # the second call runs the cached trace
            out = jf(*[s.args[i] for i in arrays])
            assert isinstance(out, np.ndarray), f"{name} {s.note}: jit of arrays returned {type(out)}"
            assert out.dtype == eager._data.dtype and out.shape == eager._data.shape, \
                f"{name} {s.note}: {out.dtype}{out.shape} vs eager {eager._data.dtype}{eager._data.shape}"
            tol = 1e-6 if np.dtype(dtype) == np.float32 else 1e-12
            np.testing.assert_allclose(out, eager._data, rtol=tol, atol=tol, err_msg=f"{name} {s.note}")
        assert jf.cache_info().traces == 1 and jf.cache_info().hits == 1, (name, s.note, jf.cache_info())


# --------------------------------------------------------------------------
# 2. The seeds under @tg.grad
# --------------------------------------------------------------------------

def _bce_loss(w, b):
    x = tg.ones(5, dtype=w.dtype)
    y = tg.zeros(3, dtype=w.dtype)
    z = tg.matmul(x, w) + b
    return tg.nn.functional.binary_cross_entropy_with_logits(z, y)


@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_seed_one_layer_bce_network(seed, dtype):
    rng = _rng("bce", seed)
    w0 = rng.normal(size=(5, 3)).astype(dtype)
    b0 = rng.normal(size=3).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)

    # Eager, as in the notebook.
    w = tg.tensor(w0, requires_grad=True)
    b = tg.tensor(b0, requires_grad=True)
    loss = _bce_loss(w, b)
    loss.backward()

    # Closed form: z = x @ w + b, dloss/dz = (sigmoid(z) - y) / 3.
    z = np.ones(5) @ w0.astype(np.float64) + b0
    dz = (1.0 / (1.0 + np.exp(-z)) - 0.0) / 3
    loss_cf = np.mean(np.logaddexp(0.0, z))

    g = tg.grad(_bce_loss, argnums=(0, 1))
    for args in ((w0, b0), (tg.tensor(w0), tg.tensor(b0))):
        gw, gb = g(*args)
        assert type(gw) is type(args[0]) and type(gb) is type(args[1])
        assert _arr(gw).dtype == dtype and _arr(gb).dtype == dtype
        _assert_close(gw, w.grad, **tol, msg="dw vs eager")
        _assert_close(gb, b.grad, **tol, msg="db vs eager")
        ctol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        _assert_close(gw, np.outer(np.ones(5), dz), **ctol, msg="dw vs closed form")
        _assert_close(gb, dz, **ctol, msg="db vs closed form")
    value, (gw, gb) = tg.value_and_grad(_bce_loss, argnums=(0, 1))(w0, b0)
    _assert_close(value, loss, **tol)
    _assert_close(value, loss_cf, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert g.cache_info() == (1, 1, 1)  # arrays and Tensors of one shape and dtype share the trace


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_seed_sin_program(seed):
    tg.manual_seed(seed)
    a = tg.randn(3, 4, requires_grad=True)
    out = (2 * tg.sin(a) + 1).sum()
    out.backward()

    @tg.grad
    def f(a):
        b = tg.sin(a)
        c = 2 * b
        d = c + 1
        return d.sum()
    g = f(a.detach())
    assert isinstance(g, Tensor) and g.dtype == tg.float32
    _assert_close(g, 2 * np.cos(a._data.astype(np.float64)), rtol=1e-6, atol=1e-6)
    _assert_close(g, a.grad, rtol=1e-6, atol=1e-7)
    g64 = f(a._data.astype(np.float64))
    _assert_close(g64, 2 * np.cos(a._data.astype(np.float64)), rtol=1e-13, atol=1e-14)


def _doublings(x: np.ndarray) -> int:
    """How many times the seed program multiplies by 2 (computed with plain numpy)."""
    y = x * 2
    k = 1
    while np.sqrt(np.sum(y * y)) < 1000:
        y = y * 2
        k += 1
    return k


def test_seed_while_loop_program_under_grad():
    @tg.grad
    def f(x, v):
        y = x * 2
        while y.data.norm() < 1000:
            y = y * 2
        return (y * v).sum()

    rng = _rng("while")
    base = rng.normal(size=3)
    v = rng.normal(size=3)
    inputs = {"a": base, "b": base * 37.0, "c": base * 1e-3, "d": base * 2000.0, "a2": base * 1.01}
    ks = {n: _doublings(x) for n, x in inputs.items()}
    assert ks["d"] == 1 and ks["a"] == ks["a2"]
    assert len({ks["a"], ks["b"], ks["c"], ks["d"]}) == 4, ks  # four different paths

    order = ["a", "b", "a", "c", "b", "a2", "d", "c", "a", "d", "b"]
    seen_paths = set()
    hits = 0
    for i, n in enumerate(order):
        g = f(inputs[n], v)
        np.testing.assert_array_equal(g, v * 2.0 ** ks[n], err_msg=f"call {i} input {n}")
        if ks[n] in seen_paths:
            hits += 1
        seen_paths.add(ks[n])
        info = f.cache_info()
        assert info.traces == len(seen_paths), (i, n, info)
        assert info.hits == hits and info.misses == len(seen_paths), (i, n, info)
    # Eager agrees for every path.
    for x in inputs.values():
        xt = tg.tensor(x, requires_grad=True)
        y = xt * 2
        while y.data.norm() < 1000:
            y = y * 2
        (y * tg.tensor(v)).sum().backward()
        np.testing.assert_array_equal(f(x, v), xt.grad._data)


# --------------------------------------------------------------------------
# 3. Second derivatives
# --------------------------------------------------------------------------

SECOND = [
    ("sin(x)*x", lambda x: tg.sin(x) * x, lambda x: np.cos(x) * x + np.sin(x),
     lambda x: -np.sin(x) * x + 2 * np.cos(x)),
    ("tanh", tg.tanh, lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    ("x**3", lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x),
    ("exp", tg.exp, np.exp, np.exp),
]


@pytest.mark.parametrize("fn, d1, d2", [c[1:] for c in SECOND], ids=[c[0] for c in SECOND])
def test_second_derivative_closed_forms(fn, d1, d2):
    x = np.array([-1.3, -0.2, 0.4, 1.1, 2.0])
    # Python floats: grad(grad(f)) of a scalar function.
    for x0 in x:
        g1 = tg.grad(lambda t: fn(t))(float(x0))
        g2 = tg.grad(tg.grad(lambda t: fn(t)))(float(x0))
        assert type(g1) is float and type(g2) is float
        assert g1 == pytest.approx(d1(x0), rel=1e-12, abs=1e-12)
        assert g2 == pytest.approx(d2(x0), rel=1e-12, abs=1e-12)
    # Arrays: the second derivative of an elementwise function is diagonal.
    first = tg.grad(lambda t: fn(t).sum())
    second = tg.grad(lambda t: first(t).sum())
    _assert_close(first(x), d1(x), rtol=1e-12, atol=1e-12)
    _assert_close(second(x), d2(x), rtol=1e-12, atol=1e-12)
    # Tensors in, Tensors out.
    out = second(tg.tensor(x))
    assert isinstance(out, Tensor)
    _assert_close(out, d2(x), rtol=1e-12, atol=1e-12)


def test_hessian_of_quadratic_form():
    rng = _rng("hess")
    A = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    At = tg.tensor(A)
    H = tg.hessian(lambda x: x @ At @ x)(x)
    assert np.shape(H) == (4, 4)
    _assert_close(H, A + A.T, rtol=1e-12, atol=1e-12)
    # The gradient and its Jacobian too.
    _assert_close(tg.grad(lambda x: x @ At @ x)(x), (A + A.T) @ x, rtol=1e-12, atol=1e-12)
    # A non-quadratic function: Hessian of sum(x**4) / 4 + prod-free cross term is diag(3 x^2) + A + A.T.
    H2 = tg.hessian(lambda x: (x ** 4).sum() / 4 + x @ At @ x)(x)
    _assert_close(H2, np.diag(3 * x ** 2) + A + A.T, rtol=1e-12, atol=1e-12)


def _mlp_params(rng):
    return rng.normal(size=(3, 4)) * 0.7, rng.normal(size=4) * 0.3, rng.normal(size=(4, 2)) * 0.7


def _mlp_loss(w, X, Y):
    """2-layer tanh MLP on a flat parameter vector."""
    W1 = w[:12].reshape(3, 4)
    b1 = w[12:16]
    W2 = w[16:24].reshape(4, 2)
    h = tg.tanh(X @ W1 + b1)
    out = h @ W2
    return ((out - Y) ** 2).mean()


def test_mlp_hessian_vector_product():
    rng = _rng("mlp")
    W1, b1, W2 = _mlp_params(rng)
    w = np.concatenate([W1.ravel(), b1, W2.ravel()])
    X = tg.tensor(rng.normal(size=(6, 3)))
    Y = tg.tensor(rng.normal(size=(6, 2)))
    v = rng.normal(size=w.shape)
    vt = tg.tensor(v)

    def loss(w):
        return _mlp_loss(w, X, Y)

    def eager_grad(wv):
        t = tg.tensor(wv, requires_grad=True)
        loss(t).backward()
        return t.grad._data

    # First derivative: compiled equals eager.
    _assert_close(tg.grad(loss)(w), eager_grad(w), rtol=1e-12, atol=1e-14)

    hvp = tg.grad(lambda w: (tg.grad(loss)(w) * vt).sum())(w)
    eps = 1e-5
    numeric = (eager_grad(w + eps * v) - eager_grad(w - eps * v)) / (2 * eps)
    _assert_close(hvp, numeric, rtol=1e-6, atol=1e-8)
    # And against the full Hessian.
    H = tg.hessian(loss)(w)
    _assert_close(H, H.T, rtol=1e-10, atol=1e-12)
    _assert_close(H @ v, hvp, rtol=1e-10, atol=1e-12)
    # Eager double backward agrees.
    t = tg.tensor(w, requires_grad=True)
    (g,) = tg.autograd.grad(loss(t), [t], create_graph=True)
    (g * vt).sum().backward()
    _assert_close(hvp, t.grad, rtol=1e-10, atol=1e-12)


def test_gradient_of_value_and_grad_output():
    x = np.array([0.3, -1.2, 2.0])

    def f(x):
        return (tg.sin(x) * x).sum()

    def h(x):
        value, g = tg.value_and_grad(f)(x)
        return value + (g * g).sum()

    s, c = np.sin(x), np.cos(x)
    g = c * x + s
    gg = -s * x + 2 * c
    expected = g + 2 * g * gg  # d/dx [f + sum(f'^2)]
    _assert_close(tg.grad(h)(x), expected, rtol=1e-12, atol=1e-12)
    val, grad_h = tg.value_and_grad(h)(x)
    assert float(val) == pytest.approx(np.sum(s * x) + np.sum(g * g), rel=1e-12)
    _assert_close(grad_h, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# 4. vjp and jacobian
# --------------------------------------------------------------------------

def test_vjp_matches_explicit_jacobian_products():
    rng = _rng("vjp")
    A = rng.normal(size=(3, 4))
    x = rng.normal(size=4)
    At = tg.tensor(A)
    out, f_vjp = tg.vjp(lambda x: At @ tg.sin(x), x)
    _assert_close(out, A @ np.sin(x), rtol=1e-13, atol=1e-14)
    J = A * np.cos(x)[None, :]
    for _ in range(3):
        u = rng.normal(size=3)
        (g,) = f_vjp(u)
        _assert_close(g, u @ J, rtol=1e-12, atol=1e-13)

    # Two primals, two gradients: f(x, y) = outer(x, y) * y, out[i, j] = x_i y_j^2.
    y = rng.normal(size=5)
    out, f_vjp = tg.vjp(lambda x, y: x.reshape(4, 1) * y * y, x, y)
    _assert_close(out, np.outer(x, y * y), rtol=1e-13, atol=1e-14)
    u = rng.normal(size=(4, 5))
    gx, gy = f_vjp(u)
    _assert_close(gx, u @ (y * y), rtol=1e-12, atol=1e-13)
    _assert_close(gy, 2 * y * (x @ u), rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError):
        f_vjp(np.ones(3))

    # Tensors in, Tensors out.
    out, f_vjp = tg.vjp(lambda x: tg.exp(x) * 2.0, tg.tensor(x))
    assert isinstance(out, Tensor)
    (g,) = f_vjp(tg.tensor(np.ones(4)))
    assert isinstance(g, Tensor)
    _assert_close(g, 2 * np.exp(x), rtol=1e-13, atol=1e-14)


def test_jacobian_closed_forms():
    rng = _rng("jac")
    x = rng.normal(size=4)
    J = tg.jacobian(lambda x: tg.sin(x) * x)(x)
    _assert_close(J, np.diag(np.cos(x) * x + np.sin(x)), rtol=1e-13, atol=1e-14)

    A = rng.normal(size=(3, 4))
    At = tg.tensor(A)
    _assert_close(tg.jacobian(lambda x: At @ x)(x), A, rtol=1e-13, atol=1e-14)

    W = rng.normal(size=(3, 4))
    xt = tg.tensor(x)
    # d(W @ x)_i / dW_jk = delta_ij x_k
    Jw = tg.jacobian(lambda W: W @ xt)(W)
    expected = np.einsum("ij,k->ijk", np.eye(3), x)
    _assert_close(Jw, expected, rtol=1e-13, atol=1e-14)
    # argnums=1 of a two-argument function.
    J1 = tg.jacobian(lambda W, x: W @ x, argnums=1)(W, x)
    _assert_close(J1, W, rtol=1e-13, atol=1e-14)
    # Matrix -> matrix: (X @ B)_ij / dX_kl = delta_ik B_lj.
    B = rng.normal(size=(4, 2))
    Bt = tg.tensor(B)
    X = rng.normal(size=(3, 4))
    JX = tg.jacobian(lambda X: X @ Bt)(X)
    _assert_close(JX, np.einsum("ik,lj->ijkl", np.eye(3), B), rtol=1e-13, atol=1e-14)


def test_grad_of_non_scalar_output_raises_type_error_naming_the_shape():
    with pytest.raises(TypeError, match=r"shape \[3\]"):
        tg.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match=r"shape \[2, 3\]"):
        tg.value_and_grad(lambda x: tg.sin(x))(np.ones((2, 3)))


# --------------------------------------------------------------------------
# 5. Argument structures
# --------------------------------------------------------------------------

def test_numpy_array_argument():
    x = np.array([1.0, -2.0, 3.0])
    g = tg.grad(lambda x: (x * x * x).sum())(x)
    assert type(g) is np.ndarray and g.dtype == np.float64
    _assert_close(g, 3 * x * x, rtol=1e-14, atol=0)
    g32 = tg.grad(lambda x: (x * x).sum())(x.astype(np.float32))
    assert type(g32) is np.ndarray and g32.dtype == np.float32
    _assert_close(g32, 2 * x, rtol=1e-7, atol=0)


def test_python_float_argument_gives_python_float():
    g = tg.grad(lambda x: tg.sin(x) * x)(0.7)
    assert type(g) is float
    assert g == pytest.approx(math.cos(0.7) * 0.7 + math.sin(0.7), rel=1e-14)
    value, g = tg.value_and_grad(lambda x, y: x * y + x, argnums=(0, 1))(2.0, 5.0)
    assert float(value) == 12.0
    assert g == (6.0, 2.0) and all(type(v) is float for v in g)


def test_tensor_argument_gives_tensor():
    x = tg.tensor([0.5, 1.5])
    g = tg.grad(lambda x: (x.exp() * 3).sum())(x)
    assert isinstance(g, Tensor) and g.dtype == tg.float32 and not g.requires_grad
    _assert_close(g, 3 * np.exp(np.array([0.5, 1.5], np.float32)), rtol=1e-6, atol=0)


@pytest.mark.parametrize("kind", ["tuple", "list", "dict", "nested"])
def test_structured_arguments_give_structured_gradients(kind):
    rng = _rng("struct", kind)
    a, b, c = rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=2)
    if kind == "tuple":
        params = (a, b)

        def f(p):
            return (p[0] * p[0]).sum() + (p[1] @ a).sum()
        expected = (2 * a, np.broadcast_to(a, (2, 3)))
    elif kind == "list":
        params = [a, b]

        def f(p):
            return (p[0] * p[0]).sum() + (p[1] @ a).sum()
        expected = [2 * a, np.broadcast_to(a, (2, 3))]
    elif kind == "dict":
        params = {"w": b, "b": c}

        def f(p):
            return (tg.tanh(p["w"] @ tg.tensor(a) + p["b"])).sum()
        t = 1 - np.tanh(b @ a + c) ** 2
        expected = {"w": np.outer(t, a), "b": t}
    else:
        params = {"layer": (b, c), "scale": [a]}

        def f(p):
            w, bias = p["layer"]
            return ((w @ p["scale"][0] + bias) ** 2).sum()
        r = b @ a + c
        expected = {"layer": (np.outer(2 * r, a), 2 * r), "scale": [b.T @ (2 * r)]}
    g = tg.grad(f)(params)

    def check(got, exp, path="g"):
        assert type(got) is type(exp) or (isinstance(exp, np.ndarray) and type(got) is np.ndarray), path
        if isinstance(exp, dict):
            assert sorted(got) == sorted(exp), path
            for k in exp:
                check(got[k], exp[k], f"{path}[{k!r}]")
        elif isinstance(exp, (tuple, list)):
            assert len(got) == len(exp), path
            for i, (x, y) in enumerate(zip(got, exp)):
                check(x, y, f"{path}[{i}]")
        else:
            _assert_close(got, exp, rtol=1e-13, atol=1e-14, msg=path)
    check(g, expected)


def test_argnums_tuple():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])

    def f(x, y, z):
        return (x * y * z).sum()
    z = np.array([0.5, 2.0])
    gx, gz = tg.grad(f, argnums=(0, 2))(x, y, z)
    _assert_close(gx, y * z)
    _assert_close(gz, x * y)
    gy = tg.grad(f, argnums=1)(x, y, z)
    _assert_close(gy, x * z)
    (gneg,) = tg.grad(f, argnums=(-1,))(x, y, z)
    _assert_close(gneg, x * y)
    with pytest.raises(ValueError, match="argnums"):
        tg.grad(f, argnums=3)(x, y, z)


def test_has_aux():
    x = np.array([0.1, 0.2, 0.3])

    def f(x):
        y = tg.sin(x)
        return (y * y).sum(), {"y": y, "n": 3}
    g, aux = tg.grad(f, has_aux=True)(x)
    _assert_close(g, 2 * np.sin(x) * np.cos(x), rtol=1e-14)
    assert aux["n"] == 3
    _assert_close(aux["y"], np.sin(x), rtol=1e-15)
    (value, aux), g2 = tg.value_and_grad(f, has_aux=True)(x)
    assert float(value) == pytest.approx(np.sum(np.sin(x) ** 2), rel=1e-14)
    _assert_close(g2, g, rtol=0, atol=0)
    _assert_close(aux["y"], np.sin(x), rtol=1e-15)
    with pytest.raises(TypeError):
        tg.grad(lambda x: (x.sum(), 1, 2), has_aux=True)(x)


@pytest.mark.parametrize("bad", [np.array([1, 2, 3]), 3, np.array([True, False]), tg.tensor([1, 2])],
                         ids=["int-array", "python-int", "bool-array", "int-tensor"])
def test_integer_inputs_to_grad_raise_type_error(bad):
    with pytest.raises(TypeError):
        tg.grad(lambda x: (x * 1.5).sum())(bad)


def test_static_python_scalars_are_part_of_the_cache_key():
    @tg.grad
    def f(x, scale, power):
        return (x ** power * scale).sum()

    x = np.array([1.0, 2.0, 3.0])
    _assert_close(f(x, 2.0, 2), 4 * x, rtol=1e-14)
    assert f.cache_info() == (1, 0, 1)
    _assert_close(f(x, 2.0, 2), 4 * x, rtol=1e-14)
    assert f.cache_info() == (1, 1, 1)
    _assert_close(f(x, 5.0, 2), 10 * x, rtol=1e-14)  # a new float: traced as an input from now on
    assert f.cache_info() == (2, 1, 2)
    _assert_close(f(x, 7.0, 2), 14 * x, rtol=1e-14)  # ... so another value is no new trace
    assert f.cache_info() == (2, 2, 2)
    _assert_close(f(x, 2.0, 3), 6 * x * x, rtol=1e-14)
    assert f.cache_info() == (3, 2, 3)
    _assert_close(f(x * 2, 5.0, 2), 20 * x, rtol=1e-14)  # same scalars, new values: cached
    assert f.cache_info() == (3, 3, 3)
    # A different shape is a new key too.
    _assert_close(f(np.ones(2), 2.0, 2), 4 * np.ones(2), rtol=1e-14)
    assert f.cache_info() == (4, 3, 4)

    # Under jit too, a float is a constant until its value changes, then a traced input.
    jf = tg.jit(lambda x, c: x * c)
    np.testing.assert_array_equal(jf(x, 2.0), 2 * x)
    np.testing.assert_array_equal(jf(x, 3.0), 3 * x)
    np.testing.assert_array_equal(jf(x, 2.0), 2 * x)
    np.testing.assert_array_equal(jf(x, -1.5), -1.5 * x)
    assert jf.cache_info() == (2, 2, 2)


# --------------------------------------------------------------------------
# 6. Compiled region inside an eager training loop
# --------------------------------------------------------------------------

def _training_data():
    rng = _rng("train")
    X = rng.normal(size=(8, 3))
    Y = np.tanh(X @ np.array([1.0, -2.0, 0.5]) + 0.3) + 0.1 * rng.normal(size=8)
    w0 = rng.normal(size=3) * 0.1
    return X, Y, w0


def _make_loss(X, Y):
    Xt, Yt = tg.tensor(X), tg.tensor(Y)

    def loss_fn(w, b):
        pred = tg.tanh(Xt @ w + b)
        return ((pred - Yt) ** 2).mean()
    return loss_fn


def test_jit_in_an_eager_training_loop_matches_eager():
    X, Y, w0 = _training_data()
    loss_fn = _make_loss(X, Y)
    step = tg.jit(loss_fn)
    lr = 0.3

    def train(fn):
        w = tg.tensor(w0.copy(), requires_grad=True)
        b = tg.tensor(0.0, dtype=tg.float64, requires_grad=True)
        losses = []
        for _ in range(5):
            loss = fn(w, b)
            losses.append(loss.item())
            loss.backward()
            with tg.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
            if fn is step:
                assert type(loss.grad_fn).__name__ == "CompiledFunctionBackward"
        return w, b, losses

    we, be, le = train(loss_fn)
    wc, bc, lc = train(step)
    assert wc.dtype == tg.float64
    _assert_close(wc, we, rtol=1e-13, atol=1e-15)
    _assert_close(bc, be, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lc, le, rtol=1e-13)
    assert le[-1] < le[0]


def test_jit_cache_info_counts_calls_that_record_the_tape():
    """cache_info() of a jit function counts the calls made with Tensors that require grad too."""
    X, Y, w0 = _training_data()
    step = tg.jit(_make_loss(X, Y))
    w = tg.tensor(w0.copy(), requires_grad=True)
    b = tg.tensor(0.0, dtype=tg.float64, requires_grad=True)
    for _ in range(5):
        step(w, b).backward()
    # One trace (the shapes never change), re-used by the four later steps.
    assert step.cache_info() == (1, 4, 1)


def test_jit_closed_over_parameter_gets_its_gradient():
    """A parameter the compiled function closes over (not an argument) still receives .grad, as in eager."""
    W0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    x0 = np.array([1.0, -1.0])

    def run(make):
        W = tg.tensor(W0, requires_grad=True)
        x = tg.tensor(x0, requires_grad=True)
        f = make(lambda x: (tg.tanh(x @ W) * 2.0).sum())
        f(x).backward()
        return x.grad, W.grad
    gx_e, gW_e = run(lambda f: f)
    gx_c, gW_c = run(tg.jit)
    _assert_close(gx_c, gx_e, rtol=1e-13, atol=1e-15)
    assert gW_c is not None, "the closed-over parameter lost its gradient"
    _assert_close(gW_c, gW_e, rtol=1e-13, atol=1e-15)


def test_jit_output_mixed_with_eager_ops():
    X, Y, w0 = _training_data()
    loss_fn = _make_loss(X, Y)
    step = tg.jit(loss_fn)

    def run(fn):
        w = tg.tensor(w0.copy(), requires_grad=True)
        b = tg.tensor(0.2, dtype=tg.float64, requires_grad=True)
        total = fn(w, b) * 3.0 + (w * w).sum() + tg.sin(fn(w, b))
        total.backward()
        return total, w.grad, b.grad
    te, gwe, gbe = run(loss_fn)
    tc, gwc, gbc = run(step)
    _assert_close(tc, te, rtol=1e-14, atol=0)
    _assert_close(gwc, gwe, rtol=1e-12, atol=1e-15)
    _assert_close(gbc, gbe, rtol=1e-12, atol=1e-15)

    # Only some inputs require grad: the others get no .grad.
    w = tg.tensor(w0.copy(), requires_grad=True)
    b = tg.tensor(0.2, dtype=tg.float64)
    out = step(w, b)
    out.backward()
    assert b.grad is None
    we = tg.tensor(w0.copy(), requires_grad=True)
    loss_fn(we, b).backward()
    _assert_close(w.grad, we.grad, rtol=1e-12, atol=1e-15)

    # A jit output that is an intermediate of an eager graph.
    h = tg.jit(lambda x: tg.tanh(x) * x)
    x = tg.tensor(np.array([0.3, -0.8, 1.4]), requires_grad=True)
    y = h(x * 2.0)
    assert type(y.grad_fn).__name__ == "CompiledFunctionBackward"
    (y.exp().sum()).backward()
    u = 2 * x._data
    dy = (1 - np.tanh(u) ** 2) * u + np.tanh(u)
    _assert_close(x.grad, np.exp(np.tanh(u) * u) * dy * 2, rtol=1e-13, atol=1e-15)


def test_create_graph_through_compiled_region():
    f = tg.jit(lambda w: (tg.sin(w) * w).sum())
    w0 = np.array([0.4, -1.1, 2.3])
    v = np.array([1.0, 0.5, -2.0])
    w = tg.tensor(w0, requires_grad=True)
    (g,) = tg.autograd.grad(f(w), [w], create_graph=True)
    _assert_close(g, np.cos(w0) * w0 + np.sin(w0), rtol=1e-14, atol=1e-15)
    assert g.requires_grad
    (g * tg.tensor(v)).sum().backward()
    _assert_close(w.grad, (-np.sin(w0) * w0 + 2 * np.cos(w0)) * v, rtol=1e-13, atol=1e-15)

    # Two inputs and a nonlinear coupling: d/dw d/dx (x*w)^2 summed.
    h = tg.jit(lambda x, w: ((x * w) ** 2).sum())
    x = tg.tensor(np.array([1.5, -0.5]), requires_grad=True)
    w = tg.tensor(np.array([0.3, 2.0]), requires_grad=True)
    gx, gw = tg.autograd.grad(h(x, w), [x, w], create_graph=True)
    _assert_close(gx, 2 * x._data * w._data ** 2, rtol=1e-14)
    (gx.sum()).backward()
    _assert_close(w.grad, 4 * x._data * w._data, rtol=1e-14)
    _assert_close(x.grad, 2 * w._data ** 2, rtol=1e-14)


# --------------------------------------------------------------------------
# 7. Inspection
# --------------------------------------------------------------------------

def _inspected(x):
    y = tg.sin(x)
    z = tg.exp(y) * x
    return z.sum()


LINE_SIN = _inspected.__code__.co_firstlineno + 1
LINE_EXP = _inspected.__code__.co_firstlineno + 2
LINE_SUM = _inspected.__code__.co_firstlineno + 3


def test_ir_text_points_at_user_lines():
    f = tg.grad(_inspected)
    x = np.array([0.1, 0.2])
    text = f.ir(x)
    assert "def " in text and "# forward" in text and "# compiled" in text
    for op in ("sin", "exp", "mul", "sum", "cos"):
        assert f" {op} " in text or f" {op}[" in text, op
    assert f"# test_transforms.py:{LINE_SIN}" in text
    assert f"# test_transforms.py:{LINE_EXP}" in text
    assert f"# test_transforms.py:{LINE_SUM}" in text
    for line in text.splitlines():
        if " = sin " in line:
            assert line.rstrip().endswith(f"# test_transforms.py:{LINE_SIN}"), line
        if " = exp " in line:
            assert line.rstrip().endswith(f"# test_transforms.py:{LINE_EXP}"), line
    # The adjoint node (cos) comes from the sin line.
    cos_lines = [line for line in text.splitlines() if " = cos " in line]
    assert cos_lines and all(line.rstrip().endswith(f"# test_transforms.py:{LINE_SIN}") for line in cos_lines)
    # Computing the IR traced once; calling then hits the cache.
    assert f.cache_info().misses == 1
    _assert_close(f(x), np.exp(np.sin(x)) * (np.cos(x) * x + 1), rtol=1e-14)
    assert f.cache_info() == (1, 1, 1)
    graphs = f.graphs(x)
    assert set(graphs) >= {"forward", "compiled"}
    assert str(graphs["forward"]) in text and str(graphs["compiled"]) in text


def test_dump_ir():
    x = np.array([0.1, 0.2])
    text = tg.dump_ir(_inspected, x)
    assert "def " in text and "_inspected(" in text and f"test_transforms.py:{LINE_SIN}" in text
    jf = tg.jit(_inspected)
    jtext = tg.dump_ir(jf, x)
    assert "_inspected(" in jtext and " cos " not in jtext  # no adjoint under jit


def test_dump_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_DUMP", str(tmp_path / "dump"))
    f = tg.grad(_inspected)
    x = np.array([0.1, 0.2])
    f(x)
    files = sorted(os.listdir(tmp_path / "dump"))
    assert files and all(n.endswith(".ir") for n in files), files
    assert any("forward" in n for n in files) and any("compiled" in n for n in files)
    texts = [(tmp_path / "dump" / n).read_text() for n in files]
    assert any(" sin " in t and f"test_transforms.py:{LINE_SIN}" in t for t in texts)
    f(x)  # cached: nothing new
    assert sorted(os.listdir(tmp_path / "dump")) == files
    f(np.ones(3))  # a new trace: new files
    assert len(os.listdir(tmp_path / "dump")) > len(files)


def test_to_dot():
    g = tg.make_ir(_inspected, np.array([0.1, 0.2]))
    dot = tg.to_dot(g)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "sin" in dot and "exp" in dot and "sum" in dot
    assert dot.count("{") == dot.count("}")
