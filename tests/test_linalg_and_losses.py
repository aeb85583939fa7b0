"""torch.linalg, kron, pad and the class losses as users call them: compositions of op-table entries.

The generic op tests cover each entry (inv, det, solve, cholesky_lower, norm, pad, nll_loss, ...);
these check what the Python layer adds (vectors and batches for solve, matrix norms, label
smoothing, weights and N-d input for cross_entropy) against finite differences and closed forms,
and compiled (executor and kernel) against eager.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numeric import numeric_grad

import tracegrad as tg
import tracegrad.nn.functional as F

RNG = np.random.default_rng(5)


def _well_conditioned(*shape):
    return RNG.uniform(-0.5, 0.5, shape) + 2.0 * np.eye(shape[-1])


def _spd(n):
    m = RNG.uniform(-1, 1, (n, n))
    return m @ m.T + n * np.eye(n)


def _eager_value_and_grads(f, args):
    tensors = [tg.tensor(a, requires_grad=True) for a in args]
    out = f(*tensors)
    out.backward()
    return float(out), [t.grad.numpy() for t in tensors]


def _check(f, args, rtol=1e-6, atol=1e-8):
    """Eager against finite differences, then each tier against eager."""
    value, grads = _eager_value_and_grads(f, args)
    for i, g in enumerate(grads):
        fd = numeric_grad(lambda xs: float(f(*[tg.tensor(x) for x in xs])), [np.array(a) for a in args], i)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    for tier in ("executor", "kernel"):
        v, gs = tg.value_and_grad(f, argnums=tuple(range(len(args))), tier=tier)(*args)
        assert math.isclose(float(v), value, rel_tol=rtol, abs_tol=atol), tier
        for g_tier, g in zip(gs, grads):
            np.testing.assert_allclose(g_tier, g, rtol=rtol, atol=atol, err_msg=tier)


def test_solve_takes_vectors_batches_and_the_right_side():
    A, b, B = _well_conditioned(2, 3, 3), RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    x = tg.linalg.solve(tg.tensor(A), tg.tensor(b))
    np.testing.assert_allclose(np.einsum("bij,bj->bi", A, x.numpy()), b, atol=1e-12)
    right = tg.linalg.solve(tg.tensor(A[0]), tg.tensor(B.T), left=False)  # X A = B^T
    np.testing.assert_allclose(right.numpy() @ A[0], B.T, atol=1e-12)
    _check(lambda a, v, m: (tg.linalg.solve(a, v) ** 2).sum() + tg.linalg.solve(a[0], m).sin().sum(), [A, b, B])


def test_inverse_determinant_and_logdet_closed_forms():
    A = _well_conditioned(3, 3)
    inv = tg.linalg.inv(tg.tensor(A)).numpy()
    np.testing.assert_allclose(inv @ A, np.eye(3), atol=1e-12)
    sign, logabs = tg.linalg.slogdet(tg.tensor(-A))
    assert float(sign) == np.sign(np.linalg.det(-A)) and math.isclose(float(logabs), np.log(abs(np.linalg.det(A))))
    # d det / dA = det A^-T; d log|det| / dA = A^-T
    _, (g,) = _eager_value_and_grads(lambda a: tg.linalg.det(a), [A])
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-12)
    _check(lambda a: tg.linalg.det(a) + tg.logdet(a) + (tg.inverse(a) ** 2).sum() + tg.linalg.slogdet(a)[1], [A])


def test_cholesky_reconstructs_and_has_the_symmetric_gradient():
    S = _spd(4)
    L = tg.linalg.cholesky(tg.tensor(S)).numpy()
    np.testing.assert_allclose(L @ L.T, S, atol=1e-12)
    assert np.allclose(np.triu(L, 1), 0)
    _, (g,) = _eager_value_and_grads(lambda s: (tg.linalg.cholesky(s) * tg.tensor(np.arange(16.0).reshape(4, 4))).sum(),
                                     [S])
    np.testing.assert_allclose(g, g.T, atol=1e-12)
    _check(lambda s: tg.linalg.cholesky(s, upper=True).exp().sum(), [S])


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf])
def test_matrix_norms(ord):
    A = RNG.normal(size=(3, 4))
    want = np.linalg.norm(A, ord)
    assert math.isclose(float(tg.linalg.matrix_norm(tg.tensor(A), ord)), want, rel_tol=1e-12)
    _check(lambda a: tg.linalg.matrix_norm(a, ord) * 2.0, [A])


@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, math.inf, -math.inf])
def test_vector_norms_and_their_gradient_at_zero(ord):
    x = RNG.normal(size=(2, 5))
    np.testing.assert_allclose(tg.linalg.vector_norm(tg.tensor(x), ord, dim=1).numpy(),
                               np.linalg.norm(x, ord, axis=1), rtol=1e-12)
    _check(lambda a: tg.linalg.norm(a, ord, dim=1).sum(), [x])
    zero = tg.zeros(3, dtype=tg.float64, requires_grad=True)
    tg.linalg.vector_norm(zero, ord).backward()
    assert np.array_equal(zero.grad.numpy(), np.zeros(3))


def test_the_zero_norm_counts_nonzeros_and_has_a_zero_gradient():
    x = tg.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 3.0]], requires_grad=True)
    count = tg.linalg.vector_norm(x, 0, dim=1)
    assert count.tolist() == [2.0, 1.0] and count.grad_fn.name() == "LinalgVectorNormBackward0"
    count.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_kron_blocks():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 2))
    np.testing.assert_allclose(tg.kron(tg.tensor(a), tg.tensor(b)).numpy(), np.kron(a, b))
    np.testing.assert_allclose(tg.kron(tg.tensor(a[0]), tg.tensor(b)).numpy(), np.kron(a[0], b))
    _check(lambda x, y: (tg.kron(x, y) ** 2).sum(), [a, b])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode):
    x = RNG.normal(size=(1, 2, 3, 4))
    pads = (1, 2, 2, -1) if mode == "constant" else (1, 2, 2, 1)
    numpy_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    if mode == "constant":
        want = np.pad(x[:, :, :2], [(0, 0), (0, 0), (2, 0), (1, 2)], constant_values=0.5)
    else:
        want = np.pad(x, [(0, 0), (0, 0), (2, 1), (1, 2)], mode=numpy_mode)
    got = F.pad(tg.tensor(x), pads, mode=mode, value=0.5 if mode == "constant" else None)
    np.testing.assert_allclose(got.numpy(), want)
    _check(lambda t: (F.pad(t, pads, mode=mode) ** 2).sum(), [x])


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2), (2, 3, 5), (3,)])
def test_cross_entropy_with_weights_ignored_targets_and_smoothing(shape):
    x = RNG.normal(size=shape)
    class_dim = 1 if len(shape) > 1 else 0
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = RNG.integers(0, 3, size=target_shape)
    if target.ndim:
        target.reshape(-1)[0] = 1  # ignored below
    else:
        target = np.array(2)  # one sample, not ignored (all ignored is 0 / 0, NaN as in PyTorch)
    weight = np.array([0.5, 2.0, 1.0])

    def by_hand(logits):
        logp = logits - np.log(np.exp(logits).sum(class_dim, keepdims=True))
        logp = np.moveaxis(logp, class_dim, -1)
        t = np.asarray(target)
        keep = t != 1
        w = weight[t] * keep
        nll = -(np.take_along_axis(logp, t[..., None], -1)[..., 0] * w).sum() / w.sum()
        smooth = -((logp * weight).sum(-1) * keep).sum() / w.sum()
        return 0.9 * nll + 0.1 / 3 * smooth

    def loss(logits):
        return F.cross_entropy(logits, tg.tensor(target), weight=tg.tensor(weight), ignore_index=1,
                               label_smoothing=0.1)
    if target.ndim:
        assert math.isclose(float(loss(tg.tensor(x))), by_hand(x), rel_tol=1e-12)
    _check(loss, [x])
