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


def _check(f, args, rtol=1e-6, atol=1e-8, tiers=("executor", "kernel")):
    """Eager against finite differences, then each tier against eager."""
    value, grads = _eager_value_and_grads(f, args)
    for i, g in enumerate(grads):
        fd = numeric_grad(lambda xs: float(f(*[tg.tensor(x) for x in xs])), [np.array(a) for a in args], i)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    for tier in tiers:
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


def _cofactors_by_minors(a):
    n = a.shape[0]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("rank", [3, 2, 1, 0])
def test_det_gradient_is_the_cofactor_matrix_at_singular_matrices_too(rank):
    """Jacobi's formula without the inverse: rank n - 1 has a nonzero gradient, lower ranks a zero one."""
    a = RNG.normal(size=(3, rank)) @ RNG.normal(size=(rank, 3)) if rank else np.zeros((3, 3))
    _, (g,) = _eager_value_and_grads(lambda m: tg.linalg.det(m), [a])
    np.testing.assert_allclose(g, _cofactors_by_minors(a), atol=1e-12)
    fd = numeric_grad(lambda xs: float(tg.linalg.det(tg.tensor(xs[0]))), [a], 0)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    _, g_executor = tg.value_and_grad(lambda m: tg.linalg.det(m), tier="executor")(a)
    np.testing.assert_allclose(g_executor, g, atol=1e-13)


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


def test_decompositions_reconstruct_their_matrix():
    S, A, W = _spd(4), RNG.normal(size=(2, 5, 3)), RNG.normal(size=(3, 5))
    values, vectors = (t.numpy() for t in tg.linalg.eigh(tg.tensor(S)))
    np.testing.assert_allclose((vectors * values) @ vectors.T, S, atol=1e-12)
    assert np.all(np.diff(values) > 0) and np.allclose(tg.linalg.eigvalsh(tg.tensor(S)).numpy(), values)
    for m, full in ((A, False), (A, True), (W, True)):
        u, s, vh = (t.numpy() for t in tg.linalg.svd(tg.tensor(m), full_matrices=full))
        k = min(m.shape[-2:])
        np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], m, atol=1e-12)
        np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2]
                                   + (u.shape[-1],) * 2), atol=1e-12)
        np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), rtol=1e-12)
    for m, mode in ((A, "reduced"), (A, "complete"), (W, "reduced"), (W, "complete")):
        q, r = (t.numpy() for t in tg.linalg.qr(tg.tensor(m), mode))
        np.testing.assert_allclose(q @ r, m, atol=1e-12)
        assert np.allclose(np.tril(r, -1), 0) and q.shape[-1] == (m.shape[-2] if mode == "complete" else 3)
    q, r = tg.linalg.qr(tg.tensor(A), "r")
    assert q.shape == (0,) and r.shape == (2, 3, 3)
    u, s, v = tg.svd(tg.tensor(W))
    np.testing.assert_allclose(((u * s) @ v.mT).numpy(), W, atol=1e-12)


def test_decomposition_gradients_against_finite_differences_and_the_tiers():
    """Every output of eigh, svd (tall and wide) and qr (tall and wide) in one loss; the loss depends on
    each singular or eigen vector only up to its sign (as it must to be differentiable: LAPACK picks the
    signs)."""
    S = _spd(3) + np.diag([0.0, 2.0, 5.0])  # well-separated eigenvalues
    tall, wide = RNG.normal(size=(4, 3)), RNG.normal(size=(2, 4))
    weights = tg.tensor(np.arange(1.0, 5.0))

    def loss(s, t, w):
        values, vectors = tg.linalg.eigh(s)
        total = (values ** 2).sum() + (vectors[0] ** 2 * values).sum()
        for m in (t, w):
            u, sv, vh = tg.linalg.svd(m, full_matrices=False)
            total = total + sv.sum() + (u[:, 0] ** 2 * weights[:u.shape[0]]).sum() + (vh[0] ** 4).sum()
            q, r = tg.linalg.qr(m)
            total = total + (q * q.sum(0)).sum() + (r.diagonal() ** 2).sum() + (r[0] * r[0, 0]).sum()
        return total + tg.linalg.matrix_norm(t, 2) + tg.linalg.matrix_norm(w, "nuc") - tg.linalg.matrix_norm(t, -2)
    # Executor only: each entry's kernel is checked against the interpreter by test_backends, and this
    # loss's kernel would take a minute and a half to compile.
    _check(loss, [S, tall, wide], rtol=1e-9, atol=1e-10, tiers=("executor",))


def test_decomposition_errors_are_pytorchs():
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices, but they are 2 by 3"):
        tg.linalg.eigh(tg.ones(2, 3))
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U', but got X"):
        tg.linalg.eigh(tg.ones(2, 2), UPLO="X")
    with pytest.raises(RuntimeError, match="linalg.svd: The input tensor A must have at least 2 dimensions."):
        tg.linalg.svd(tg.ones(2))
    with pytest.raises(RuntimeError, match="linalg.qr: Expected a floating point or complex tensor as input. Got Long"):
        tg.linalg.qr(tg.ones(2, 2, dtype=tg.int64))
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'x'"):
        tg.linalg.qr(tg.ones(2, 2), mode="x")
    a = tg.tensor(RNG.normal(size=(3, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        tg.linalg.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        tg.linalg.qr(a, mode="complete").Q.sum().backward()
    assert a.grad is None
    q, r = tg.linalg.qr(a.detach().mT, mode="complete")  # wide: complete is reduced, and differentiable
    assert q.shape == (2, 2) and r.shape == (2, 3)


def test_full_matrices_vectors_beyond_the_rank_get_no_gradient():
    """PyTorch's rule: the extra columns of U (or rows of Vh) of full_matrices are an arbitrary completion."""
    a = tg.tensor(RNG.normal(size=(4, 2)), requires_grad=True)
    u, _, _ = tg.linalg.svd(a)
    u[:, 2:].sum().backward()
    assert np.array_equal(a.grad.numpy(), np.zeros((4, 2)))


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
