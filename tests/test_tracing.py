"""Tracing Python functions into IR graphs, and the graph-to-graph machinery behind the transforms.

``tg.trace`` graphs make broadcasting, promotion, constants and detaching
explicit; Python reads of traced values become guards; every traced, joint,
partitioned and optimised graph verifies, prints and parses back
identically, and computes what the original computes.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import tracegrad as tg
from tracegrad._tensor import Tensor
from tracegrad._transforms import CompiledFunction
from tracegrad.compiler import passes
from tracegrad.compiler.adjoint import adjoint
from tracegrad.compiler.partition import partition
from tracegrad.ir import GUARD, GuardFailure, interpret, parse, verify


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _ops(graph) -> list[str]:
    return [n.op for n in graph.nodes]


def _nodes(graph, op):
    return [n for n in graph.nodes if n.op == op]


def _close(a, b, rtol=1e-12, atol=1e-14, msg=""):
    a = a._data if isinstance(a, Tensor) else np.asarray(a)
    b = b._data if isinstance(b, Tensor) else np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{msg}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


# --------------------------------------------------------------------------
# Programs used throughout: the seed network, an MLP, the while loop, ...
# --------------------------------------------------------------------------

def seed_network(w, b):
    x = tg.ones(5, dtype=w.dtype)
    y = tg.zeros(3, dtype=w.dtype)
    z = tg.matmul(x, w) + b
    return tg.nn.functional.binary_cross_entropy_with_logits(z, y)


_MLP_DATA = _rng("mlp data")
MLP_X = tg.tensor(_MLP_DATA.normal(size=(6, 3)))
MLP_Y = tg.tensor(_MLP_DATA.normal(size=(6, 2)))


def mlp(W1, b1, W2):
    h = tg.tanh(MLP_X @ W1 + b1)
    out = h @ W2
    return ((out - MLP_Y) ** 2).mean()


def while_loop(x, v):
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    return (y * v).sum()


def branchy(x):
    if x.sum() > 0:
        return (tg.sin(x) * x).sum()
    return (tg.exp(x) * 3.0).sum()


def softmax_ce(logits, target):
    return tg.nn.functional.cross_entropy(logits, target)


def _program_args():
    rng = _rng("programs")
    return {
        "seed_network": (seed_network, (rng.normal(size=(5, 3)), rng.normal(size=3))),
        "mlp": (mlp, (rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2)))),
        "while_loop": (while_loop, (rng.normal(size=3), rng.normal(size=3))),
        "branchy_pos": (branchy, (np.abs(rng.normal(size=4)),)),
        "branchy_neg": (branchy, (-np.abs(rng.normal(size=4)),)),
        "softmax_ce": (softmax_ce, (rng.normal(size=(4, 3)), np.array([0, 2, 1, 2]))),
        "float32_mix": (lambda a, b: (tg.sigmoid(a) * b + 1).sum(),
                        (rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=3))),
    }


PROGRAMS = _program_args()


def _float_argnums(args):
    return tuple(i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f")


# --------------------------------------------------------------------------
# What traced graphs contain
# --------------------------------------------------------------------------

def test_broadcasting_is_an_explicit_broadcast_node():
    g = tg.make_ir(lambda x, y: x + y, np.ones((3, 4)), np.ones(4))
    assert _ops(g) == ["broadcast", "add"]
    bc = g.nodes[0]
    assert bc.inputs[0] is g.inputs[1] and bc.attrs["shape"] == (3, 4)
    assert bc.outputs[0].shape == (3, 4)
    assert g.nodes[1].inputs == [g.inputs[0], bc.outputs[0]]
    verify(g)
    # Both sides broadcast: (2, 1) + (3,) -> (2, 3).
    g = tg.make_ir(lambda x, y: x * y, np.ones((2, 1)), np.ones(3))
    assert [n.attrs.get("shape") for n in _nodes(g, "broadcast")] == [(2, 3), (2, 3)]
    assert g.outputs[0].shape == (2, 3)
    # Equal shapes: nothing to broadcast.
    assert _ops(tg.make_ir(lambda x, y: x - y, np.ones(3), np.ones(3))) == ["sub"]


def test_promotion_is_an_explicit_cast_node():
    g = tg.make_ir(lambda x, y: x + y, np.ones(3, np.float32), np.ones(3))
    assert _ops(g) == ["cast", "add"]
    assert g.nodes[0].attrs["dtype"] == "f64" and g.nodes[0].inputs[0] is g.inputs[0]
    assert g.outputs[0].dtype == np.float64
    g = tg.make_ir(lambda i, y: i * y, np.arange(3), np.ones(3, np.float32))
    assert _ops(g) == ["cast", "mul"] and g.nodes[0].attrs["dtype"] == "f32"
    assert g.outputs[0].dtype == np.float32
    # Python scalars are weak: no cast, a constant of the tensor's dtype.
    g = tg.make_ir(lambda x: x * 2.5, np.ones(3, np.float32))
    assert "cast" not in _ops(g)
    (mul,) = _nodes(g, "mul")
    assert all(v.dtype == np.float32 for v in mul.inputs)
    verify(g)


def test_closed_over_tensors_and_python_scalars_are_constants():
    c = tg.tensor([1.0, 2.0, 3.0, 4.0], dtype=tg.float64)
    g = tg.make_ir(lambda x: x * c + 2.0, np.ones((3, 4)))
    assert len(g.inputs) == 1
    consts = [v for n in g.nodes for v in n.inputs if v.const is not None]
    assert any(v.shape == (4,) and np.array_equal(v.const, [1.0, 2.0, 3.0, 4.0]) for v in consts)
    assert any(v.shape == () and v.const == 2.0 and v.dtype == np.float64 for v in consts)
    assert "2.0:f64" in str(g) and "{1.0, 2.0, 3.0, 4.0}" in str(g)
    # Tensors created inside the function are constants too, and so is arithmetic on them alone.
    g = tg.make_ir(lambda x: x + tg.ones(3, dtype=tg.float64) * 4.0, np.zeros(3))
    assert _ops(g) == ["add"]
    assert np.array_equal(g.nodes[0].inputs[1].const, [4.0, 4.0, 4.0])
    # The constant keeps the value it had when traced.
    out = interpret(g, [np.array([1.0, 2.0, 3.0])])[0]
    np.testing.assert_array_equal(out, [5.0, 6.0, 7.0])


def _detach_programs():
    return {
        "detach": lambda x: (x.detach() * x).sum(),
        "data": lambda x: (x.data * x).sum(),
        "no_grad": lambda x: _no_grad_times(x),
    }


def _no_grad_times(x):
    with tg.no_grad():
        s = x * 1.0
    return (s * x).sum()


@pytest.mark.parametrize("kind", ["detach", "data", "no_grad"])
def test_detach_nodes_and_zero_gradient_through_them(kind):
    f = _detach_programs()[kind]
    x = np.array([0.5, -1.0, 2.0])
    g = tg.make_ir(f, x)
    detaches = _nodes(g, "detach")
    assert detaches, str(g)
    verify(g)
    # d/dx sum(stop(x) * x) = stop(x): the detached factor gets no gradient.
    _close(tg.grad(f)(x), x, rtol=0, atol=0, msg=kind)
    # Nothing but the detached path: zero gradient.
    only = {"detach": lambda x: (x.detach() * 3.0).sum(),
            "data": lambda x: (x.data * 3.0).sum(),
            "no_grad": lambda x: _no_grad_sum(x)}[kind]
    _close(tg.grad(only)(x), np.zeros(3), rtol=0, atol=0, msg=kind)
    # Same as eager.
    xt = tg.tensor(x, requires_grad=True)
    f(xt).backward()
    _close(tg.grad(f)(x), xt.grad, rtol=0, atol=0)


def _no_grad_sum(x):
    with tg.no_grad():
        y = (x * 3.0).sum()
    return y + 0.0 * 0.0


def test_detach_inside_joint_graph_stops_the_adjoint():
    f = tg.grad(lambda x: (tg.sin(x.detach()) * tg.exp(x)).sum())
    x = np.array([0.1, 0.7])
    _close(f(x), np.sin(x) * np.exp(x))
    joint = f.graphs(x)["compiled"]
    verify(joint)
    assert "cos" not in _ops(joint)  # sin is behind the detach: never differentiated


# --------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------

def _guards(graph):
    return [n for n in graph.nodes if n.op == GUARD]


@pytest.mark.parametrize("read, expected", [
    (lambda x: bool(x.sum() > 0), True),
    (lambda x: float(x.sum()), 6.0),
    (lambda x: x.sum().item(), 6.0),
    (lambda x: x.tolist(), [1.0, 2.0, 3.0]),
    (lambda x: x.numpy().tolist(), [1.0, 2.0, 3.0]),
    (lambda x: int(x.argmax()), 2),
], ids=["bool", "float", "item", "tolist", "numpy", "int"])
def test_python_reads_are_guarded(read, expected):
    seen = []

    def f(x):
        seen.append(read(x))
        return (x * 2.0).sum()
    x = np.array([1.0, 2.0, 3.0])
    g = tg.make_ir(f, x)
    assert seen == [expected]
    guards = _guards(g)
    assert len(guards) == 1, str(g)
    assert guards[0].attrs["expected"] == expected
    assert "guard " in str(g)
    verify(g)
    # The guard holds on the traced input and fails on one that reads differently.
    interpret(g, [x])
    with pytest.raises(GuardFailure):
        interpret(g, [np.array([-4.0, 5.0, -3.0])])
    # A compiled function re-traces when the guard fails.
    jf = tg.jit(f)
    jf(x)
    jf(x)
    assert jf.cache_info() == (1, 1, 1)
    np.testing.assert_array_equal(jf(np.array([-4.0, 5.0, -3.0])), -4.0)
    assert jf.cache_info() == (2, 1, 2)


def test_reads_of_constants_need_no_guard():
    c = tg.tensor([1.0, 2.0])

    def f(x):
        if c.sum() > 0:  # a closed-over tensor: fixed, nothing to check
            return x * 2.0
        return x
    g = tg.make_ir(f, np.ones(2))
    assert not _guards(g)


def test_branches_give_two_traces_each_reused():
    for make in (tg.jit, tg.grad):
        f = make(branchy)
        pos = np.array([0.5, 1.0, -0.2])
        neg = np.array([-0.5, -1.0, 0.2])
        sequence = [pos, neg, pos * 2, neg * 3, pos, neg]
        for i, x in enumerate(sequence):
            out = f(x)
            if make is tg.jit:
                expected = np.sum(np.sin(x) * x) if x.sum() > 0 else np.sum(np.exp(x) * 3.0)
            else:
                expected = np.cos(x) * x + np.sin(x) if x.sum() > 0 else 3.0 * np.exp(x)
            _close(out, expected, msg=f"{make.__name__} call {i}")
        assert f.cache_info() == (2, 4, 2), (make.__name__, f.cache_info())
        # Each trace holds the guard for its own branch.
        for x, taken in ((pos, True), (neg, False)):
            g = f.graphs(x)["forward"]
            (guard,) = _guards(g)
            assert guard.attrs["expected"] is taken
        assert f.cache_info().traces == 2


def test_while_loop_guards_one_per_test():
    x = np.array([1.0, 2.0, 2.0])  # |2x| = 6: doublings until >= 1000
    g = tg.make_ir(while_loop, x, np.ones(3))
    guards = _guards(g)
    y, k = x * 2, 1
    while np.linalg.norm(y) < 1000:
        y, k = y * 2, k + 1
    assert len(guards) == k  # k - 1 tests passed, one failed
    assert [gd.attrs["expected"] for gd in guards] == [True] * (k - 1) + [False]
    assert len(_nodes(g, "detach")) == k  # y.data, each time
    verify(g)


# --------------------------------------------------------------------------
# verify, printing and parsing, on traced, joint and optimised graphs
# --------------------------------------------------------------------------

def _all_graphs(name):
    """(label, graph, inputs) for every graph the transforms build for one program."""
    fun, args = PROGRAMS[name]
    argnums = _float_argnums(args)
    out = []
    traced = tg.make_ir(fun, *args)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    out.append(("traced", traced, arrays))
    for mode in ("grad", "value_and_grad", "jit", "vjp"):
        t = CompiledFunction(fun, mode, argnums=argnums)
        for kind, graph in t.graphs(*args).items():
            out.append((f"{mode}.{kind}", graph, None))
    joint, _ = adjoint(traced, list(argnums), seed="ones", seed_outputs=[0])
    out.append(("joint (unoptimised)", joint, arrays))
    joint_v, cts = adjoint(traced, list(argnums), seed="inputs")
    out.append(("vjp joint (unoptimised)", joint_v, None))
    out.append(("optimised", passes.optimize(joint), arrays))
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_graph_verifies(name):
    for label, graph, _ in _all_graphs(name):
        try:
            verify(graph)
        except Exception as e:  # pragma: no cover - the message is the point
            pytest.fail(f"{name} {label}: {e}\n{graph}")


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_print_parse_round_trip(name):
    for label, graph, _ in _all_graphs(name):
        text = str(graph)
        back = parse(text)
        assert str(back) == text, f"{name} {label}"
        assert back.fingerprint() == graph.fingerprint(), f"{name} {label}"
        verify(back)
        assert parse(str(back)).fingerprint() == graph.fingerprint()


def test_round_trip_keeps_small_constants_and_runs():
    fun, args = PROGRAMS["while_loop"]
    g = tg.make_ir(fun, *args)
    back = parse(str(g))
    # No large constants here: the parsed graph computes the same thing.
    _close(interpret(back, list(args))[0], interpret(g, list(args))[0], rtol=0, atol=0)
    # The location comments survive.
    assert [n.loc[1] if n.loc else None for n in back.nodes] == [n.loc[1] if n.loc else None for n in g.nodes]


def test_fingerprint_ignores_data_but_sees_structure():
    a = tg.make_ir(seed_network, np.ones((5, 3)), np.ones(3))
    b = tg.make_ir(seed_network, np.zeros((5, 3)), np.zeros(3))
    assert a.fingerprint() == b.fingerprint()
    c = tg.make_ir(seed_network, np.ones((5, 3), np.float32), np.ones(3, np.float32))
    assert a.fingerprint() != c.fingerprint()
    fun, args = PROGRAMS["while_loop"]
    assert tg.make_ir(fun, args[0], args[1]).fingerprint() != tg.make_ir(fun, args[0] * 10, args[1]).fingerprint()


# --------------------------------------------------------------------------
# Passes
# --------------------------------------------------------------------------

def redundant(x, y):
    a = tg.sin(x) * 1.0          # x * 1: simplify
    b = tg.sin(x) * 1.0          # the same again: cse
    unused = tg.exp(y) * 5.0     # nothing reads it: dce  # noqa: F841
    c = a + b + 0.0              # + 0: simplify
    d = -(-(c * y))              # --v: simplify  # noqa: B002
    return (d.reshape(2, 3).reshape(6) + x).sum()


def _pass_cases():
    cases = []
    rng = _rng("passes")
    x, y = rng.normal(size=6), rng.normal(size=6)
    g = tg.make_ir(redundant, x, y)
    cases.append(("redundant", g, [x, y]))
    joint, _ = adjoint(g, [0, 1])
    cases.append(("redundant joint", joint, [x, y]))
    for name in ("seed_network", "mlp", "while_loop", "softmax_ce", "float32_mix"):
        fun, args = PROGRAMS[name]
        t = tg.make_ir(fun, *args)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        cases.append((name, t, arrays))
        joint, _ = adjoint(t, list(_float_argnums(args)))
        cases.append((f"{name} joint", joint, arrays))
    return cases


PASSES = {"dce": passes.dce, "cse": passes.cse, "fold_constants": passes.fold_constants,
          "simplify": passes.simplify, "optimize": passes.optimize}


@pytest.mark.parametrize("pass_name", sorted(PASSES))
def test_passes_keep_graphs_valid_and_results_unchanged(pass_name):
    p = PASSES[pass_name]
    for label, graph, inputs in _pass_cases():
        before = str(graph)
        expected = interpret(graph, inputs)
        out = p(graph)
        verify(out)
        assert str(graph) == before, f"{pass_name} changed its input graph ({label})"
        assert len(out.nodes) <= len(graph.nodes), label
        assert len(_guards(out)) == len(_guards(graph)), f"{pass_name} dropped a guard ({label})"
        got = interpret(out, inputs)
        assert len(got) == len(expected)
        for k, (a, b) in enumerate(zip(got, expected)):
            _close(a, b, rtol=1e-13, atol=1e-15, msg=f"{pass_name} {label} output {k}")
        # Passes compose: applying them again keeps everything valid.
        again = p(out)
        verify(again)
        for a, b in zip(interpret(again, inputs), expected):
            _close(a, b, rtol=1e-13, atol=1e-15)


def test_passes_do_their_job():
    x, y = np.linspace(-1, 1, 6), np.linspace(0.5, 2, 6)
    g = tg.make_ir(redundant, x, y)
    n = len(g.nodes)
    assert _ops(g).count("sin") == 2
    assert _ops(passes.cse(g)).count("sin") == 1
    assert len(passes.cse(g).nodes) < n
    assert "exp" in _ops(g) and "exp" not in _ops(passes.dce(g))  # traced, never read
    s = passes.simplify(g)
    assert _ops(s).count("neg") < _ops(g).count("neg") or len(passes.dce(s).nodes) < n
    opt = passes.optimize(g)
    verify(opt)
    assert len(opt.nodes) < n
    assert _ops(opt).count("sin") == 1 and "neg" not in _ops(opt)
    assert _ops(opt).count("reshape") == 0  # reshape(reshape(v, (2,3)), (6,)) of a (6,) value is v
    # Constants fold.
    from tracegrad.ir import GraphBuilder, TensorType, const_value
    B = GraphBuilder()
    v = B.input(TensorType(np.dtype(np.float64), (3,)))
    k = B.exp(const_value(np.array([0.0, 1.0, 2.0])))
    B.graph.outputs = [B.add(v, k)]
    folded = passes.fold_constants(B.graph)
    assert _ops(folded) == ["add"]
    np.testing.assert_allclose(folded.nodes[0].inputs[1].const, np.exp([0.0, 1.0, 2.0]))
    verify(folded)


@pytest.mark.parametrize("fun, grad", [
    (lambda x: (-(-(x * 1.0))).sum(), lambda x: np.ones_like(x)),  # noqa: B002
    (lambda x: (x * 1.0).reshape(3, 1).reshape(3).sum(), lambda x: np.ones_like(x)),
    (lambda x: (-(-tg.sin(x + 0.0)) * x).sum(), lambda x: np.cos(x) * x + np.sin(x)),  # noqa: B002
], ids=["neg-neg", "reshape-reshape", "neg-neg-sin"])
def test_grad_of_programs_the_simplifier_rewrites(fun, grad):
    """User-level: identities the simplifier removes (x*1, --v, reshape of reshape) compile and run."""
    x = np.array([0.3, -1.2, 2.0])
    _close(tg.grad(fun)(x), grad(x))
    _close(tg.jit(fun)(x), np.asarray(fun(tg.tensor(x))._data))


def test_cse_reuses_commuted_products_and_sums_but_not_maximum():
    """a*b and b*a are one value bit for bit; maximum(0.0, -0.0) and maximum(-0.0, 0.0) are not."""
    from tracegrad.ir import GraphBuilder, TensorType
    b = GraphBuilder()
    x = b.input(TensorType(np.dtype(np.float64), (3,)))
    y = b.input(TensorType(np.dtype(np.float64), (3,)))
    b.graph.outputs = [b.mul(x, y), b.mul(y, x), b.add(y, x), b.add(x, y), b.maximum(x, y), b.maximum(y, x)]
    g = passes.cse(b.graph)
    verify(g)
    assert _ops(g) == ["mul", "add", "maximum", "maximum"]
    args = [np.array([0.0, -0.0, 2.5]), np.array([-0.0, 0.0, -1.0])]
    for got, want in zip(interpret(g, args), interpret(b.graph, args)):
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(got, want)


def test_adjoint_accumulates_a_negated_cotangent_as_a_subtraction():
    """x - y used twice: the cotangent of y is accumulated with sub, and no neg is left once optimised."""
    def f(x, y):
        d = x - y
        return (d * d + tg.sin(y)).sum()
    x, y = np.array([0.3, -1.2]), np.array([1.5, 0.25])
    joint = passes.optimize(adjoint(tg.make_ir(f, x, y), [0, 1])[0], verify)
    assert "neg" not in _ops(joint)
    gx, gy = tg.grad(f, argnums=(0, 1))(x, y)
    _close(gx, 2 * (x - y))
    _close(gy, -2 * (x - y) + np.cos(y))


# --------------------------------------------------------------------------
# Partition of a vjp joint graph
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["seed_network", "mlp", "while_loop", "softmax_ce", "float32_mix", "branchy_neg"])
@pytest.mark.parametrize("optimised", [False, True], ids=["raw", "optimised"])
def test_partition_forward_then_adjoint_equals_joint(name, optimised):
    fun, args = PROGRAMS[name]
    g = tg.make_ir(fun, *args)
    wrt = list(_float_argnums(args))
    joint, cts = adjoint(g, wrt, seed="inputs")
    if optimised:
        joint = passes.optimize(joint, verify)
    verify(joint)
    assert len(cts) == len(g.outputs)
    primals = [a for a in args if isinstance(a, np.ndarray)]
    rng = _rng("partition", name)
    cot = [rng.normal(size=v.shape).astype(v.dtype) for v in g.outputs]
    merged, it_p, it_c = [], iter(primals), iter(cot)
    for i in range(len(joint.inputs)):
        merged.append(next(it_c) if i in cts else next(it_p))
    expected = interpret(joint, merged)

    part = partition(joint, len(g.outputs), cts)
    verify(part.forward)
    verify(part.adjoint)
    assert part.n_outputs == len(g.outputs)
    assert len(part.forward.outputs) == part.n_outputs + part.n_residuals
    assert not _guards(part.adjoint)
    assert len(part.adjoint.inputs) == part.n_residuals + len(cts)
    fwd = interpret(part.forward, primals)
    outs, residuals = fwd[:part.n_outputs], fwd[part.n_outputs:]
    grads = interpret(part.adjoint, list(residuals) + cot)
    assert len(outs) + len(grads) == len(expected)
    for k, (a, b) in enumerate(zip(list(outs) + list(grads), expected)):
        _close(a, b, rtol=0, atol=0, msg=f"{name} output {k}")

    # And the gradients are right: against eager backward with the same cotangent.
    leaves = [tg.tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
              else tg.tensor(a) for i, a in enumerate(args)]
    out = fun(*leaves)
    (out * tg.tensor(cot[0])).sum().backward()
    for k, i in enumerate(wrt):
        _close(grads[k], leaves[i].grad, rtol=1e-12, atol=1e-14, msg=f"{name} gradient of input {i}")


# --------------------------------------------------------------------------
# Mutation through aliases while tracing
# --------------------------------------------------------------------------

def _mutate_data(x):
    y = x * 1.0
    y.data.mul_(2)        # y is now 2x; its graph still says x
    return (y * x).sum()


def _mutate_detached(x):
    y = x * 1.0
    y.detach().mul_(2)    # the detached tensor shares y's storage
    return (y * x).sum()


def _mutate_reshape_view(x):
    y = x * 1.0
    z = y.reshape(3, 1)
    z += 1.0              # y is now x + 1, and differentiably so
    return (y * x).sum()


@pytest.mark.parametrize("fun, value, grad", [
    # PyTorch: value sum(2x * x); gradient: 2x (the saved, mutated y) + x (through y = x * 1).
    (_mutate_data, lambda x: np.sum(2 * x * x), lambda x: 3 * x),
    (_mutate_detached, lambda x: np.sum(2 * x * x), lambda x: 3 * x),
    # y = x + 1 through the view: d/dx sum((x + 1) x) = 2x + 1.
    (_mutate_reshape_view, lambda x: np.sum((x + 1) * x), lambda x: 2 * x + 1),
], ids=["data", "detach", "reshape-view"])
def test_in_place_updates_through_aliases_are_traced(fun, value, grad):
    x = np.array([1.0, 2.0, 3.0])
    # Eager agrees with the closed forms.
    xt = tg.tensor(x, requires_grad=True)
    out = fun(xt)
    out.backward()
    assert out.item() == pytest.approx(value(x))
    _close(xt.grad, grad(x))
    # The compiled function must too: the trace has to see the write through the alias.
    v, g = tg.value_and_grad(fun)(x)
    assert float(v) == pytest.approx(value(x)), tg.dump_ir(fun, x)
    _close(g, grad(x), msg="gradient")
    np.testing.assert_allclose(tg.jit(fun)(x * 2), value(x * 2))
