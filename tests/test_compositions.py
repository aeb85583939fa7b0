"""Every transform composed with every other: compiled against eager composition and finite differences.

Each transform is adapted to map a function ``x -> tensor`` to another such function (gradients
of a non-linear scalarisation where the transform needs a scalar), so any chain of them is
defined.  The compiled chain is called on several inputs in a row -- a value baked in at the
first trace fails on the next -- and compared with the same chain built from the eager tape
(``tg.autograd.grad(create_graph=True)``), and its outermost derivative with central
differences of the eager inner function.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numeric import numeric_jacobian

import tracegrad as tg
from tracegrad._transforms import TRANSFORMS


def scalarize(y):
    """A non-linear scalar of any tensor, so that second derivatives through it are not trivial."""
    return (tg.sin(y) + 0.5 * y * y).sum()


def cotangent(out):
    """A cotangent that depends on the output (so the vjp's cotangent is traced too)."""
    return tg.cos(out) + 1.0


# ---------------------------------------------------------------- compiled transforms
COMPILED = {
    "grad": lambda g: tg.grad(lambda x: scalarize(g(x))),
    "value_and_grad": lambda g: (lambda x: _value_plus_grad(tg.value_and_grad(lambda z: scalarize(g(z)))(x))),
    "vjp": lambda g: (lambda x: _vjp_with_own_cotangent(g, x)),
    "jit": lambda g: tg.jit(g),
    "jacobian": lambda g: tg.jacobian(g),
    "hessian": lambda g: tg.hessian(lambda x: scalarize(g(x))),
}


def _value_plus_grad(vg):
    value, gradient = vg
    return gradient * value


def _vjp_with_own_cotangent(g, x):
    out, f_vjp = tg.vjp(g, x)
    return f_vjp(cotangent(out))[0]


# ---------------------------------------------------------------- the same on the eager tape
def _tape_grad(y, x):
    (g,) = tg.autograd.grad(y, x, create_graph=True, allow_unused=True)
    return tg.zeros_like(x) if g is None else g


def _tape_jacobian(g):
    def jac(x):
        y = g(x)
        rows = [_tape_grad(y.reshape(-1)[k], x) for k in range(y.numel())]
        return tg.stack(rows).reshape(tuple(y.shape) + tuple(x.shape))
    return jac


def _tape_vjp(g, x):
    out = g(x)
    (gx,) = tg.autograd.grad(out, x, grad_outputs=cotangent(out), create_graph=True, allow_unused=True)
    return tg.zeros_like(x) if gx is None else gx


EAGER = {
    "grad": lambda g: (lambda x: _tape_grad(scalarize(g(x)), x)),
    "value_and_grad": lambda g: (lambda x: _tape_grad(scalarize(g(x)), x) * scalarize(g(x))),
    "vjp": lambda g: (lambda x: _tape_vjp(g, x)),
    "jit": lambda g: g,
    "jacobian": _tape_jacobian,
    "hessian": lambda g: _tape_jacobian(lambda x: _tape_grad(scalarize(g(x)), x)),
}


def _fd_derivative(name, inner_eager, x, eps=1e-6):
    """The outermost transform `name` of `inner_eager` by central differences (None for jit)."""
    def at(z):
        t = tg.tensor(z, requires_grad=True)
        return inner_eager(t).detach().numpy().astype(np.float64)

    def fd_jac(fun):
        return numeric_jacobian(fun, x, eps)

    if name == "jit":
        return None
    if name == "jacobian":
        return fd_jac(at)
    scalar = lambda z: np.array(float(scalarize(tg.tensor(at(z)))))  # noqa: E731
    if name == "grad":
        return fd_jac(scalar)
    if name == "value_and_grad":
        return fd_jac(scalar) * scalar(x)
    if name == "hessian":
        def grad_at(z):
            t = tg.tensor(z, requires_grad=True)
            return _tape_grad(scalarize(inner_eager(t)), t).detach().numpy()
        return fd_jac(grad_at)
    if name == "vjp":
        jac = fd_jac(at)
        out = at(x)
        ct = np.cos(out) + 1.0
        return np.tensordot(ct, jac, axes=out.ndim)
    raise AssertionError(name)


def base(x):
    return tg.sin(x) * x + x[0] * x[1] * tg.exp(0.3 * x)


INPUTS = [np.array([0.3, -0.7, 1.2, 0.5]), np.array([1.1, 0.2, -0.4, 0.9]), np.array([-0.5, 0.8, 0.3, -1.3])]


def chain(table, names, g=base):
    for name in reversed(names):  # names[0] is the outermost
        g = table[name](g)
    return g


def test_adapters_cover_every_transform():
    assert set(COMPILED) == set(TRANSFORMS) == set(EAGER)


def _check_chain(names):
    compiled = chain(COMPILED, names)
    eager = chain(EAGER, names)
    inner_eager = chain(EAGER, names[1:])
    for x in INPUTS:  # several inputs per compiled function: a first value baked in fails later
        got = np.asarray(compiled(x))
        want = eager(tg.tensor(x, requires_grad=True)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"{names} vs eager at {x}")
        fd = _fd_derivative(names[0], inner_eager, x)
        if fd is not None:
            np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-5, err_msg=f"{names} vs finite differences")


# Composition is decided before lowering (tracing, inlining, the adjoint), so every chain runs on
# the reference interpreter; the chains below also run through numba kernels.  Chains of two
# second-order transforms make graphs whose numba compile takes minutes today (a known
# compile-time limit), so those stay on the interpreter.
ON_KERNELS = [("jit", "hessian"), ("jit", "jacobian"), ("jit", "vjp"), ("grad", "vjp"), ("grad", "jit"),
              ("value_and_grad", "jit"), ("vjp", "grad"), ("jacobian", "jit"), ("grad", "grad"),
              ("hessian", "jit"), ("jit", "value_and_grad"), ("vjp", "jit")]


@pytest.mark.parametrize("names", list(itertools.product(TRANSFORMS, repeat=2)), ids="-".join)
def test_pair(names, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpreter")
    _check_chain(names)


@pytest.mark.parametrize("names", ON_KERNELS, ids="-".join)
def test_pair_on_kernels(names, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    _check_chain(names)


TRIPLES = [("jit", "grad", "hessian"), ("grad", "jit", "vjp"), ("hessian", "jit", "grad"),
           ("vjp", "jacobian", "jit"), ("value_and_grad", "vjp", "grad"), ("jacobian", "hessian", "jit")]


@pytest.mark.parametrize("names", TRIPLES, ids="-".join)
def test_triple(names, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpreter")
    _check_chain(names)


def test_composition_on_the_eager_tape():
    """A transform called on tensors that require grad keeps its result on the tape (grad of grad by .backward)."""
    x = tg.tensor(INPUTS[0], requires_grad=True)
    g = tg.grad(lambda z: (z ** 3).sum())(x)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * INPUTS[0])


def test_check_mode_sees_inner_transforms():
    """check=True runs the function eagerly; an inner vjp must stay differentiable there."""
    def h(x):
        out, f_vjp = tg.vjp(lambda y: tg.sin(y) * y, x)
        return f_vjp(x * x)[0].sum()
    g = tg.grad(h, check=True)
    for x in INPUTS:
        want = tg.tensor(x, requires_grad=True)
        (expected,) = tg.autograd.grad(h(want), want)
        np.testing.assert_allclose(g(x), expected.numpy(), rtol=1e-10)
