"""Batching rules (the op table's ``Op.batch``) and the batched Jacobians and Hessians built on them.

The generic tests read the op table: every primitive and composite, every
sample, every way of choosing which inputs carry the batch axis, checked
against applying the op to each batch row with its numpy implementation --
on numpy arrays through the rule directly, and as IR through
:func:`~tracegrad.ir.batching.vmap_graph` and the reference interpreter.  An
op without a rule fails here; so does one that falls back to per-row
application without being listed in PER_ROW.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from numeric import Cube, numeric_jacobian

import tracegrad as tg
from tracegrad.compiler.backend import compile_graph
from tracegrad.ir.batching import Batched, BatchEmitter, vmap_graph
from tracegrad.ir.graph import Graph, GraphBuilder, const_value
from tracegrad.ir.interpret import interpret
from tracegrad.ir.ops import NUMPY, OPS, TABLE, Composite, batch_per_row
from tracegrad.ir.types import TensorType
from tracegrad.ir.verify import verify

ROWS = 3
#: ops whose rule applies them row by row (exact, one node per row); index and index_add fall back to
#: it only when their index arrays differ per row (test_per_row_fallback_unrolls_one_op_per_row)
PER_ROW: set[str] = set()


def _samples(name, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{name} {np.dtype(dtype).name}".encode()))
    return TABLE[name].samples(rng, np.dtype(dtype))


def _row(arg, i):
    """Row `i` of a batch made from a sample argument: different values, same shape, dtype and validity."""
    if arg.dtype.kind == "f":
        return (arg * (1.0 + 0.25 * i) + 0.125 * i).astype(arg.dtype)
    if arg.dtype == np.bool_:
        return np.logical_xor(arg, i % 2 == 1)
    return np.roll(arg, i)  # index arrays and targets: the same entries, so still in range


def _patterns(args):
    """Which inputs carry the batch axis: each array input alone, and every array input."""
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    patterns = [(i,) for i in arrays]
    if len(arrays) > 1:
        patterns.append(tuple(arrays))
    return patterns


def _reference(entry, args, attrs):
    if isinstance(entry, Composite):
        return np.asarray(entry.decompose(NUMPY, *args, **attrs))
    return np.asarray(entry.impl(*args, **attrs))


def _cases():
    for name in sorted(TABLE):
        for dtype in (np.float32, np.float64):
            for k, sample in enumerate(_samples(name, dtype)):
                for pattern in _patterns(sample.args):
                    yield pytest.param(name, np.dtype(dtype), k, pattern,
                                       id=f"{name}-{np.dtype(dtype).name}-{k}-{'+'.join(map(str, pattern))}")


def _batch_inputs(args, pattern):
    rows = [[_row(a, i) if j in pattern else a for j, a in enumerate(args)] for i in range(ROWS)]
    stacked = [np.stack([r[j] for r in rows]) if j in pattern else a for j, a in enumerate(args)]
    return rows, stacked


def _close(got, want, dtype):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def test_every_op_has_a_batching_rule():
    missing = [name for name, op in OPS.items() if op.batch is None]
    assert not missing, f"ops without a batching rule (Op.batch): {missing}"
    assert {name for name, op in OPS.items() if op.batch is batch_per_row} == PER_ROW


@pytest.mark.parametrize("name,dtype,k,pattern", list(_cases()))
def test_batching_rule_matches_rows(name, dtype, k, pattern):
    entry = TABLE[name]
    sample = _samples(name, dtype)[k]
    rows, stacked = _batch_inputs(sample.args, pattern)
    with np.errstate(all="ignore"):
        want = np.stack([_reference(entry, r, sample.attrs) for r in rows])
    # On numpy arrays, through the rule itself (or the decomposition, for composites).
    E = BatchEmitter(NUMPY)
    with np.errstate(all="ignore"):  # rows outside an op's domain give NaN, as they do row by row
        got = E.apply(name, *[Batched(a) if j in pattern else a for j, a in enumerate(stacked)], **sample.attrs)
    _close(np.asarray(got.value), want, dtype)
    # As IR: a one-op graph of single rows, batched by vmap_graph, run by the reference interpreter.
    b = GraphBuilder(Graph(name=name))
    row_inputs = [b.input(TensorType(a.dtype, a.shape)) if isinstance(a, np.ndarray) else a for a in sample.args]
    b.graph.outputs = [b.apply(name, *row_inputs, **sample.attrs)]
    single = b.graph
    outer = GraphBuilder(Graph(name=f"{name}_batched"))
    ins = []
    for j, a in enumerate(stacked):
        if not isinstance(a, np.ndarray):
            continue
        v = outer.input(TensorType(a.dtype, a.shape))
        ins.append(Batched(v) if j in pattern else v)
    outer.graph.outputs = vmap_graph(single, outer, ins, ROWS)
    verify(outer.graph)
    arrays = [a for a in stacked if isinstance(a, np.ndarray)]
    _close(np.asarray(interpret(outer.graph, arrays)[0]), want, dtype)
    # And on the executor, the tier compiled functions start on (kernels are covered by the Jacobian tests).
    with np.errstate(all="ignore"):
        got = compile_graph(outer.graph, "executor")(arrays)[0]
    _close(np.asarray(got), want, dtype)


def test_per_row_fallback_unrolls_one_op_per_row():
    """Index arrays that differ per row have no single numpy index: the rule emits one index per row."""
    x = np.arange(12.0).reshape(3, 4)
    idx = np.array([[0, 2], [1, 1], [3, 0]])
    b = GraphBuilder(Graph())
    xv, iv = b.input(TensorType(x.dtype, (4,))), b.input(TensorType(idx.dtype, (2,)))
    b.graph.outputs = [b.index(xv, iv, spec=(("array",),))]
    outer = GraphBuilder(Graph())
    ins = [Batched(outer.input(TensorType(x.dtype, x.shape))), Batched(outer.input(TensorType(idx.dtype, idx.shape)))]
    outer.graph.outputs = vmap_graph(b.graph, outer, ins, 3)
    assert [n.op for n in outer.graph.nodes].count("index") == 3 * 3  # per row: a row of x, of idx, the gather
    assert any(n.op == "concat" for n in outer.graph.nodes)
    np.testing.assert_array_equal(interpret(outer.graph, [x, idx])[0], np.take_along_axis(x, idx, axis=1))


def _custom_scale():
    """A custom_vjp of two inputs: x * w * w, with the backward (g w^2, 2 g x w) as a graph."""
    t = TensorType(np.dtype(np.float64), (3,))
    f = GraphBuilder(Graph(name="scale_fwd"))
    x, w = f.input(t), f.input(t)
    f.graph.outputs = [f.mul(f.mul(x, w), w)]
    b = GraphBuilder(Graph(name="scale_bwd"))
    xb, wb, gb = b.input(t), b.input(t), b.input(t)
    b.graph.outputs = [b.mul(b.mul(gb, wb), wb), b.mul(b.mul(b.mul(gb, xb), wb), 2.0)]
    return f.graph, b.graph


def test_custom_vjp_batches_its_sub_graphs():
    """One custom_vjp node for the whole batch; its backward gives a shared input the sum of the rows' gradients."""
    fwd, bwd = _custom_scale()
    rng = _rng("custom")
    xs, w, gs = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(4, 3))
    B = GraphBuilder(Graph())
    xv, wv = B.input(TensorType(xs.dtype, xs.shape)), B.input(TensorType(w.dtype, w.shape))
    B.graph.outputs = [BatchEmitter(B).custom_vjp(Batched(xv), wv, fwd=fwd, bwd=bwd).value]
    verify(B.graph)
    assert [n.op for n in B.graph.nodes] == ["custom_vjp"]
    np.testing.assert_allclose(interpret(B.graph, [xs, w])[0], xs * w * w, rtol=1e-14)
    gx, gw = interpret(B.graph.nodes[0].attrs["bwd"], [xs, w, gs])
    np.testing.assert_allclose(gx, gs * w * w, rtol=1e-14)
    np.testing.assert_allclose(gw, (2 * gs * xs * w).sum(axis=0), rtol=1e-13)


def test_shared_outputs_are_repeated_per_row():
    b = GraphBuilder(Graph())
    xv, yv = b.input(TensorType(np.dtype(np.float64), (2,))), b.input(TensorType(np.dtype(np.float64), (2,)))
    b.graph.outputs = [b.mul(xv, 2.0), b.sin(yv), const_value(np.array(1.5))]
    outer = GraphBuilder(Graph())
    x, y = np.array([1.0, 2.0]), np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    ins = [outer.input(TensorType(x.dtype, x.shape)), Batched(outer.input(TensorType(y.dtype, y.shape)))]
    outer.graph.outputs = vmap_graph(b.graph, outer, ins, 3)
    got = interpret(outer.graph, [x, y])
    np.testing.assert_allclose(got[0], np.tile(x * 2, (3, 1)))
    np.testing.assert_allclose(got[1], np.sin(y))
    np.testing.assert_allclose(got[2], np.full(3, 1.5))


def test_patterns_cover_every_input_of_every_sample():
    """Every array input of every sample is batched by some case (the generic test's own coverage)."""
    for name in TABLE:
        for sample in _samples(name, np.float64):
            covered = set(itertools.chain.from_iterable(_patterns(sample.args)))
            assert covered == {i for i, a in enumerate(sample.args) if isinstance(a, np.ndarray)}


# --------------------------------------------------------------------------
# Jacobians and Hessians: one batched graph
# --------------------------------------------------------------------------

BACKENDS = ["interpreter", "executor", "numba"]


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _fd_jacobian(f, x, eps=1e-6):
    """Central differences of the eager function (float64)."""
    return numeric_jacobian(lambda z: np.asarray(f(tg.tensor(z)).detach().numpy(), dtype=np.float64), x, eps)


def _fd_hessian(f, x, eps=1e-5):
    def grad_at(z):
        t = tg.tensor(z, requires_grad=True)
        (g,) = tg.autograd.grad(f(t), [t])
        return g.numpy()
    return numeric_jacobian(grad_at, x, eps)


A = _rng("A").normal(size=(5, 4))
B = _rng("B").normal(size=(4, 3))
IDX = np.array([3, 0, 0, 2])

# name: (function, input shape, closed form of the Jacobian at x)
JACOBIANS = {
    "elementwise": (lambda x: tg.sin(x) * x + tg.exp(0.5 * x), (4,),
                    lambda x: np.diag(np.cos(x) * x + np.sin(x) + 0.5 * np.exp(0.5 * x))),
    "matmul": (lambda x: tg.tanh(tg.tensor(A) @ x), (4,),
               lambda x: (1 - np.tanh(A @ x) ** 2)[:, None] * A),
    "matrix_matmul": (lambda X: X @ tg.tensor(B), (2, 4),
                      lambda X: np.einsum("ik,lj->ijkl", np.eye(2), B)),
    "sum_over_axis": (lambda x: (x * x).sum(dim=1), (3, 4),
                      lambda x: np.einsum("ij,ik->ijk", np.eye(3), 2 * x)),
    "max_over_axis": (lambda x: x.amax(dim=0), (3, 4),
                      lambda x: np.eye(3)[np.argmax(x, axis=0)].T[:, :, None].transpose(1, 0, 2)
                      * np.eye(4)[:, None, :]),
    "softmax": (lambda x: tg.nn.functional.softmax(x, dim=0), (5,),
                lambda x: (lambda s: np.diag(s) - np.outer(s, s))(np.exp(x) / np.exp(x).sum())),
    "gather_with_repeats": (lambda x: x[tg.tensor(IDX)] * 2.0, (5,),
                            lambda x: 2.0 * np.eye(5)[IDX]),
    "slices": (lambda x: x[1:, ::2] ** 2, (3, 4),
               lambda x: np.einsum("ik,jl,ij->ijkl", np.eye(3)[1:], np.eye(4)[::2], 2 * x[1:, ::2])),
    "broadcasting": (lambda x: x.reshape(3, 1) * tg.tensor(np.arange(1.0, 5.0)) + x.sum(), (3,),
                     lambda x: np.eye(3)[:, None, :] * np.arange(1.0, 5.0)[None, :, None] + 1.0),
    "concat": (lambda x: tg.cat([x * 2.0, x ** 2]), (3,),
               lambda x: np.concatenate([2 * np.eye(3), np.diag(2 * x)])),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(JACOBIANS))
def test_jacobian_closed_forms_and_differences(name, backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    fn, shape, closed = JACOBIANS[name]
    f = lambda x: fn(x)  # noqa: E731 -- a fresh function: its transforms are cached on it, per backend
    jac = tg.jacobian(f)
    rng = _rng(name)
    for _ in range(3):  # several inputs per compiled function: a first value baked in fails later
        x = rng.normal(size=shape)
        got = jac(x)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_allclose(got, closed(x), rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got, _fd_jacobian(f, x), rtol=1e-6, atol=1e-7, err_msg=name)
    assert jac.cache_info().traces == 1


HESSIANS = {
    "quartic_plus_quadratic": (lambda x: (x ** 4).sum() / 4 + x @ tg.tensor(A[:4]) @ x, (4,),
                               lambda x: np.diag(3 * x ** 2) + A[:4] + A[:4].T),
    "logsumexp": (lambda x: tg.nn.functional.logsumexp(x, dim=0), (5,),
                  lambda x: (lambda s: np.diag(s) - np.outer(s, s))(np.exp(x) / np.exp(x).sum())),
    "tanh_layer": (lambda x: (tg.tanh(tg.tensor(A) @ x) ** 2).sum(), (4,), None),
    "matrix_input": (lambda X: (tg.sin(X) * X).sum() + (X @ tg.tensor(B)).pow(2).sum(), (2, 4), None),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(HESSIANS))
def test_hessian_closed_forms_and_differences(name, backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    fn, shape, closed = HESSIANS[name]
    f = lambda x: fn(x)  # noqa: E731
    hess = tg.hessian(f)
    rng = _rng(name)
    for _ in range(3):
        x = rng.normal(size=shape)
        got = hess(x)
        assert got.shape == shape + shape
        if closed is not None:
            np.testing.assert_allclose(got, closed(x), rtol=1e-11, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got, _fd_hessian(f, x), rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(got.reshape(x.size, x.size), got.reshape(x.size, x.size).T, rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_of_pytrees_and_several_arguments(backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)

    def f(p, s):
        return {"a": p["w"] * p["b"] * s, "n": (tg.sin(p["w"]).sum(), p["b"][::-1] + s * s)}
    jac = tg.jacobian(f, argnums=(0, 1))
    rng = _rng("pytree")
    for _ in range(3):
        p = {"w": rng.normal(size=3), "b": rng.normal(size=3)}
        s = rng.normal(size=3)
        (ja, js) = jac(p, s)["a"]
        np.testing.assert_allclose(ja["w"], np.diag(p["b"] * s), rtol=1e-13)
        np.testing.assert_allclose(ja["b"], np.diag(p["w"] * s), rtol=1e-13)
        np.testing.assert_allclose(js, np.diag(p["w"] * p["b"]), rtol=1e-13)
        (jsum, jsum_s), (jrev, jrev_s) = jac(p, s)["n"]
        np.testing.assert_allclose(jsum["w"], np.cos(p["w"]), rtol=1e-13)
        np.testing.assert_allclose(jsum["b"], np.zeros(3))
        np.testing.assert_allclose(jsum_s, np.zeros(3))
        np.testing.assert_allclose(jrev["b"], np.eye(3)[::-1])
        np.testing.assert_allclose(jrev_s, np.diag(2 * s), rtol=1e-13)


def test_jacobian_of_float32_integer_and_constant_outputs():
    jac = tg.jacobian(lambda x: (x * 3.0, x.argmax(), tg.ones(2, dtype=tg.float32)))
    for x in (np.array([1.0, 5.0, 2.0], np.float32), np.array([4.0, -1.0, 0.5], np.float32)):
        j_scaled, j_index, j_const = jac(x)
        assert j_scaled.dtype == np.float32
        np.testing.assert_allclose(j_scaled, 3 * np.eye(3))
        np.testing.assert_array_equal(j_index, np.zeros(3, np.float32))
        np.testing.assert_array_equal(j_const, np.zeros((2, 3), np.float32))


def test_jacobian_with_respect_to_a_python_float_and_with_tensors():
    jac = tg.jacobian(lambda x, a: tg.exp(a * x), argnums=(0, 1))
    x = np.array([0.5, -1.0])
    for a in (0.3, 0.7, 1.1):
        jx, ja = jac(x, a)
        np.testing.assert_allclose(jx, np.diag(a * np.exp(a * x)), rtol=1e-13)
        np.testing.assert_allclose(ja, x * np.exp(a * x), rtol=1e-13)
    jx, ja = jac(tg.tensor(x), 0.5)
    assert isinstance(jx, tg.Tensor) and isinstance(ja, tg.Tensor)
    np.testing.assert_allclose(ja.numpy(), x * np.exp(0.5 * x), rtol=1e-13)


def test_jacobian_graph_is_batched_not_unrolled():
    """The compiled graph has as many nodes for 40 outputs as for 10: the rows are a batch axis, not copies."""
    sizes = {}
    for n in (10, 40):
        W = tg.tensor(_rng("unrolled", n).normal(size=(n, n)))
        jac = tg.jacobian(lambda x, W=W: tg.tanh(W @ x) * x)
        sizes[n] = len(jac.graphs(np.ones(n))["compiled"].nodes)
    assert sizes[10] == sizes[40]


def test_jacobian_on_the_eager_tape_stays_differentiable():
    """Called on tensors that require grad, jacobian runs on the tape: its result can be differentiated again."""
    jac = tg.jacobian(lambda x: x ** 3)
    for x0 in (np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -0.5])):
        x = tg.tensor(x0, requires_grad=True)
        J = jac(x)
        assert isinstance(J, tg.Tensor) and J.grad_fn is not None
        np.testing.assert_allclose(J.detach().numpy(), np.diag(3 * x0 ** 2), rtol=1e-13)
        J.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 6 * x0, rtol=1e-13)


def test_keyword_arguments_reach_the_function_compiled_and_on_the_tape():
    jac = tg.jacobian(lambda x, scale=1.0, power=2: scale * x ** power)
    x0 = np.array([0.5, -1.0, 2.0])
    for scale in (2.0, 3.0):
        np.testing.assert_allclose(jac(x0, scale=scale, power=3), np.diag(3 * scale * x0 ** 2), rtol=1e-13)
        x = tg.tensor(x0, requires_grad=True)
        J = jac(x, scale=scale, power=3)
        assert J.grad_fn is not None
        np.testing.assert_allclose(J.detach().numpy(), np.diag(3 * scale * x0 ** 2), rtol=1e-13)


def test_jacobian_past_the_path_limit_runs_eagerly(monkeypatch):
    """A call no traced path accepts, once the path limit is reached, gets the eager Jacobian (by rows)."""
    monkeypatch.setenv("TRACEGRAD_PATH_LIMIT", "1")
    jac = tg.jacobian(lambda x: x ** 2 if x.sum() > 0 else x ** 3)
    up, down = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    np.testing.assert_allclose(jac(up), np.diag(2 * up))
    with pytest.warns(RuntimeWarning, match="falls back to eager mode"):
        got = jac(down)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, np.diag(3 * down ** 2))
    np.testing.assert_allclose(jac(up), np.diag(2 * up))


def test_jacobian_of_a_custom_function():
    jac = tg.jacobian(lambda x: Cube.apply(x) * 2.0)
    hess = tg.hessian(lambda x: Cube.apply(x).sum())
    for x in (np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])):
        np.testing.assert_allclose(jac(x), np.diag(6 * x ** 2), rtol=1e-13)
        np.testing.assert_allclose(hess(x), np.diag(6 * x), rtol=1e-13)


class _TwiceWithOddBackward(tg.autograd.Function):
    """2x whose backward calls another custom Function on the cotangent: the Jacobian batches that call."""

    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        return Cube.apply(g) * 2.0 + g * 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_batches_a_custom_function_applied_to_the_cotangent(backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    jac = tg.jacobian(lambda x: _TwiceWithOddBackward.apply(x) * x)
    for x in (np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, -1.5])):
        got = jac(x)
        # Row i is the vjp of e_i: the custom backward sees e_i x, whose cube is x_i^3 e_i.
        np.testing.assert_allclose(got, np.diag(2 * x ** 3 + 0.5 * x + 2 * x), rtol=1e-13)
        on_tape = jac(tg.tensor(x, requires_grad=True))  # one vjp per row, on the eager tape
        np.testing.assert_allclose(got, on_tape.detach().numpy(), rtol=1e-13)
    compiled = jac.graphs(x)["compiled"]
    assert [n.op for n in compiled.nodes].count("custom_vjp") == 2  # the forward's and one for all rows


def test_jacobian_of_a_non_array_output_is_a_type_error():
    with pytest.raises(TypeError, match="jacobian requires the function to return arrays or tensors"):
        tg.jacobian(lambda x: (x * 2.0, 3))(np.ones(2))


def test_hessian_is_not_the_jacobian_of_the_same_function():
    """jacobian(f) and hessian(f) are cached on f; the Hessian's inner grad must not find the Jacobian's entry."""
    def f(x):
        return (x ** 3).sum()
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(tg.jacobian(f)(x), 3 * x ** 2)
    np.testing.assert_allclose(tg.hessian(f)(x), np.diag(6 * x))
    np.testing.assert_allclose(tg.jacobian(f)(x), 3 * x ** 2)


def test_transposes_of_transposes_become_one():
    """The matmul rule transposes an operand the vjp rule already transposed; the simplifier composes the two."""
    from tracegrad.compiler.passes import optimize
    b = GraphBuilder(Graph())
    x = b.input(TensorType(np.dtype(np.float64), (2, 3, 4)))
    once = b.transpose(b.transpose(x, perm=(1, 2, 0)), perm=(0, 2, 1))
    back = b.transpose(b.transpose(x, perm=(2, 0, 1)), perm=(1, 2, 0))
    b.graph.outputs = [once, back]
    opt = optimize(b.graph, verify)
    assert [n.op for n in opt.nodes] == ["transpose"] and opt.outputs[1] is x
    data = np.arange(24.0).reshape(2, 3, 4)
    got = interpret(opt, [data])
    np.testing.assert_array_equal(got[0], data.transpose(1, 2, 0).transpose(0, 2, 1))
    np.testing.assert_array_equal(got[1], data)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
def test_repeated_calls_return_what_the_first_call_returned(argnums):
    """The first call builds the result the general way, later ones by a direct route: same structure and values."""
    def expected(x, y):
        per_arg = [((np.diag(y), np.diag(x)), (2 * x, np.zeros(3)), (np.zeros((2, 3)), 3 * np.eye(3)[:2])),
                   ((np.diag(np.cos(x) * y), np.diag(np.sin(x))),)]
        pick = (lambda pair: pair[argnums]) if isinstance(argnums, int) else \
            (lambda pair: tuple(pair[a] for a in argnums))
        return tuple(pick(p) for p in per_arg[0]), pick(per_arg[1][0])

    def check(got, want, kind):
        if isinstance(want, tuple):
            assert isinstance(got, tuple) and len(got) == len(want)
            for g, w in zip(got, want):
                check(g, w, kind)
            return
        assert isinstance(got, kind)
        np.testing.assert_allclose(np.asarray(got._data if isinstance(got, tg.Tensor) else got), want, rtol=1e-13)
    several = tg.jacobian(lambda x, y: (x * y, (x * x).sum(), y[:2] * 3.0), argnums=argnums)
    single = tg.jacobian(lambda x, y: tg.sin(x) * y, argnums=argnums)
    rng = _rng("repeat", argnums)
    for wrap, kind in ((np.asarray, np.ndarray), (tg.tensor, tg.Tensor)):
        for _ in range(3):
            x, y = rng.normal(size=3), rng.normal(size=3)
            want_several, want_single = expected(x, y)
            check(several(wrap(x), wrap(y)), want_several, kind)
            check(single(wrap(x), wrap(y)), want_single, kind)
